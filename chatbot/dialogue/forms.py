"""Forms: collect what an action needs, turn by turn, then do it.

A form's state lives in ``state["form"]``: its name, the slots filled so far and
how many lookups failed. Each customer turn may fill a slot, correct one ("actually
it's NW-10235"), or abandon the form ("never mind"). Forms write nothing: a confirmed
cancellation or return becomes an ``OrderAction`` the service applies.

Number and email are not proof of owning an order (they can be guessed or leaked):
lookups wait longer after each failure, counted across conversations
(``chatbot.dialogue.limits``), and a cancellation or return also needs the one-time
code mailed to the order's address.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chatbot.dialogue import shipping
from chatbot.dialogue.decision import (
    CodeRequest,
    Deciding,
    LookupKeys,
    OrderAction,
    OrderLookupUnavailable,
)
from chatbot.dialogue.shop import Shop
from chatbot.models import Order

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
YES = re.compile(r"^\s*(y|yes|yeah|yep|sure|ok(ay)?|please do|do it|confirm)\b", re.I)
NO = re.compile(r"^\s*(n|no|nope|nah|don'?t|keep it|not now)\b", re.I)
ABANDON = re.compile(
    r"\b(never\s?mind|nvm|forget (?:it|that|about it)|cancel (?:that|this)|"
    r"stop (?:that|this|it)?|don'?t bother|no longer need|doesn'?t matter)\b",
    re.IGNORECASE,
)
# The one-time code mailed before an order change: six digits on their own.
CODE = re.compile(r"(?<![\d-])(\d{6})(?![\d-])")
MAX_LOOKUPS = 2
# Codes mailed per form: with OrderActionCode.MAX_ATTEMPTS tries each, and every
# wrong code counted as a failed lookup, a guesser gets a handful of tries in a
# million per conversation, and conversations themselves slow down.
MAX_CODES = 2
# An order number chosen with a button is at most this long (it is looked up, and
# must match the shopper's email, like one typed).
MAX_CHOSEN_LENGTH = 64


@dataclass
class Turn:
    """What a form says back, and whether it is finished."""

    text: str
    payload: dict[str, Any] | None = None
    done: bool = False
    handoff: bool = False
    # The turn failed (an order not found): it counts towards a handoff like any
    # other failed turn. A wrong code does not: codes have limits of their own.
    failed: bool = False


# Separators in an order-number pattern: customers type them differently or not at
# all ("nw 10234", "NW#10234", "#NW-10234", "NW10234" are all NW-10234).
SEPARATORS = "-_/# "
TYPED_SEPARATORS = r"[\s#._/-]*"
QUANTIFIERS = "?*+{"
# A format of digits alone (Magento's 100000123, Shopify's #1001) would take any
# number for an order's: a price, a year, a phone number, a quantity. Such a number
# counts only when the customer says it is one ("order 100000123", "#1001", "order
# no: 1001", "my order number is 1001"), or sends it alone when asked for it. Where
# several numeric formats match, the first line of the setting wins.
ORDER_WORDS = (
    r"(?:\#\s*|(?:order|ord|number|no|nr|ref(?:erence)?)\b\.?"
    r"(?:\s*(?:number|num|no|nr|id)\b\.?)?[\s#:]*(?:(?:is|was)\b[\s#:]*)?)"
)
# Never a number followed by a currency or a unit: "order 1001 dollars" is money.
NOT_AMOUNT = (
    r"(?!\s*(?:[$€£¥%]|usd|eur|gbp|dollars?|euros?|pounds?|pcs|pieces|items|x)\b)"
    r"(?![$€£¥%])"
)


@dataclass(frozen=True)
class OrderFormat:
    """One order-number format, read leniently from what customers type.

    ``NW-\\d{5}`` is split at its literal separators into ``NW`` and ``\\d{5}``;
    between them any separators (or none) are accepted, letters in any case, with a
    leading ``#``; what is found is written back the shop's way (``NW-10234``).
    """

    pattern: str
    pieces: tuple[str, ...]
    separators: tuple[str, ...]
    # The literal the shop writes before the number ("#" of "#\\d{4,}"), if any.
    lead: str = ""

    @staticmethod
    @functools.cache
    def of(pattern: str) -> OrderFormat:
        pieces, separators, piece, depth, i = [], [], "", 0, 0
        while i < len(pattern):
            char = pattern[i]
            if char == "\\" and i + 1 < len(pattern):
                escaped = pattern[i + 1]
                following = pattern[i + 2 : i + 3]
                if (
                    depth == 0
                    and escaped in SEPARATORS + "."
                    and (not following or following not in QUANTIFIERS)
                ):
                    pieces.append(piece)
                    separators.append(escaped)
                    piece, i = "", i + 2
                    continue
                piece, i = piece + pattern[i : i + 2], i + 2
                continue
            depth += 1 if char in "([" else -1 if char in ")]" else 0
            following = pattern[i + 1 : i + 2]
            if depth == 0 and char in SEPARATORS and following not in QUANTIFIERS:
                pieces.append(piece)
                separators.append(char)
                piece, i = "", i + 1
                continue
            piece, i = piece + char, i + 1
        pieces.append(piece)
        kept = []
        for part, separator in zip(pieces, ["", *separators], strict=True):
            # "ORD\\d{6}": the letters and the digits may come apart too ("ord 410234").
            if split := re.fullmatch(r"([A-Za-z]+)((?:\\d|\[).*)", part):
                kept += [(split.group(1), separator), (split.group(2), "")]
            elif part:
                kept.append((part, separator))
        if not kept:  # a pattern of separators alone: nothing to read
            kept = [(re.escape(pattern), "")]
        return OrderFormat(
            pattern,
            tuple(p for p, _ in kept),
            tuple(s for _, s in kept[1:]),
            lead=kept[0][1].strip(),
        )

    @functools.cached_property
    def numeric(self) -> bool:
        """Whether the format has no letters of its own: digits alone."""
        return not re.search(r"[A-Za-z]", re.sub(r"\\[dDwWsS]", "", self.pattern))

    def expression(self, prefix: str) -> str:
        """The lenient expression, its groups named ``<prefix>p0``, ``<prefix>p1``…"""
        groups = TYPED_SEPARATORS.join(
            f"(?P<{prefix}p{n}>{piece})" for n, piece in enumerate(self.pieces)
        )
        if self.numeric:
            return rf"{ORDER_WORDS}{groups}{NOT_AMOUNT}"
        return rf"\#?\s*{groups}"

    @functools.cached_property
    def bare(self) -> re.Pattern[str] | None:
        """When the bot has just asked for it, the variable last piece alone
        ("10234") is the number; only when the pieces before it are plain text."""
        if len(self.pieces) < 2 and not self.numeric:
            return None
        if not all(re.fullmatch(r"[A-Za-z0-9]+", p) for p in self.pieces[:-1]):
            return None
        return re.compile(rf"^\W*#?\s*(?P<last>{self.pieces[-1]})\W*$", re.IGNORECASE)

    def written(self, match: re.Match[str], prefix: str = "") -> str:
        """A match of the lenient expression the shop's way: "nw 10234" → "NW-10234"."""
        parts = [match.group(f"{prefix}p{n}").upper() for n in range(len(self.pieces))]
        return (
            self.lead
            + parts[0]
            + "".join(s + p for s, p in zip(self.separators, parts[1:], strict=True))
        )

    def written_bare(self, last: str) -> str:
        prefix = "".join(
            p.upper() + s
            for p, s in zip(self.pieces[:-1], self.separators, strict=True)
        )
        return self.lead + prefix + last.upper()


@dataclass(frozen=True)
class OrderNumbers:
    """The shop's order-number formats (``ShopSettings.order_number_pattern``, one
    regular expression per line), read leniently from what customers type."""

    pattern: str
    formats: tuple[OrderFormat, ...]

    @staticmethod
    @functools.cache
    def of(pattern: str) -> OrderNumbers:
        lines = tuple(line.strip() for line in pattern.splitlines() if line.strip())
        return OrderNumbers(pattern, tuple(OrderFormat.of(line) for line in lines))

    @functools.cached_property
    def lenient(self) -> re.Pattern[str]:
        """Any of the formats, as typed; ``written`` turns a match into the number."""
        alternatives = "|".join(
            f"(?:{form.expression(f'f{i}')})" for i, form in enumerate(self.formats)
        )
        return re.compile(rf"(?<![\w#])(?:{alternatives})(?!\w)", re.IGNORECASE)

    def written(self, match: re.Match[str]) -> str:
        """A match of ``lenient`` the shop's way: "nw 10234" → "NW-10234"."""
        for i, form in enumerate(self.formats):
            if match.group(f"f{i}p0") is not None:
                return form.written(match, prefix=f"f{i}")
        raise ValueError(f"{match.group(0)!r} matches none of the formats")

    def find(self, text: str, *, asked: bool = False) -> str | None:
        if match := self.lenient.search(text):
            return self.written(match)
        if asked:
            for form in self.formats:
                if form.bare and (bare := form.bare.search(text)):
                    return form.written_bare(bare.group("last"))
        return None


def order_number(text: str, *, shop: Shop, asked: bool = False) -> str | None:
    """The order number in ``text``, written the shop's way, or None."""
    return OrderNumbers.of(shop.order_number_pattern).find(text, asked=asked)


def email(text: str) -> str | None:
    match = EMAIL.search(text)
    return match.group(0).lower() if match else None


def order_context(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.get_status_display().lower(),
        "carrier": order.carrier or "the carrier",
        "tracking_number": order.tracking_number,
        "tracking_url": shipping.tracking_url(order.carrier, order.tracking_number)
        or "",
        "eta": shipping.day(order.eta) or "soon",
        # Carrier, tracking link, delivery date: never a bare status (#13, class 5).
        "details": shipping.details(order),
    }


# --- what each form does once it has the order ------------------------------------


def finish_status(order: Order, form: dict[str, Any], ctx: Deciding) -> Turn:
    text = ctx.say("order_status", order=order_context(order))
    return Turn(text, payload=shipping.links(order), done=True)


def finish_tracking(order: Order, form: dict[str, Any], ctx: Deciding) -> Turn:
    if order.status in (Order.Status.SHIPPED, Order.Status.DELIVERED) and (
        order.tracking_number
    ):
        text = ctx.say("order_tracking", order=order_context(order))
        return Turn(text, payload=shipping.links(order), done=True)
    return Turn(ctx.say("order_not_shipped_yet", order=order_context(order)), done=True)


def finish_refund(order: Order, form: dict[str, Any], ctx: Deciding) -> Turn:
    refund = {"status": order.get_refund_status_display().lower()}
    return Turn(
        ctx.say("refund_status", order=order_context(order), refund=refund), done=True
    )


def finish_cancel(order: Order, form: dict[str, Any], ctx: Deciding) -> Turn:
    if not order.cancellable():
        return Turn(
            ctx.say("cancel_not_possible", order=order_context(order)), done=True
        )
    return confirmed(
        OrderAction("cancel", order.pk),
        order,
        form,
        ctx,
        question=(f"Cancel order {order.number}?", "Yes, cancel it", "No, keep it"),
        # Where the shop makes the change, it is only asked: never "cancelled"
        # before it says so.
        done="cancel_sent" if waits_for_shop(ctx) else "cancel_done",
    )


def finish_return(order: Order, form: dict[str, Any], ctx: Deciding) -> Turn:
    reason = order.return_refusal(
        now=ctx.lookups.now(), window_days=ctx.lookups.shop().return_window_days
    )
    if reason:
        return Turn(
            ctx.say("return_not_possible", order=order_context(order), reason=reason),
            done=True,
        )
    return confirmed(
        OrderAction("return", order.pk),
        order,
        form,
        ctx,
        question=(f"Start a return for order {order.number}?", "Yes, start it", "No"),
        done="return_sent" if waits_for_shop(ctx) else "return_started",
    )


def waits_for_shop(ctx: Deciding) -> bool:
    return ctx.lookups.shop().order_changes_wait_for_shop


def confirmed(
    action: OrderAction,
    order: Order,
    form: dict[str, Any],
    ctx: Deciding,
    *,
    question: tuple[str, str, str],
    done: str,
) -> Turn:
    """Ask before changing an order; on a yes, leave the change to the service."""
    slots = form["slots"]
    if "confirm" not in slots:
        return ask_confirm(form, *question)
    if not slots["confirm"]:
        return Turn(ctx.say("form_abandoned"), done=True)
    if not form.get("codes_sent"):
        return send_code(action, order, form, ctx, key="code_sent")
    code = slots.pop("code", None)
    if code is None:
        form["asking"] = "code"
        return Turn(ctx.say("form_reask", field=FIELD_NAMES["code"]))
    check = ctx.lookups.check_code(order_id=order.pk, action=action.kind, code=code)
    if check.result == "match":
        ctx.order_action = replace(action, code_id=check.code_id)
        return Turn(ctx.say(done, order=order_context(order)), done=True)
    if check.result == "wrong":
        # A wrong code costs what a wrong order number costs, across conversations.
        ctx.wrong_code = check.code_id
        ctx.failed_lookup = lookup_keys(slots, ctx)
        if check.attempts_left > 0:
            form["asking"] = "code"
            return Turn(ctx.say("code_wrong", attempts_left=check.attempts_left))
    if form["codes_sent"] >= MAX_CODES:
        return Turn(ctx.say("code_failed", order=order_context(order)), done=True)
    return send_code(action, order, form, ctx, key="code_resent")


def send_code(
    action: OrderAction, order: Order, form: dict[str, Any], ctx: Deciding, *, key: str
) -> Turn:
    """Have a one-time code mailed to the order's address, and ask for it."""
    ctx.send_code = CodeRequest(action.kind, order.pk)
    form["codes_sent"] = form.get("codes_sent", 0) + 1
    form["asking"] = "code"
    return Turn(ctx.say(key, order=order_context(order)))


def lookup_keys(slots: dict[str, Any], ctx: Deciding) -> LookupKeys:
    return LookupKeys(
        client=ctx.incoming.client_address,
        email=slots.get("email", ""),
        number=slots["order_number"],
    )


def ask_confirm(form: dict[str, Any], question: str, yes: str, no: str) -> Turn:
    form["asking"] = "confirm"
    return Turn(
        question,
        payload={
            "quick_replies": [
                {"title": yes, "payload": {"confirm": True}},
                {"title": no, "payload": {"confirm": False}},
            ]
        },
    )


FINISH: dict[str, Callable[[Order, dict[str, Any], Deciding], Turn]] = {
    "order_status": finish_status,
    "order_tracking": finish_tracking,
    "refund": finish_refund,
    "cancel": finish_cancel,
    "return": finish_return,
}
FIELD_NAMES = {
    "order_number": "order number",
    "email": "email address",
    "code": "code from the email",
}


def start(name: str, text: str, *, shop: Shop) -> dict[str, Any]:
    """A new form, with whatever the first message already gave."""
    form: dict[str, Any] = {"name": name, "slots": {}, "lookups": 0, "misses": 0}
    if number := order_number(text, shop=shop):
        form["slots"]["order_number"] = number
    if address := email(text):
        form["slots"]["email"] = address
    return form


def step(
    form: dict[str, Any],
    *,
    text: str,
    postback: Mapping[str, Any] | None,
    ctx: Deciding,
    first: bool = False,
) -> Turn | None:
    """Advance ``form`` by one customer turn.

    Returns:
        What to say, or ``None`` when the message doesn't fit the form (the caller
        then treats it as a new request).
    """
    notes: list[str] = []
    if not first:
        if ABANDON.search(text) and form.get("asking") != "confirm":
            return Turn(ctx.say("form_abandoned"), done=True)
        filled = fill(form, text=text, postback=postback, notes=notes, ctx=ctx)
        if not filled and not notes:
            return None
    return advance(form, ctx=ctx, notes=notes)


def fill(
    form: dict[str, Any],
    *,
    text: str,
    postback: Mapping[str, Any] | None,
    notes: list[str],
    ctx: Deciding,
) -> bool:
    """Put what the message says into the form's slots; True if it answered."""
    slots, asking = form["slots"], form.get("asking")
    answered = False
    if asking == "confirm":
        if postback and isinstance(postback.get("confirm"), bool):
            slots["confirm"] = postback["confirm"]
            answered = True
        elif YES.search(text) or NO.search(text):
            slots["confirm"] = bool(YES.search(text))
            answered = True
    if asking == "code" and (code := CODE.search(text)):
        slots["code"] = code.group(1)
        answered = True
    chosen = postback.get("order_number") if postback else None
    if isinstance(chosen, str) and 0 < len(chosen) <= MAX_CHOSEN_LENGTH:
        # A button listing a signed-in shopper's orders (``offer_orders``).
        slots["order_number"] = chosen
        answered = True
    found = (
        (
            "order_number",
            order_number(text, shop=ctx.lookups.shop(), asked=asking == "order_number"),
        ),
        ("email", email(text)),
    )
    for slot, value in found:
        if value is None:
            continue
        if slots.get(slot) not in (None, value) and asking != slot:
            notes.append(ctx.say("form_corrected", field=FIELD_NAMES[slot]))
        # A value the form wasn't asking for yet still answers it ("alice@…"
        # when asked for the number): it is kept, and the form asks for the rest.
        answered = True
        slots[slot] = value
    return answered


def advance(form: dict[str, Any], *, ctx: Deciding, notes: list[str]) -> Turn:
    slots = form["slots"]
    verified = ctx.incoming.verified_email
    if verified and "email" not in slots:
        # The shop signed this shopper's email (chatbot.identity): never asked for.
        slots["email"] = verified
    # A shopper the shop vouches for is looked up by their id too; the email is
    # asked only if that finds nothing (an order placed as a guest, say).
    shopper = ctx.incoming.shopper_id if not form.get("shopper_missed") else ""
    offering = (
        (shopper or verified)
        and slots.get("email", "") == verified  # not an email they typed instead
        and "order_number" not in slots
        and not form.get("offered")
    )
    if offering and (turn := offer_orders(form, ctx=ctx, notes=notes)) is not None:
        return prefixed(notes, turn)
    if "order_number" not in slots:
        form["asking"] = "order_number"
        return prefixed(notes, Turn(ctx.say("ask_order_number")))
    if not slots.get("email") and not shopper:
        form["asking"] = "email"
        return prefixed(notes, Turn(ctx.say("ask_order_email")))
    email = slots.get("email", "")
    found = [slots["order_number"], email]
    if form.get("found") != found:
        # Refused before looking, and the same whether the order exists or not.
        wait = ctx.lookups.lookup_wait(
            client=ctx.incoming.client_address, email=email, number=found[0]
        )
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            return prefixed(
                notes, Turn(ctx.say("lookup_throttled", minutes=minutes), done=True)
            )
    try:
        order = ctx.lookups.find_order(
            number=slots["order_number"], email=email, shopper_id=shopper
        )
    except OrderLookupUnavailable:
        # The shop's fault, not the customer's: no failed turn, nothing counted,
        # and never "not found" (the order may well exist).
        return prefixed(notes, unavailable(slots["order_number"], ctx))
    if order is None and shopper and not email:
        form["shopper_missed"] = True
        form["asking"] = "email"
        return prefixed(notes, Turn(ctx.say("ask_order_email")))
    if order is None:
        # One answer for "no such order" and "wrong email": an order number alone
        # must never confirm that an order exists.
        ctx.failed_lookup = lookup_keys(slots, ctx)
        form["lookups"] += 1
        slots.pop("order_number", None)
        slots.pop("email", None)
        slots.pop("confirm", None)
        form["asking"] = "order_number"
        if form["lookups"] >= MAX_LOOKUPS:
            return prefixed(
                notes,
                Turn(ctx.say("order_not_found"), done=True, handoff=True, failed=True),
            )
        return prefixed(notes, Turn(ctx.say("order_not_found"), failed=True))
    # Found: later turns of this form (the confirmation, the code) read the order
    # again without waiting, so a guesser elsewhere can't hold up its owner.
    form["found"] = found
    # Verified by number and email (or by the shop's word for the shopper): an
    # order number sent on its own later in the conversation needs no email again.
    ctx.state["last_order"] = {"number": order.number, "email": email}
    return prefixed(notes, FINISH[form["name"]](order, form, ctx))


def unavailable(number: str, ctx: Deciding) -> Turn:
    """The shop's order system is not answering: say so, offer a person."""
    return Turn(
        ctx.say("order_lookup_unavailable", number=number),
        payload={"quick_replies": [talk_to_person_button()]},
        done=True,
    )


def talk_to_person_button() -> dict[str, Any]:
    return {"title": "Talk to a person", "payload": {"action": "handoff"}}


# Which of a shopper's orders a form can act on: the others are not offered.
FITS: dict[str, Callable[[Order], bool]] = {
    "cancel": lambda order: order.cancellable(),
    "return": lambda order: order.status == Order.Status.DELIVERED,
}


def offer_orders(
    form: dict[str, Any], *, ctx: Deciding, notes: list[str]
) -> Turn | None:
    """A signed-in shopper gave no order number: take their one order that fits the
    form, or ask which of their latest (as buttons). ``None``: go on (the number
    is filled in, or asked for as from anyone)."""
    form["offered"] = True  # once per form: a second time, the number is asked
    orders = ctx.lookups.shopper_orders(
        email=ctx.incoming.verified_email, shopper_id=ctx.incoming.shopper_id
    )
    fits = FITS.get(form["name"])
    fitting = [o for o in orders if fits(o)] if fits else orders
    # None fits (a return asked of orders not yet delivered): the form explains why
    # for the order they choose.
    fitting = fitting or orders
    if not fitting:
        notes.append(ctx.say("no_orders_on_account", email=ctx.incoming.verified_email))
        return None
    if len(fitting) == 1:
        form["slots"]["order_number"] = fitting[0].number
        return None
    form["asking"] = "order_number"
    buttons = [
        {
            "title": (
                f"{o.number} ({o.get_status_display().lower()}, "
                f"placed {o.placed_at:%-d %b %Y})"
            ),
            "payload": {"order_number": o.number},
        }
        for o in fitting
    ]
    return Turn(
        ctx.say("ask_which_order", count=len(fitting)),
        payload={"quick_replies": buttons},
    )


def prefixed(notes: list[str], turn: Turn) -> Turn:
    if notes:
        turn.text = " ".join([*notes, turn.text])
    return turn
