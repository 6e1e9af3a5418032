/*
 * Concierge chat widget: embeddable, framework-free, no build step.
 *
 *   <script src="https://SERVER/static/chatbot/widget.js" data-shop="Demo Shop" async></script>
 *
 * The websocket protocol it speaks is documented in docs/protocol.md.
 *
 * Delivery contract ("nothing lost"): every customer message and postback is kept in
 * localStorage (the outbox) under its client_msg_id until the server acks it, and is
 * re-sent after every reconnect; the server deduplicates by client_msg_id, so a re-send
 * is always safe. Messages are rendered keyed by their server seq, exactly once, in
 * seq order. History is never cached: every page load resyncs from seq 0, so the
 * server stays the single source of truth.
 *
 * Security: server-supplied text only ever reaches the DOM through textContent /
 * text nodes; links must be http(s); images must be http(s) or relative to SERVER.
 */
(() => {
  "use strict";

  // Must be read synchronously: currentScript is null once this script has run.
  const SCRIPT =
    document.currentScript ||
    document.querySelector('script[src*="chatbot/widget.js"]');

  const existing = window.Concierge;
  if (existing && existing.version) return; // embedded twice: keep the first one
  // A page may call Concierge before this async script arrives by installing a stub
  // that records calls in `q` (see docs/protocol.md); they are replayed once mounted.
  const earlyCalls = existing && Array.isArray(existing.q) ? existing.q : [];

  const VERSION = "1";
  const MAX_TEXT_CHARS = 4000; // server limit, counted in code points like Python's len()
  const MAX_COMMENT_CHARS = 1000;
  const TYPING_SEND_INTERVAL_MS = 2000;
  const TYPING_SHOW_MS = 5000;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const RESEND_BASE_MS = 10000; // an unacked message on a live socket is re-sent...
  const RESEND_MAX_MS = 60000; // ...with doubling up to this
  const GAP_GRACE_MS = 1000; // out-of-order frames usually fill the gap by themselves
  const GAP_RETRY_MS = 5000;
  const GAP_MAX_RESYNCS = 5;
  const DEFAULT_THROTTLE_S = 2;
  const MAX_QUEUED_FRAMES = 100;
  const DEFAULT_COLOR = "#2563eb";
  const EVENT_KINDS = new Set(["view", "chat_click", "add_to_cart"]);
  const SENDERS = new Set(["customer", "bot", "agent", "system"]);

  const S = {
    launcherOpen: (shop) => `Open chat with ${shop}`,
    launcherClose: (shop) => `Close chat with ${shop}`,
    unread: (n) => (n === 1 ? "1 unread message" : `${n} unread messages`),
    dialog: (shop) => `Chat with ${shop}`,
    close: "Close chat",
    inputLabel: "Type your message",
    placeholder: "Type your message…",
    send: "Send message",
    log: "Conversation",
    bot: "Assistant",
    agent: "Agent",
    sending: "Sending…",
    reconnecting: "Reconnecting…",
    typing: { bot: "Bot is typing…", agent: "Agent is typing…" },
    status: {
      bot: "Chatting with our assistant",
      with_agent: "You're chatting with a person",
      resolved: "This conversation has been resolved",
    },
    waiting: (pos, waitS, agents) => {
      if (agents === 0) return "Our team is offline: we'll reply by email";
      const head = pos ? `You're #${pos} in line` : "Waiting for an agent";
      if (waitS == null) return head;
      return `${head}, about ${Math.max(1, Math.round(waitS / 60))} min`;
    },
    quickReplies: "Suggested replies",
    products: "Recommended products",
    viewProduct: (name) => `View ${name}`,
    view: "View",
    addToCart: "Add to cart",
    addToCartTitle: (name) => `Add ${name} to cart`,
    source: "Source: ",
    csatQuestion: "How did we do?",
    csatGroup: "Rate this conversation from 1 to 5 stars",
    csatStar: (n) => (n === 1 ? "1 star" : `${n} stars`),
    csatComment: "Anything you'd like to add? (optional)",
    csatSend: "Send feedback",
    csatThanks: "Thank you for your feedback!",
    newConversation: "New conversation",
    tooLong: `Your message is too long (at most ${MAX_TEXT_CHARS} characters).`,
    throttled: (s) => `You're sending messages too quickly. Retrying in ${s} s…`,
    unavailable: (s) => `We can't take messages right now. Retrying in ${s} s…`,
    notSent: "This message couldn't be sent: it contains characters we can't accept.",
    failed: "Not sent",
    resolvedRestart: "That conversation was closed, so we started a new one.",
    linkInvalid: "That link has expired, so we couldn't open the conversation it was for.",
    charCount: (n) => `${n} / ${MAX_TEXT_CHARS}`,
  };

  // ---------------------------------------------------------------- configuration

  /** The token of a `#concierge-resume=…` link, taken out of the address bar. */
  function takeResumeLink() {
    const match = /(?:^#|&)concierge-resume=([^&]+)/.exec(location.hash || "");
    if (!match) return null;
    try {
      history.replaceState(history.state, "", location.pathname + location.search);
    } catch {
      // a sandboxed frame may not rewrite its address: the link just stays
    }
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return null;
    }
  }

  function readConfig(el) {
    const ds = (el && el.dataset) || {};
    let scriptOrigin = location.origin;
    try {
      scriptOrigin = new URL(el.src, location.href).origin;
    } catch {
      // inline or missing script tag: fall back to the page's origin
    }
    const server = new URL(ds.server || scriptOrigin, location.href);
    if (server.protocol !== "http:" && server.protocol !== "https:") {
      throw new Error(`Concierge: data-server must be an http(s) URL, got ${ds.server}`);
    }
    // Keep a path prefix so the server may be mounted under a sub-path.
    const base = server.origin + server.pathname.replace(/\/+$/, "");
    const wsBase =
      (server.protocol === "https:" ? "wss://" : "ws://") +
      server.host +
      server.pathname.replace(/\/+$/, "") +
      "/ws/chat/";
    const color = ds.color && cssSupportsColor(ds.color) ? ds.color : DEFAULT_COLOR;
    return {
      base,
      serverOrigin: server.origin,
      wsBase,
      shop: (ds.shop || "").trim() || "Support",
      color,
      greeting: ds.greeting === undefined ? "Hi! How can we help?" : ds.greeting.trim(),
      position: ds.position === "left" ? "left" : "right",
    };
  }

  function cssSupportsColor(value) {
    try {
      return window.CSS && CSS.supports ? CSS.supports("color", value) : /^#[0-9a-f]{3,8}$/i.test(value);
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- utilities

  function makeStore(namespace) {
    // localStorage can be missing or throw (sandboxed iframes, some private modes,
    // quota); the widget then keeps state in memory for this page only.
    let ls = null;
    try {
      ls = window.localStorage;
      ls.setItem(namespace + "probe", "1");
      ls.removeItem(namespace + "probe");
    } catch {
      ls = null;
    }
    const mem = new Map();
    const store = {
      get(key) {
        if (ls) {
          try {
            return ls.getItem(namespace + key);
          } catch {
            /* fall through to memory */
          }
        }
        return mem.has(key) ? mem.get(key) : null;
      },
      set(key, value) {
        mem.set(key, value);
        if (ls) {
          try {
            ls.setItem(namespace + key, value);
          } catch {
            /* quota exceeded: the in-memory copy still serves this page */
          }
        }
      },
      remove(key) {
        mem.delete(key);
        if (ls) {
          try {
            ls.removeItem(namespace + key);
          } catch {
            /* ignore */
          }
        }
      },
      getJSON(key, fallback) {
        try {
          const raw = store.get(key);
          return raw == null ? fallback : JSON.parse(raw);
        } catch {
          return fallback;
        }
      },
      setJSON(key, value) {
        store.set(key, JSON.stringify(value));
      },
    };
    return store;
  }

  function uuid4() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID(); // secure contexts only
    const b = c.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  const codePoints = (s) => [...s].length;
  const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const str = (v) => (typeof v === "string" ? v : "");

  /** Builds an element. Strings among children become text nodes, never markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) if (child != null && child !== false) el.append(child);
    return el;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    send: "M3 11.5L21 3l-8.5 18-2-7.5z",
  };
  function icon(name) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    svg.classList.add("icon", `icon-${name}`);
    return svg;
  }

  /** A link target: absolute http(s), or relative to the page (the shop). */
  function safeLinkUrl(raw) {
    if (typeof raw !== "string" || !raw.trim()) return null;
    try {
      const u = new URL(raw.trim(), document.baseURI);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch {
      return null;
    }
  }

  /** An image source: absolute http(s), or a relative path on SERVER (its media). */
  function safeImageUrl(raw, config) {
    if (typeof raw !== "string" || !raw.trim()) return null;
    const value = raw.trim();
    try {
      if (/^https?:\/\//i.test(value)) return new URL(value).href;
      if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return null; // data:, javascript:, blob: ...
      const u = new URL(value, config.base + "/");
      // "//host/x" or "/\host/x" parse as relative yet leave the origin: refuse them.
      return u.origin === config.serverOrigin ? u.href : null;
    } catch {
      return null;
    }
  }

  function pageLocale() {
    const candidates = [document.documentElement.lang, navigator.language];
    for (const tag of candidates) {
      try {
        if (tag && Intl.NumberFormat.supportedLocalesOf([tag]).length) return tag;
      } catch {
        /* invalid tag */
      }
    }
    return undefined;
  }

  function formatPrice(price, currency) {
    const n = typeof price === "number" ? price : Number(price);
    if (price === null || price === "" || !Number.isFinite(n)) return str(price);
    const locale = pageLocale();
    if (typeof currency === "string" && /^[A-Za-z]{3}$/.test(currency)) {
      try {
        return new Intl.NumberFormat(locale, {
          style: "currency",
          currency: currency.toUpperCase(),
        }).format(n);
      } catch {
        /* unknown currency: fall through */
      }
    }
    const plain = new Intl.NumberFormat(locale, {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    }).format(n);
    return currency ? `${plain} ${str(currency)}` : plain;
  }

  function formatTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return null;
    try {
      return new Intl.DateTimeFormat(pageLocale(), { hour: "numeric", minute: "2-digit" }).format(d);
    } catch {
      return d.toLocaleTimeString();
    }
  }

  // ---------------------------------------------------------------- styles

  const CSS_TEXT = `
:host { all: initial; }
.cc {
  --cc-accent: ${DEFAULT_COLOR};
  --cc-on-accent: #fff;
  --cc-bg: #fff;
  --cc-fg: #111827;
  --cc-muted: #6b7280;
  --cc-border: #e5e7eb;
  --cc-bubble: #f3f4f6;
  --cc-focus: #1d4ed8;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--cc-fg);
  -webkit-font-smoothing: antialiased;
}
/* Resets sit inside :where() so that any component rule below overrides them. */
:where(.cc) *, :where(.cc) *::before, :where(.cc) *::after { box-sizing: border-box; }
.cc [hidden] { display: none !important; }
:where(.cc) :where(button, textarea, input) { font: inherit; color: inherit; }
:where(.cc) button { cursor: pointer; }
:where(.cc) :focus { outline: none; }
:where(.cc) :focus-visible { outline: 3px solid var(--cc-focus); outline-offset: 2px; }
.visually-hidden {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.icon { width: 24px; height: 24px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linecap: round; stroke-linejoin: round; }

.launcher {
  position: fixed; bottom: 20px; z-index: 2147483000;
  width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: var(--cc-accent); color: var(--cc-on-accent);
  display: flex; align-items: center; justify-content: center;
  box-shadow: 0 6px 20px rgba(0,0,0,.22);
}
.launcher:hover { filter: brightness(1.08); }
.launcher .icon-close { display: none; }
.cc[data-open] .launcher .icon-chat { display: none; }
.cc[data-open] .launcher .icon-close { display: block; }
.cc[data-position="right"] .launcher, .cc[data-position="right"] .panel { right: 20px; }
.cc[data-position="left"] .launcher, .cc[data-position="left"] .panel { left: 20px; }
.badge {
  position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px; padding: 0 6px;
  border-radius: 10px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 600;
  line-height: 20px; text-align: center;
}

.panel {
  position: fixed; bottom: 88px; z-index: 2147483000;
  width: 370px; height: min(600px, calc(100vh - 110px));
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--cc-bg); border-radius: 14px;
  box-shadow: 0 12px 40px rgba(0,0,0,.25); border: 1px solid var(--cc-border);
  animation: cc-in .16s ease-out;
}
@keyframes cc-in { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }
@media (prefers-reduced-motion: reduce) { .panel { animation: none; } }

.header {
  display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px;
  background: var(--cc-accent); color: var(--cc-on-accent);
}
.header .titles { flex: 1; min-width: 0; }
.header h2 { margin: 0; font-size: 16px; font-weight: 600; line-height: 1.3;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.status { font-size: 12px; opacity: .92; min-height: 1em; }
.icon-button {
  width: 36px; height: 36px; border: 0; border-radius: 8px; background: transparent;
  color: inherit; display: flex; align-items: center; justify-content: center; flex: none;
}
.icon-button:hover { background: rgba(127,127,127,.2); }
.header :focus-visible { outline: 3px solid currentColor; outline-offset: 0; }

.connection, .notice {
  padding: 6px 12px; font-size: 12px; text-align: center;
  background: #fef3c7; color: #78350f; border-bottom: 1px solid #fde68a;
}
.notice { background: #fee2e2; color: #7f1d1d; border-color: #fecaca; }

.log { flex: 1; overflow-y: auto; padding: 12px; overscroll-behavior: contain; }
.row { display: flex; flex-direction: column; align-items: flex-start; margin: 0 0 10px; }
.row-customer { align-items: flex-end; }
.row-system { align-items: center; }
.who { font-size: 11px; color: var(--cc-muted); margin: 0 0 2px 4px; }
.row-bot + .row-bot > .who, .row-agent + .row-agent > .who { display: none; }
.bubble {
  max-width: 85%; padding: 8px 12px; border-radius: 14px; background: var(--cc-bubble);
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
}
.bubble:empty { display: none; }
.row-customer .bubble { background: var(--cc-accent); color: var(--cc-on-accent); }
.row-system .bubble { background: transparent; color: var(--cc-muted); font-size: 12px;
  text-align: center; padding: 2px 8px; }
.row-pending .bubble { opacity: .65; }
.meta { font-size: 11px; color: var(--cc-muted); margin: 2px 4px 0; }
.redacted { font-size: 11px; color: var(--cc-muted); margin: 2px 4px 0; font-style: italic; }
.greeting { margin-bottom: 12px; }
.divider { display: flex; align-items: center; gap: 8px; color: var(--cc-muted);
  font-size: 11px; margin: 12px 0; }
.divider::before, .divider::after { content: ""; flex: 1; border-top: 1px solid var(--cc-border); }

.source { margin: 4px 4px 0; font-size: 12px; color: var(--cc-muted); }
.source a { color: var(--cc-focus); }

.quick-replies { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; max-width: 100%; }
.quick-reply {
  border: 1px solid var(--cc-accent); color: var(--cc-accent); background: var(--cc-bg);
  border-radius: 16px; padding: 5px 12px; max-width: 100%;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.quick-reply:hover { background: var(--cc-bubble); }

.cards { display: flex; gap: 8px; overflow-x: auto; margin: 6px 0 0; padding: 2px 2px 6px;
  list-style: none; max-width: 100%; }
.card {
  flex: 0 0 200px; border: 1px solid var(--cc-border); border-radius: 10px; overflow: hidden;
  background: var(--cc-bg); display: flex; flex-direction: column;
}
.card img { width: 100%; height: 120px; object-fit: cover; background: var(--cc-bubble); display: block; }
.card-body { padding: 8px 10px 10px; display: flex; flex-direction: column; gap: 4px; flex: 1; }
.card-name { font-weight: 600; margin: 0; font-size: 14px; }
.card-price { font-weight: 600; }
.card-reason { font-size: 12px; color: var(--cc-muted); }
.card-actions { display: flex; gap: 6px; margin-top: auto; padding-top: 6px; align-items: center; }
.card-actions a { color: var(--cc-focus); font-size: 13px; }
.add-to-cart {
  margin-left: auto; border: 0; border-radius: 8px; padding: 6px 10px;
  background: var(--cc-accent); color: var(--cc-on-accent); font-size: 13px;
}

.typing { padding: 0 14px 6px; font-size: 12px; color: var(--cc-muted); font-style: italic; }

.csat { border-top: 1px solid var(--cc-border); padding: 10px 12px; }
.csat p { margin: 0 0 6px; font-weight: 600; }
.stars { display: flex; gap: 4px; margin-bottom: 8px; }
.star { border: 1px solid var(--cc-border); background: var(--cc-bg); border-radius: 8px;
  width: 40px; height: 36px; font-size: 20px; line-height: 1; color: #9ca3af; }
.star.on { color: #f59e0b; border-color: #f59e0b; }
.csat textarea { width: 100%; min-height: 52px; resize: vertical; border: 1px solid var(--cc-border);
  border-radius: 8px; padding: 6px 8px; margin-bottom: 8px; background: var(--cc-bg); }
.csat .primary { border: 0; border-radius: 8px; padding: 7px 14px; background: var(--cc-accent);
  color: var(--cc-on-accent); }
.csat .primary:disabled { opacity: .5; cursor: default; }
.csat label { display: block; font-size: 12px; color: var(--cc-muted); margin-bottom: 4px; }

.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px;
  border-top: 1px solid var(--cc-border); }
.composer textarea {
  flex: 1; resize: none; max-height: 120px; min-height: 40px; padding: 9px 12px;
  border: 1px solid var(--cc-border); border-radius: 10px; background: var(--cc-bg);
}
.composer textarea:focus-visible { outline-offset: 0; }
.send { width: 40px; height: 40px; border: 0; border-radius: 10px; flex: none;
  background: var(--cc-accent); color: var(--cc-on-accent);
  display: flex; align-items: center; justify-content: center; }
.send .icon { width: 20px; height: 20px; }
.counter { font-size: 11px; color: var(--cc-muted); text-align: right; padding: 0 14px 6px; }
.counter.over { color: #b91c1c; }

@media (max-width: 480px) {
  .panel, .cc[data-position] .panel {
    inset: 0; width: 100%; height: 100%; height: 100dvh; border-radius: 0; border: 0;
  }
  .cc[data-open] .launcher { display: none; }
}
`;

  function adoptStyles(root) {
    // A constructed stylesheet is not subject to the shop's CSP style-src, which an
    // inline <style> would be; fall back to <style> where it is unsupported.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS_TEXT);
      root.adoptedStyleSheets = [sheet];
    } catch {
      root.append(h("style", { text: CSS_TEXT }));
    }
  }

  // ---------------------------------------------------------------- the widget

  function createWidget(config) {
    const store = makeStore(`concierge:${config.base}:`);

    // Connection state.
    let started = false;
    let ws = null;
    let ready = false; // a `session` frame arrived on the current socket
    let everReady = false;
    let attempt = 0;
    let reconnectTimer = null;
    let reconnectNow = false;
    let token = store.get("token");
    let conversation = store.get("conversation");
    // A link from an emailed agent reply (#concierge-resume=…) reopens that
    // conversation here; the server checks it and sends its session back.
    let resume = takeResumeLink();

    // Delivery state.
    let outbox = store.getJSON("outbox", []).filter(
      (i) => isPlainObject(i) && typeof i.id === "string" && (i.kind === "message" || i.kind === "postback"),
    );
    const lastSentAt = new Map(); // client_msg_id -> [time, current resend delay]
    const frameQueue = []; // events and csat waiting for a session
    let throttledUntil = 0;
    let throttleTimer = null;
    let lastTypingSent = 0;

    // Rendering state, for the conversation shown in the current segment.
    let rows = new Map(); // seq -> { row, sender, provisional }
    let contiguous = 0; // every seq in 1..contiguous is shown
    let maxSeq = 0;
    let segmentConversation = null;
    let gapTimer = null;
    let gapResyncs = 0;
    const pendingRows = new Map(); // client_msg_id -> row
    let typingTimer = null;
    let noticeTimer = null;
    let currentStatus = null;

    // ------------------------------------------------------------ DOM

    const host = document.createElement("concierge-widget");
    host.style.setProperty("all", "initial", "important");
    host.style.setProperty("display", "block", "important");
    // Open, so that integrators' browser tests can reach inside (Playwright pierces it).
    const root = host.attachShadow({ mode: "open" });
    adoptStyles(root);

    const ids = { panel: "cc-panel", title: "cc-title", input: "cc-input" };

    const badge = h("span", { class: "badge", "data-testid": "concierge-unread", "aria-hidden": "true", hidden: true });
    const launcher = h(
      "button",
      {
        type: "button",
        class: "launcher",
        "data-testid": "concierge-launcher",
        "aria-label": S.launcherOpen(config.shop),
        "aria-expanded": "false",
        "aria-controls": ids.panel,
      },
      icon("chat"),
      icon("close"),
      badge,
    );

    const statusEl = h("div", { class: "status", "data-testid": "concierge-status", "aria-live": "polite" });
    const closeButton = h(
      "button",
      { type: "button", class: "icon-button", "aria-label": S.close, "data-testid": "concierge-close" },
      icon("close"),
    );
    const header = h(
      "div",
      { class: "header" },
      h("div", { class: "titles" }, h("h2", { id: ids.title, text: config.shop }), statusEl),
      closeButton,
    );
    const connectionEl = h("div", { class: "connection", role: "status", "data-testid": "concierge-connection", hidden: true });
    const noticeEl = h("div", { class: "notice", role: "alert", "data-testid": "concierge-notice", hidden: true });

    const log = h("div", {
      class: "log",
      role: "log",
      "aria-live": "polite",
      "aria-label": S.log,
      // Focusable so keyboard users can scroll a long history.
      tabindex: "0",
    });
    if (config.greeting) {
      log.append(
        h(
          "div",
          { class: "row row-bot greeting", "data-testid": "concierge-greeting" },
          h("div", { class: "who", text: config.shop }),
          h("div", { class: "bubble", text: config.greeting }),
        ),
      );
    }
    let segment = h("div", { class: "segment" });
    const pendingBox = h("div", { class: "pending" });
    log.append(segment, pendingBox);

    const typingEl = h("div", { class: "typing", "data-testid": "concierge-typing", "aria-live": "polite", hidden: true });
    const csatEl = h("div", { class: "csat", "data-testid": "concierge-csat", hidden: true });

    const input = h("textarea", {
      id: ids.input,
      rows: "1",
      "data-testid": "concierge-input",
      placeholder: S.placeholder,
      autocomplete: "off",
      enterkeyhint: "send",
    });
    const sendButton = h(
      "button",
      { type: "submit", class: "send", "data-testid": "concierge-send", "aria-label": S.send },
      icon("send"),
    );
    const counter = h("div", { class: "counter", "aria-live": "polite", hidden: true });
    const composer = h(
      "form",
      { class: "composer", novalidate: true },
      h("label", { class: "visually-hidden", for: ids.input, text: S.inputLabel }),
      input,
      sendButton,
    );

    const panel = h(
      "div",
      {
        id: ids.panel,
        class: "panel",
        role: "dialog",
        "aria-modal": "false",
        "aria-label": S.dialog(config.shop),
        "data-testid": "concierge-panel",
        hidden: true,
      },
      header,
      connectionEl,
      noticeEl,
      log,
      typingEl,
      csatEl,
      counter,
      composer,
    );
    // The panel precedes the launcher so that Tab runs through the open chat first.
    const shell = h("div", { class: "cc", "data-position": config.position }, panel, launcher);
    root.append(shell);

    function applyColor() {
      shell.style.setProperty("--cc-accent", config.color);
      // Pick readable text on the shop's colour from its computed luminance.
      const probe = h("span");
      probe.style.color = config.color;
      root.append(probe);
      const m = getComputedStyle(probe).color.match(/\d+(\.\d+)?/g);
      probe.remove();
      if (!m || m.length < 3) return;
      const [r, g, b] = m.slice(0, 3).map((v) => {
        const c = Number(v) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
      if (luminance > 0.45) {
        shell.style.setProperty("--cc-on-accent", "#111827");
        shell.style.setProperty("--cc-focus", "#111827");
      } else if (luminance < 0.2) {
        shell.style.setProperty("--cc-focus", config.color);
      }
    }

    // ------------------------------------------------------------ open / close

    let isOpen = false;

    function open({ focus = true } = {}) {
      ensureStarted();
      if (!isOpen) {
        isOpen = true;
        panel.hidden = false;
        shell.setAttribute("data-open", "");
        launcher.setAttribute("aria-expanded", "true");
        launcher.setAttribute("aria-label", S.launcherClose(config.shop));
        store.set("open", "1");
        markSeen();
        scrollToBottom();
      }
      if (focus) input.focus();
    }

    function close({ returnFocus } = {}) {
      if (!isOpen) return;
      const focusWasInside = root.activeElement != null;
      isOpen = false;
      panel.hidden = true;
      shell.removeAttribute("data-open");
      launcher.setAttribute("aria-expanded", "false");
      store.set("open", "0");
      updateUnread();
      // An API call must not steal focus from wherever the shop put it.
      if (returnFocus ?? focusWasInside) launcher.focus();
    }

    launcher.addEventListener("click", () => (isOpen ? close({ returnFocus: true }) : open()));
    closeButton.addEventListener("click", () => close({ returnFocus: true }));
    shell.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && isOpen) {
        e.stopPropagation();
        close({ returnFocus: true });
      }
    });

    // ------------------------------------------------------------ unread badge

    const seenKey = () => `seen:${segmentConversation}`;

    function markSeen() {
      if (segmentConversation && maxSeq) store.set(seenKey(), String(maxSeq));
      updateUnread();
    }

    function updateUnread() {
      let unread = 0;
      if (!isOpen && segmentConversation) {
        const seen = Number(store.get(seenKey()) || 0);
        for (const [seq, r] of rows) if (seq > seen && r.sender !== "customer") unread += 1;
      }
      badge.hidden = unread === 0;
      badge.textContent = unread > 99 ? "99+" : String(unread);
      launcher.setAttribute(
        "aria-label",
        isOpen
          ? S.launcherClose(config.shop)
          : S.launcherOpen(config.shop) + (unread ? ` (${S.unread(unread)})` : ""),
      );
    }

    // ------------------------------------------------------------ connection

    function ensureStarted() {
      if (started) return;
      started = true;
      connect();
    }

    function helloFrame() {
      return resume ? { type: "hello", token, conversation, resume } : { type: "hello", token, conversation };
    }

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;
      let sock;
      try {
        // The token goes in the first frame, never in the URL: servers log URLs.
        sock = new WebSocket(config.wsBase);
      } catch (err) {
        console.error("Concierge: cannot open websocket", err);
        onDisconnected();
        return;
      }
      ws = sock;
      ready = false;
      sock.addEventListener("open", () => {
        if (sock === ws) sock.send(JSON.stringify(helloFrame()));
      });
      sock.addEventListener("message", (ev) => {
        if (sock === ws) onFrame(ev.data);
      });
      sock.addEventListener("close", () => {
        if (sock !== ws) return;
        ws = null;
        onDisconnected();
      });
    }

    function onDisconnected() {
      ready = false;
      if (everReady || attempt > 0) showConnection(S.reconnecting);
      if (reconnectNow) {
        // The server told us to start over (e.g. unknown conversation): no backoff.
        reconnectNow = false;
        reconnectTimer = setTimeout(connect, 0);
        return;
      }
      // Exponential backoff with "equal jitter": between half and all of the step, so
      // a server restart is not met by every widget at the same instant.
      const step = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
      attempt += 1;
      // Closed for too many connections (4429, after `throttled`): not before the wait.
      const wait = Math.max(step / 2 + Math.random() * (step / 2), throttledUntil - Date.now());
      reconnectTimer = setTimeout(connect, wait);
    }

    function showConnection(text) {
      connectionEl.textContent = text || "";
      connectionEl.hidden = !text;
    }

    function restartConversation() {
      conversation = null;
      store.remove("conversation");
      reconnectNow = true;
      if (ws) ws.close(1000);
      else connect();
    }

    window.addEventListener("online", () => {
      if (started && !ws) {
        attempt = 0;
        connect();
      }
    });

    function sendFrame(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    }

    /** Sends a frame without delivery guarantee (events, csat), queueing it while offline. */
    function sendOrQueue(frame) {
      ensureStarted();
      if (ready && sendFrame(frame)) return;
      if (frameQueue.length >= MAX_QUEUED_FRAMES) frameQueue.shift();
      frameQueue.push(frame);
    }

    // ------------------------------------------------------------ outbox

    function saveOutbox() {
      store.setJSON("outbox", outbox);
    }

    function outboxFrame(item) {
      return item.kind === "postback"
        ? { type: "postback", client_msg_id: item.id, title: item.title, payload: item.payload }
        : { type: "message", client_msg_id: item.id, text: item.text };
    }

    function sendItem(item) {
      if (!ready || Date.now() < throttledUntil) return;
      if (sendFrame(outboxFrame(item))) {
        const previous = lastSentAt.get(item.id);
        const delay = previous ? Math.min(RESEND_MAX_MS, previous[1] * 2) : RESEND_BASE_MS;
        lastSentAt.set(item.id, [Date.now(), delay]);
      }
    }

    function flushOutbox() {
      lastSentAt.clear();
      for (const item of outbox) sendItem(item);
    }

    // A message sent on a live socket whose ack never came (a lost frame, a server
    // hiccup) is re-sent on a slow, doubling timer; dedup makes this harmless.
    setInterval(() => {
      if (!ready || !outbox.length) return;
      const now = Date.now();
      for (const item of outbox) {
        const sent = lastSentAt.get(item.id);
        if (!sent || now - sent[0] >= sent[1]) sendItem(item);
      }
    }, 2000);

    function enqueue(item) {
      outbox.push(item);
      saveOutbox();
      renderPending(item);
      removeQuickReplies();
      ensureStarted();
      sendItem(item);
    }

    function dropFromOutbox(id) {
      const before = outbox.length;
      outbox = outbox.filter((i) => i.id !== id);
      lastSentAt.delete(id);
      if (outbox.length !== before) saveOutbox();
    }

    // ------------------------------------------------------------ frames in

    function onFrame(data) {
      if (typeof data !== "string") return;
      let f;
      try {
        f = JSON.parse(data);
      } catch {
        console.warn("Concierge: ignoring a frame that is not JSON");
        return;
      }
      if (!isPlainObject(f)) return;
      switch (f.type) {
        case "session":
          return onSession(f);
        case "ack":
          return onAck(f);
        case "message":
          return onMessage(f);
        case "typing":
          return onTyping(f);
        case "status":
          return applyStatus(f);
        case "error":
          return onError(f);
        case "resync_more":
          // History comes a page at a time: ask for the next from where this ended.
          if (ready && Number.isInteger(f.since_seq) && f.since_seq >= 0) {
            sendFrame({ type: "resync", since_seq: f.since_seq });
          }
          return undefined;
        default:
          // Newer servers may add frame types; an old widget ignores them.
          return undefined;
      }
    }

    function onSession(f) {
      resume = null; // used: from now on the session's own token carries on
      if (typeof f.token === "string" && f.token) {
        token = f.token;
        store.set("token", token);
      }
      if (typeof f.conversation === "string" && f.conversation) {
        conversation = f.conversation;
        store.set("conversation", conversation);
      }
      if (segmentConversation !== conversation) {
        if (rows.size) startNewSegment();
        segmentConversation = conversation;
        updateUnread();
      }
      ready = true;
      everReady = true;
      attempt = 0;
      showConnection(null);
      sendFrame({ type: "resync", since_seq: contiguous });
      flushOutbox();
      while (frameQueue.length && ready) sendFrame(frameQueue.shift());
      if (typeof f.status === "string" && (!currentStatus || currentStatus.status !== f.status)) {
        applyStatus({ status: f.status });
      }
    }

    function onAck(f) {
      const id = f.client_msg_id;
      if (typeof id !== "string") return;
      dropFromOutbox(id);
      const pending = pendingRows.get(id);
      pendingRows.delete(id);
      if (!pending) return;
      const seq = f.seq;
      if (!Number.isInteger(seq) || seq < 1 || rows.has(seq)) {
        pending.remove(); // the server's own rendering of it is already shown
        return;
      }
      // Until the message frame for this seq arrives, the pending bubble stands in
      // for it (provisionally), in its seq position.
      pending.classList.remove("row-pending");
      pending.querySelector(".meta")?.remove();
      const bubble = pending.querySelector(".bubble");
      bubble.removeAttribute("data-pending");
      bubble.removeAttribute("data-client-msg-id");
      bubble.setAttribute("data-seq", String(seq));
      // The server kept the message masked (a card number): show what was kept.
      if (typeof f.text === "string") bubble.textContent = f.text;
      const note = redactedNote(f.notice);
      if (note) pending.append(note);
      placeRow(pending, seq, { sender: "customer", provisional: true });
    }

    function onMessage(f) {
      const seq = f.seq;
      if (!Number.isInteger(seq) || seq < 1) return;
      const known = rows.get(seq);
      if (known && !known.provisional) return; // exactly once
      const sender = SENDERS.has(f.sender) ? f.sender : "system";
      const row = renderMessage(f, seq, sender);
      if (known) known.row.replaceWith(row);
      placeRow(row, seq, { sender, provisional: false, replaced: Boolean(known) });
      if (sender !== "customer") hideTyping();
    }

    function onTyping(f) {
      if (f.sender !== "bot" && f.sender !== "agent") return; // our own echo
      typingEl.textContent = S.typing[f.sender];
      typingEl.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
    }

    function hideTyping() {
      clearTimeout(typingTimer);
      typingEl.hidden = true;
      typingEl.textContent = "";
    }

    function onError(f) {
      const code = str(f.code);
      switch (code) {
        case "link_invalid":
          // Expired or altered: carry on with this browser's own conversation.
          resume = null;
          showNotice(S.linkInvalid);
          reconnectNow = true; // the server closes this socket: open the usual one
          break;
        case "conversation_not_found":
          // A stale or foreign id: forget it and let the server open a new one.
          restartConversation();
          break;
        case "conversation_resolved":
          // Unacked messages stay in the outbox and go to the new conversation.
          showNotice(S.resolvedRestart);
          restartConversation();
          break;
        case "unavailable":
        case "throttled": {
          const retry = Number(f.retry_after);
          const seconds = Number.isFinite(retry) && retry > 0 ? retry : DEFAULT_THROTTLE_S;
          throttledUntil = Date.now() + seconds * 1000;
          const say = code === "throttled" ? S.throttled : S.unavailable;
          // Before a session only a hello can have been refused.
          const refusedHello = !ready ? ws : null;
          showNotice(say(Math.ceil(seconds)), seconds * 1000);
          clearTimeout(throttleTimer);
          throttleTimer = setTimeout(() => {
            throttledUntil = 0;
            if (!ready) {
              // A hello refused (too many new visitors from this address): ask again
              // on the same socket, if it is still open.
              if (refusedHello && refusedHello === ws && ws.readyState === WebSocket.OPEN) {
                ws.send(JSON.stringify(helloFrame()));
              }
              return;
            }
            // The refused frame may have been a resync (one page of history):
            // asking again from the gap-free seq is harmless if it was not.
            sendFrame({ type: "resync", since_seq: contiguous });
            flushOutbox();
          }, seconds * 1000);
          break;
        }
        case "text_too_long":
        case "empty_text":
          if (typeof f.client_msg_id === "string") failPending(f.client_msg_id);
          showNotice(code === "text_too_long" ? S.tooLong : str(f.message) || code);
          break;
        case "invalid_text":
        case "invalid_frame":
        case "server_error":
          // Refused for good: drop it from the outbox, or it is re-sent forever.
          if (typeof f.client_msg_id === "string") failPending(f.client_msg_id);
          showNotice(S.notSent);
          console.error(`Concierge: server error ${code}: ${str(f.message)}`);
          break;
        case "invalid_json":
        case "unknown_type":
        case "invalid_field":
        case "binary_not_supported":
          if (typeof f.client_msg_id === "string") failPending(f.client_msg_id);
          // Only a bug on one side can cause these, so make them loud.
          console.error(`Concierge: server error ${code}: ${str(f.message)}`);
          break;
        default:
          // e.g. unknown_product for a tracked sku the catalogue lacks: shop data,
          // not something the customer can act on.
          console.warn(`Concierge: server error ${code}: ${str(f.message)}`);
      }
    }

    function failPending(id) {
      // A message the server will never accept must not be re-sent forever.
      // The bubble stays, marked, so the customer sees which message did not go.
      dropFromOutbox(id);
      const row = pendingRows.get(id);
      pendingRows.delete(id);
      if (!row) return;
      row.querySelector("[data-pending]")?.setAttribute("data-pending", "failed");
      const meta = row.querySelector(".meta");
      if (meta) meta.textContent = S.failed;
    }

    function showNotice(text, ms = 6000) {
      noticeEl.textContent = text;
      noticeEl.hidden = false;
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(() => {
        noticeEl.hidden = true;
      }, ms);
    }

    // ------------------------------------------------------------ ordering

    function placeRow(row, seq, { sender, provisional, replaced = false }) {
      const nearBottom = isNearBottom();
      row._ccSeq = seq;
      if (!replaced) {
        if (seq > maxSeq) {
          segment.append(row);
        } else {
          let before = null;
          for (const child of segment.children) {
            if (child._ccSeq > seq) {
              before = child;
              break;
            }
          }
          segment.insertBefore(row, before);
        }
      }
      rows.set(seq, { row, sender, provisional });
      maxSeq = Math.max(maxSeq, seq);
      while (rows.has(contiguous + 1)) contiguous += 1;
      checkGap();
      pruneQuickReplies();
      if (isOpen) markSeen();
      else updateUnread();
      if (nearBottom || sender === "customer") scrollToBottom();
    }

    function checkGap() {
      if (maxSeq <= contiguous) {
        gapResyncs = 0;
        clearTimeout(gapTimer);
        gapTimer = null;
        return;
      }
      if (gapTimer) return;
      gapTimer = setTimeout(
        () => {
          gapTimer = null;
          // While offline there is nothing to do: the next session resyncs anyway.
          if (!ready || maxSeq <= contiguous || gapResyncs >= GAP_MAX_RESYNCS) return;
          gapResyncs += 1;
          sendFrame({ type: "resync", since_seq: contiguous });
          checkGap();
        },
        gapResyncs ? GAP_RETRY_MS : GAP_GRACE_MS,
      );
    }

    function startNewSegment() {
      // Seqs restart with each conversation, so the old rows leave the seq index but
      // stay on screen above a divider.
      segment.className = "segment archived";
      for (const el of segment.querySelectorAll(".quick-replies")) el.remove();
      const divider = h("div", { class: "divider", role: "separator", text: S.newConversation });
      segment = h("div", { class: "segment" });
      pendingBox.before(divider, segment);
      rows = new Map();
      contiguous = 0;
      maxSeq = 0;
      gapResyncs = 0;
      clearTimeout(gapTimer);
      gapTimer = null;
      currentStatus = null;
      renderCsat(null);
    }

    function isNearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    }

    function scrollToBottom() {
      log.scrollTop = log.scrollHeight;
    }

    // ------------------------------------------------------------ rendering

    function senderLabel(sender) {
      if (sender === "bot") return S.bot;
      if (sender === "agent") return S.agent;
      return null;
    }

    function renderMessage(f, seq, sender) {
      const row = h("div", { class: `row row-${sender}` });
      const label = senderLabel(sender);
      if (label) row.append(h("div", { class: "who", text: label }));
      row.append(
        h("div", {
          class: "bubble",
          "data-testid": "concierge-message",
          "data-seq": String(seq),
          "data-sender": sender,
          text: str(f.text),
        }),
      );
      const payload = isPlainObject(f.payload) ? f.payload : {};
      const article = isPlainObject(payload.article) ? renderArticle(payload.article) : null;
      if (article) row.append(article);
      if (Array.isArray(payload.links)) {
        for (const link of payload.links) {
          const line = isPlainObject(link) ? renderLink(link) : null;
          if (line) row.append(line);
        }
      }
      const note = redactedNote(payload.notice);
      if (note) row.append(note);
      if (Array.isArray(payload.cards) && payload.cards.length) row.append(renderCards(payload.cards));
      if (Array.isArray(payload.quick_replies) && payload.quick_replies.length) {
        const qr = renderQuickReplies(payload.quick_replies);
        if (qr) row.append(qr);
      }
      const time = formatTime(f.created);
      if (time && sender !== "system") {
        row.append(h("time", { class: "meta", datetime: str(f.created), text: time }));
      }
      return row;
    }

    // Why part of the customer's own message is masked ("We hid the card number").
    function redactedNote(notice) {
      if (typeof notice !== "string" || !notice) return null;
      return h("div", { class: "redacted", "data-testid": "concierge-redacted", text: notice });
    }

    function renderPending(item) {
      const text = item.kind === "postback" ? item.title : item.text;
      const row = h(
        "div",
        { class: "row row-customer row-pending" },
        h("div", {
          class: "bubble",
          "data-testid": "concierge-message",
          "data-sender": "customer",
          "data-pending": "true",
          "data-client-msg-id": item.id,
          text: str(text),
        }),
        h("div", { class: "meta", text: S.sending }),
      );
      pendingRows.set(item.id, row);
      pendingBox.append(row);
      scrollToBottom();
    }

    function renderArticle(article) {
      const title = str(article.title) || str(article.url);
      if (!title) return null;
      const href = safeLinkUrl(article.url);
      const line = h("div", { class: "source" }, S.source);
      if (href) line.append(h("a", { href, target: "_blank", rel: "noopener noreferrer", text: title }));
      else line.append(title);
      return line;
    }

    /** A link the reply points to (a parcel's tracking page): title, safe URL. */
    function renderLink(link) {
      const href = safeLinkUrl(link.url);
      const title = str(link.title) || str(link.url);
      if (!href || !title) return null;
      return h(
        "div",
        { class: "source" },
        h("a", { href, target: "_blank", rel: "noopener noreferrer", "data-testid": "concierge-link", text: title }),
      );
    }

    function renderQuickReplies(replies) {
      const box = h("div", { class: "quick-replies", role: "group", "aria-label": S.quickReplies });
      for (const reply of replies) {
        if (!isPlainObject(reply) || !str(reply.title).trim()) continue;
        const title = str(reply.title);
        const payload = isPlainObject(reply.payload) ? reply.payload : {};
        box.append(
          h("button", {
            type: "button",
            class: "quick-reply",
            "data-testid": "concierge-quick-reply",
            text: title,
            onclick: () => {
              box.remove();
              postback(title, payload);
              input.focus();
            },
          }),
        );
      }
      return box.children.length ? box : null;
    }

    /** Quick replies belong to the newest message only. */
    function pruneQuickReplies() {
      const newest = rows.get(maxSeq);
      for (const box of log.querySelectorAll(".quick-replies")) {
        if (pendingRows.size || !newest || box.parentElement !== newest.row) box.remove();
      }
    }

    function removeQuickReplies() {
      for (const box of log.querySelectorAll(".quick-replies")) box.remove();
    }

    function renderCards(cards) {
      const list = h("ul", { class: "cards", "aria-label": S.products });
      for (const card of cards) {
        if (!isPlainObject(card)) continue;
        const sku = str(card.sku);
        const name = str(card.name) || sku;
        const li = h("li", { class: "card", "data-testid": "concierge-card", "data-sku": sku });
        const src = safeImageUrl(card.image, config);
        if (src) li.append(h("img", { src, alt: name, loading: "lazy", decoding: "async" }));
        const body = h("div", { class: "card-body" }, h("p", { class: "card-name", text: name }));
        const price = formatPrice(card.price, card.currency);
        if (price) body.append(h("div", { class: "card-price", text: price }));
        if (str(card.reason)) body.append(h("div", { class: "card-reason", text: str(card.reason) }));
        const actions = h("div", { class: "card-actions" });
        const href = safeLinkUrl(card.url);
        if (href) {
          // A product on the shop's own site opens in place (the chat survives the
          // navigation); a foreign one opens in a new tab.
          const sameSite = new URL(href).origin === location.origin;
          actions.append(
            h("a", {
              href,
              "data-testid": "concierge-card-link",
              "aria-label": S.viewProduct(name),
              target: sameSite ? null : "_blank",
              rel: sameSite ? null : "noopener noreferrer",
              text: S.view,
              onclick: () => {
                if (sku) track("chat_click", sku);
              },
            }),
          );
        }
        if (sku) {
          actions.append(
            h("button", {
              type: "button",
              class: "add-to-cart",
              "data-testid": "concierge-add-to-cart",
              "aria-label": S.addToCartTitle(name),
              text: S.addToCart,
              onclick: () => {
                track("add_to_cart", sku);
                postback(S.addToCartTitle(name), { action: "add_to_cart", sku });
              },
            }),
          );
        }
        body.append(actions);
        li.append(body);
        list.append(li);
      }
      return list;
    }

    // ------------------------------------------------------------ status and CSAT

    function applyStatus(f) {
      const status = str(f.status);
      if (!status) return;
      currentStatus = f;
      const pos = Number.isInteger(f.queue_position) && f.queue_position > 0 ? f.queue_position : null;
      const wait = Number.isFinite(f.expected_wait_seconds) && f.expected_wait_seconds >= 0 ? f.expected_wait_seconds : null;
      statusEl.textContent = status === "waiting_for_agent" ? S.waiting(pos, wait, f.agents_online) : S.status[status] || "";
      statusEl.setAttribute("data-status", status);
      renderCsat(status === "resolved" ? conversation : null);
    }

    function renderCsat(forConversation) {
      csatEl.replaceChildren();
      if (!forConversation) {
        csatEl.hidden = true;
        return;
      }
      csatEl.hidden = false;
      if (store.get(`csat:${forConversation}`)) {
        csatEl.append(h("p", { role: "status", text: S.csatThanks }));
        return;
      }
      let score = 0;
      const commentId = "cc-csat-comment";
      const comment = h("textarea", { id: commentId, maxlength: String(MAX_COMMENT_CHARS), rows: "2" });
      const submit = h("button", {
        type: "submit",
        class: "primary",
        "data-testid": "concierge-csat-send",
        text: S.csatSend,
        disabled: true,
      });
      const stars = [];
      for (let n = 1; n <= 5; n += 1) {
        const star = h("button", {
          type: "button",
          class: "star",
          "data-testid": "concierge-csat-score",
          "data-score": String(n),
          "aria-label": S.csatStar(n),
          "aria-pressed": "false",
          text: "★",
          onclick: () => {
            score = n;
            stars.forEach((s, i) => {
              s.classList.toggle("on", i < n);
              s.setAttribute("aria-pressed", String(i + 1 === n));
            });
            submit.disabled = false;
          },
        });
        stars.push(star);
      }
      const form = h(
        "form",
        { novalidate: true },
        h("p", { text: S.csatQuestion }),
        h("div", { class: "stars", role: "group", "aria-label": S.csatGroup }, ...stars),
        h("label", { for: commentId, text: S.csatComment }),
        comment,
        submit,
      );
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!score) return;
        const frame = { type: "csat", score };
        const text = comment.value.trim();
        if (text) frame.comment = text;
        sendOrQueue(frame);
        store.set(`csat:${forConversation}`, "1");
        const thanks = h("p", { role: "status", tabindex: "-1", text: S.csatThanks });
        csatEl.replaceChildren(thanks);
        thanks.focus();
      });
      csatEl.append(form);
    }

    // ------------------------------------------------------------ composing

    function autosize() {
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight, 120)}px`;
    }

    function updateCounter() {
      const n = codePoints(input.value);
      counter.hidden = n < MAX_TEXT_CHARS - 500;
      counter.textContent = S.charCount(n);
      counter.classList.toggle("over", n > MAX_TEXT_CHARS);
    }

    function submitText() {
      const text = input.value.trim();
      if (!text) return;
      if (codePoints(text) > MAX_TEXT_CHARS) {
        showNotice(S.tooLong);
        return;
      }
      enqueue({ id: uuid4(), kind: "message", text });
      input.value = "";
      autosize();
      updateCounter();
    }

    function postback(title, payload) {
      enqueue({ id: uuid4(), kind: "postback", title, payload });
    }

    function track(kind, sku) {
      if (!EVENT_KINDS.has(kind)) throw new TypeError(`Concierge.track: unknown kind ${kind}`);
      if (typeof sku !== "string" || !sku) throw new TypeError("Concierge.track: sku must be a non-empty string");
      sendOrQueue({ type: "event", kind, sku });
    }

    composer.addEventListener("submit", (e) => {
      e.preventDefault();
      submitText();
      input.focus();
    });
    input.addEventListener("keydown", (e) => {
      // isComposing: Enter that confirms an IME candidate must not send.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submitText();
      }
    });
    input.addEventListener("input", () => {
      autosize();
      updateCounter();
      const now = Date.now();
      if (input.value.trim() && ready && now - lastTypingSent >= TYPING_SEND_INTERVAL_MS) {
        lastTypingSent = now;
        sendFrame({ type: "typing" });
      }
    });

    // ------------------------------------------------------------ mount

    function mount() {
      document.body.append(host);
      applyColor();
      for (const item of outbox) renderPending(item);
      if (store.get("open") === "1" || resume) open({ focus: false });
      // A returning visitor reconnects at once (agent replies, unread badge, resync of
      // unsent messages); a new one only when they open the chat or the shop tracks.
      else if (token || conversation || outbox.length) ensureStarted();
    }

    return { mount, open, close, track };
  }

  // ---------------------------------------------------------------- bootstrap

  const config = readConfig(SCRIPT);
  const widget = createWidget(config);
  let mounted = false;
  const afterMount = [];
  const whenMounted = (fn) => (mounted ? fn() : afterMount.push(fn));

  window.Concierge = Object.freeze({
    version: VERSION,
    open() {
      whenMounted(() => widget.open());
    },
    close() {
      whenMounted(() => widget.close());
    },
    track(kind, sku) {
      widget.track(kind, sku);
    },
  });

  function boot() {
    widget.mount();
    mounted = true;
    for (const fn of afterMount.splice(0)) fn();
    for (const call of earlyCalls) {
      const [name, args] = Array.isArray(call) ? call : [];
      try {
        if (typeof window.Concierge[name] === "function") window.Concierge[name](...(args || []));
      } catch (err) {
        console.error(err);
      }
    }
    window.dispatchEvent(new CustomEvent("concierge:ready"));
  }

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot, { once: true });
})();
