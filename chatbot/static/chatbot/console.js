/* Concierge agent console: plain JS over ws/console/. Every text is set with
 * textContent — customer text is data, never markup. */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const HEARTBEAT_MS = 30_000;
  const TYPING_SEND_MS = 2_000;
  const TYPING_SHOW_MS = 4_000;

  const state = {
    ws: null,
    me: null,
    conversations: new Map(), // public id → summary
    current: null, // public id of the open conversation
    detail: null,
    seqs: new Set(),
    lastTypingSent: 0,
    retry: 0,
    heartbeat: null,
  };
  const canned = JSON.parse($("canned-data").textContent || "[]");

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ socket

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/ws/console/");
    state.ws = ws;
    ws.addEventListener("open", () => {
      state.retry = 0;
      setConnection("Live", true);
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(() => send({ type: "heartbeat" }), HEARTBEAT_MS);
      if (state.current) send({ type: "open", conversation: state.current });
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      const handler = HANDLERS[frame.type];
      if (handler) handler(frame);
    });
    ws.addEventListener("close", (event) => {
      clearInterval(state.heartbeat);
      if (event.code === 4403) {
        // Not staff, or the console permission was taken away (or the account
        // deactivated) while the page was open.
        setConnection("Not allowed — ask an administrator for console access", false);
        return;
      }
      setConnection("Reconnecting…", false);
      const delay = Math.min(30_000, 500 * 2 ** state.retry++);
      setTimeout(connect, delay);
    });
  }

  function send(frame) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    showError("Not connected; try again in a moment.");
    return false;
  }

  function setConnection(text, live) {
    const node = document.querySelector("[data-testid=console-connection]");
    node.textContent = text;
    node.dataset.live = live ? "true" : "false";
  }

  // ------------------------------------------------------------------ frames

  const HANDLERS = {
    hello(frame) {
      state.me = frame.agent;
      applyPermissions();
      const before = new Map(state.conversations);
      state.conversations.clear();
      for (const c of frame.conversations) {
        state.conversations.set(c.id, c);
        const old = before.get(c.id);
        if (c.status === "waiting_for_agent" && old && old.status !== "waiting_for_agent") notifyWaiting(c);
      }
      renderList();
    },
    conversation(frame) {
      const c = frame.conversation;
      const old = state.conversations.get(c.id);
      const nowWaiting = c.status === "waiting_for_agent";
      if (nowWaiting && (!old || old.status !== "waiting_for_agent")) notifyWaiting(c);
      if (c.status === "resolved" && c.id !== state.current) state.conversations.delete(c.id);
      else state.conversations.set(c.id, c);
      renderList();
      if (c.id === state.current) renderHeader(c);
    },
    detail(frame) {
      const c = frame.conversation;
      if (c.id !== state.current) return;
      state.conversations.set(c.id, c);
      state.detail = frame;
      state.seqs = new Set();
      $("transcript").replaceChildren();
      for (const m of frame.messages) addMessage(m);
      renderHeader(c);
      renderHandoff(frame.handoff);
      $("notes").replaceChildren();
      for (const n of frame.notes) addNote(n);
      renderList();
    },
    message(frame) {
      if (frame.conversation !== state.current) return;
      addMessage(frame);
      if (frame.sender === "customer") hideTyping();
    },
    permissions(frame) {
      if (state.me) state.me.permissions = frame.permissions;
      applyPermissions();
    },
    ack() {},
    typing(frame) {
      if (frame.conversation !== state.current || frame.sender === "agent") return;
      const node = $("typing");
      node.textContent = frame.sender === "bot" ? "Bot is typing…" : "Customer is typing…";
      node.hidden = false;
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
    },
    note(frame) {
      if (frame.conversation === state.current) addNote(frame.note);
    },
    error(frame) {
      showError(frame.message || frame.code);
    },
  };

  function hideTyping() {
    $("typing").hidden = true;
  }

  // ------------------------------------------------------------------ list

  function waitText(since) {
    if (!since) return "";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m ? `waiting ${m} min ${s} s` : `waiting ${s} s`;
  }

  function renderList() {
    const list = $("conversations");
    const rank = { waiting_for_agent: 0, with_agent: 1, bot: 2, resolved: 3 };
    const items = [...state.conversations.values()].sort(
      (a, b) =>
        rank[a.status] - rank[b.status] ||
        (a.status === "waiting_for_agent"
          ? Date.parse(a.waiting_since) - Date.parse(b.waiting_since)
          : Date.parse(b.updated) - Date.parse(a.updated)),
    );
    list.replaceChildren(
      ...items.map((c) => {
        const li = el("li", {
          class: "item",
          "data-testid": "console-conversation",
          "data-conversation": c.id,
          "data-status": c.status,
          "aria-current": c.id === state.current ? "true" : "false",
          tabindex: 0,
        });
        const head = el("div", { class: "item-head" });
        head.append(el("strong", {}, c.customer), el("span", { class: `badge ${c.status}` }, c.status_display));
        li.append(head);
        if (c.status === "waiting_for_agent") {
          li.append(el("div", { class: "wait", "data-testid": "console-wait", "data-since": c.waiting_since }, waitText(c.waiting_since)));
        }
        if (c.assigned_agent) li.append(el("div", { class: "agent" }, `with ${c.assigned_agent}`));
        if (c.reason) li.append(el("div", { class: "reason" }, c.reason));
        li.append(el("div", { class: "preview" }, c.last_message));
        li.addEventListener("click", () => openConversation(c.id));
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter") openConversation(c.id);
        });
        return li;
      }),
    );
  }

  setInterval(() => {
    for (const node of document.querySelectorAll("[data-testid=console-wait]")) {
      node.textContent = waitText(node.dataset.since);
    }
  }, 1000);

  // ------------------------------------------------------------------ detail

  function openConversation(id) {
    if (state.current && state.current !== id) send({ type: "close", conversation: state.current });
    state.current = id;
    $("detail").hidden = false;
    $("transcript").replaceChildren();
    hideError();
    const c = state.conversations.get(id);
    if (c) renderHeader(c);
    send({ type: "open", conversation: id });
    renderList();
  }

  function can(permission) {
    return Boolean(state.me && (state.me.permissions || []).includes(permission));
  }

  function applyPermissions() {
    // The server checks every action; this only hides what would be refused.
    for (const node of document.querySelectorAll("[data-needs]")) {
      node.hidden = !can(node.dataset.needs);
    }
    const c = state.current && state.conversations.get(state.current);
    if (c) renderHeader(c);
  }

  function renderHeader(c) {
    $("detail-title").textContent = `${c.customer}${c.email ? " · " + c.email : ""}`;
    const status = $("detail-status");
    status.textContent = c.status_display + (c.assigned_agent ? ` (${c.assigned_agent})` : "");
    status.dataset.status = c.status;
    const mine = state.me && c.assigned_agent_id === state.me.id;
    const open = c.status !== "resolved";
    // Another agent's conversation is theirs unless this agent may assign.
    const othersHeld = c.status === "with_agent" && !mine && !can("assign");
    button("take").disabled = !open || (c.status === "with_agent" && mine);
    button("hand_back").disabled = !open || c.status === "bot" || othersHeld;
    button("resolve").disabled = !open || othersHeld;
    $("assign").disabled = !open || !can("assign");
    $("reply").disabled = !(mine && c.status === "with_agent");
    $("assign").value = c.assigned_agent_id ? String(c.assigned_agent_id) : "";
  }

  function button(action) {
    return document.querySelector(`[data-action="${action}"]`);
  }

  function addMessage(m) {
    if (state.seqs.has(m.seq)) return;
    state.seqs.add(m.seq);
    const li = el("li", {
      class: `msg ${m.sender}`,
      "data-testid": "console-message",
      "data-sender": m.sender,
      "data-seq": m.seq,
    });
    const who = m.sender === "agent" && m.agent ? m.agent : m.sender;
    const meta = el("div", { class: "meta" }, `${who} · ${new Date(m.created).toLocaleTimeString()}`);
    if (m.sender === "bot" && (m.intent || m.confidence !== null)) {
      const conf = m.confidence === null || m.confidence === undefined ? "" : ` ${Number(m.confidence).toFixed(2)}`;
      const tag = el("span", { class: "intent", "data-testid": "console-intent" }, `${m.intent || "no intent"}${conf}`);
      if (m.confidence !== null && m.confidence < 0.5) tag.classList.add("low");
      meta.append(" ", tag);
      if (m.review_url) {
        // The nearest training examples of the reading and the runner-up, fixable.
        const why = el("a", { href: m.review_url, target: "_blank", rel: "noopener", "data-testid": "console-why" }, "why?");
        meta.append(" ", why);
      }
    }
    li.append(meta, el("div", { class: "text" }, m.text));
    const cards = m.payload && Array.isArray(m.payload.cards) ? m.payload.cards : [];
    if (cards.length) li.append(el("div", { class: "cards" }, `Cards: ${cards.map((c) => c.name).join(", ")}`));
    // Keep seq order even if a resync and a live frame cross.
    const list = $("transcript");
    const after = [...list.children].find((n) => Number(n.dataset.seq) > m.seq);
    list.insertBefore(li, after || null);
    list.scrollTop = list.scrollHeight;
  }

  function renderHandoff(h) {
    const dl = $("handoff");
    dl.replaceChildren();
    if (!h) {
      dl.append(el("dd", {}, "The customer has not asked for a person."));
      return;
    }
    const row = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
    row("Reason", h.reason || "—");
    const top = (h.top_intents || []).map((p) => `${p[0]} ${Number(p[1]).toFixed(2)}`).join(", ");
    row("Top intents", top || "—");
    if (h.form) {
      const slots = Object.entries(h.form.slots || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
      row("Form", `${h.form.name || "?"}${slots ? " — " + slots : ""}`);
    }
    row("Bot tried", (h.tried || []).join(", ") || "—");
  }

  function addNote(n) {
    const li = el("li", { "data-testid": "console-note-item" });
    li.append(el("div", { class: "meta" }, `${n.author} · ${new Date(n.created).toLocaleString()}`), el("div", {}, n.text));
    $("notes").append(li);
  }

  function showError(text) {
    const node = $("error");
    node.textContent = text;
    node.hidden = false;
    clearTimeout(state.errorTimer);
    state.errorTimer = setTimeout(hideError, 8000);
  }

  function hideError() {
    $("error").hidden = true;
  }

  // ------------------------------------------------------------------ actions

  for (const action of ["take", "hand_back", "resolve"]) {
    button(action).addEventListener("click", () => {
      if (state.current) send({ type: action, conversation: state.current });
    });
  }

  $("assign").addEventListener("change", (e) => {
    const agent = Number(e.target.value);
    if (state.current && agent) send({ type: "assign", conversation: state.current, agent });
  });

  const reply = $("reply");
  $("reply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = reply.value.trim();
    if (!text || !state.current) return;
    const id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
    if (send({ type: "reply", conversation: state.current, text, client_msg_id: id })) {
      reply.value = "";
      renderCanned();
    }
  });
  reply.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      const first = document.querySelector("[data-testid=console-canned-item]");
      if (first && !$("canned").hidden && reply.value.startsWith("/")) first.click();
      else $("reply-form").requestSubmit();
    }
  });
  reply.addEventListener("input", () => {
    renderCanned();
    const now = Date.now();
    if (state.current && now - state.lastTypingSent > TYPING_SEND_MS) {
      state.lastTypingSent = now;
      send({ type: "typing", conversation: state.current });
    }
  });

  function renderCanned() {
    const box = $("canned");
    const match = /^\/([\w-]*)$/.exec(reply.value);
    if (!match) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const prefix = match[1].toLowerCase();
    const found = canned.filter((c) => c.shortcut.toLowerCase().startsWith(prefix)).slice(0, 8);
    box.replaceChildren(
      ...found.map((c) => {
        const li = el("li", { "data-testid": "console-canned-item", "data-shortcut": c.shortcut, tabindex: 0 });
        li.append(el("strong", {}, "/" + c.shortcut), " ", el("span", {}, c.title));
        li.addEventListener("click", () => {
          reply.value = c.text;
          renderCanned();
          reply.focus();
        });
        return li;
      }),
    );
    box.hidden = found.length === 0;
  }

  $("note-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("note").value.trim();
    if (text && state.current && send({ type: "note", conversation: state.current, text })) {
      $("note").value = "";
    }
  });

  // ------------------------------------------------------------------ alerts

  let audio = null;
  function beep() {
    // A short generated tone: no audio file to download.
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.3);
    } catch {
      /* no audio in this browser */
    }
  }

  function notifyWaiting(c) {
    beep();
    document.body.dataset.lastAlert = c.id;
    if ("Notification" in window && Notification.permission === "granted") {
      const n = new Notification("A customer is waiting", { body: `${c.customer}: ${c.reason || c.last_message}`, tag: c.id });
      n.onclick = () => {
        window.focus();
        openConversation(c.id);
      };
    }
  }

  $("enable-alerts").addEventListener("click", async () => {
    // Both need a user gesture: audio may only start, and permission be asked, now.
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if ("Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission();
    }
    beep();
    $("enable-alerts").textContent = "Alerts on";
  });

  connect();
})();
