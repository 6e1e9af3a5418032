"""The dialogue policy: for each customer message, decide one action.

    (form in progress?) → the action the intent maps to in ACTIONS

Actions: SAY a canned response, ANSWER from the knowledge base, run a FORM,
RECOMMEND products, HANDOFF to a person, CLARIFY (top intents close or confidence
low), FALLBACK (out of scope). Two failed turns in a row hand over to a person, and
so does frustration (the model's ``frustration`` intent, or a keyword backstop). A
message with several requests is answered whole or the customer is asked which
first (``chatbot.dialogue.multi``).

``decide`` is a pure function: the message, the model's classification, the
conversation's state and read-only lookups in; a ``Decision`` (the reply and its
effects) out. It writes nothing; ``chatbot.services.bot_reply`` applies it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from chatbot.dialogue import forms, multi
from chatbot.dialogue.decision import Deciding, Decision, Incoming, Lookups, Reply
from classifier.serving import Classification
from recommender.models import Product


class Act(enum.Enum):
    SAY = "say"
    ANSWER = "answer"
    FORM = "form"
    RECOMMEND = "recommend"
    HANDOFF = "handoff"


# Intent → (action, argument). Intents not listed are answered from the knowledge base.
ACTIONS: dict[str, tuple[Act, str]] = {
    "greeting": (Act.SAY, "greeting"),
    "thanks": (Act.SAY, "thanks"),
    "goodbye": (Act.SAY, "goodbye"),
    "bot_capabilities": (Act.SAY, "bot_capabilities"),
    "order_status": (Act.FORM, "order_status"),
    "track_order": (Act.FORM, "order_tracking"),
    "refund_status": (Act.FORM, "refund"),
    "cancel_order": (Act.FORM, "cancel"),
    "return_item": (Act.FORM, "return"),
    "product_recommendation": (Act.RECOMMEND, ""),
    "product_availability": (Act.RECOMMEND, ""),
    "talk_to_person": (Act.HANDOFF, "asked for a person"),
    "complaint": (Act.HANDOFF, "complaint"),
    "frustration": (Act.HANDOFF, "frustration"),
}
DEFAULT_ACTION = (Act.ANSWER, "")

# Below this confidence, or with the runner-up this close, the bot asks instead.
CLARIFY_BELOW = 0.55
CLARIFY_MARGIN = 0.2
# A message that doesn't fit an open form switches topic only when this sure.
SWITCH_TOPIC_ABOVE = 0.7
MAX_FAILED_TURNS = 2
# No product cards once a conversation is about a grievance or money back.
NO_RECOMMENDATIONS_AFTER = {
    "complaint",
    "refund_status",
    "return_item",
    "damaged_or_wrong_item",
    "cancel_order",
}
# A request about what's on screen or in the cart rather than a description.
ABOUT_CONTEXT = re.compile(
    r"\b(this one|this product|this item|like this|like the one|similar|goes? with|"
    r"match(?:es)? (?:it|this)|with my cart|in my cart|what else|also buy|"
    r"complete (?:the|my) (?:look|set|outfit))\b",
    re.IGNORECASE,
)
# A backstop to the model's ``frustration`` intent: words no one uses calmly.
FRUSTRATION = re.compile(
    r"\b(useless|ridiculous|terrible|awful|worst|pathetic|waste of time|fed up|"
    r"sick of|unacceptable|are you (?:even )?listening|stupid bot|not helping)\b"
    r"|!{3,}",
    re.IGNORECASE,
)


def decide(
    incoming: Incoming,
    classification: Classification | None,
    *,
    state: Mapping[str, Any],
    lookups: Lookups,
) -> Decision:
    """Choose the bot's reply to ``incoming`` and the effects that go with it.

    Args:
        incoming: the customer's message (text, button payload, who sent it).
        classification: the intent model's reading of the text, or the intent a
            clarification button named; ``None`` while no model is active.
        state: the conversation's dialogue state; it is copied, never changed.
        lookups: the read-only questions the policy may ask of the shop.

    Returns:
        The reply, the new dialogue state, and the effects to apply with it.
    """
    ctx = Deciding(incoming, state=state, lookups=lookups)
    return ctx.decision(offer_later(ctx, respond(ctx, classification)))


def late_reply(*, state: Mapping[str, Any], lookups: Lookups) -> Decision:
    """The bot could not answer in time: apologise and hand over to a person.

    With nobody online the customer is asked for an email, as on any handoff.
    """
    ctx = Deciding(Incoming(text=""), state=state, lookups=lookups)
    return ctx.decision(
        handoff(ctx, reason="no reply in time", prefix=ctx.say("late_reply"))
    )


def respond(ctx: Deciding, classification: Classification | None) -> Reply:
    state = ctx.state
    postback = ctx.incoming.postback
    text = ctx.incoming.text
    if isinstance(postback.get("request"), str):
        # A button naming one request of an earlier message: its own words.
        text = postback["request"]
        later_done(state, text)

    if postback.get("action") == "handoff":
        return handoff(ctx, reason="pressed “talk to a person”")
    if state.get("form", {}).get("name") == "followup_email":
        return followup_email(ctx, text)

    if classification is not None:
        remember_topic(state, classification)

    if form := state.get("form"):
        turn = forms.step(form, text=text, postback=postback, ctx=ctx)
        if turn is None and not switching_topic(classification, form):
            return failed(
                ctx,
                ctx.say(
                    "form_reask",
                    field=forms.FIELD_NAMES.get(form.get("asking", ""), "details"),
                ),
                classification,
                action="form",
            )
        if turn is not None:
            return form_reply(ctx, turn, classification)
        state.pop("form")  # the customer moved on to something else

    if classification is None:
        return failed(ctx, ctx.say("fallback"), None)
    if frustrated(classification, text):
        return handoff(
            ctx,
            reason="frustration",
            classification=classification,
            prefix=ctx.say("frustration"),
        )
    if several := several_requests(ctx):
        return several
    if classification.out_of_scope:
        return failed(ctx, ctx.say("fallback"), classification)
    if unsure(classification):
        return clarify(ctx, classification)

    answered = act_on(ctx, classification, text)
    if not ctx.turn_failed:
        # Only a turn that got somewhere clears the count: a confident intent whose
        # answer is not found is a failed turn like any other.
        state["failed_turns"] = 0
    return answered


def act_on(ctx: Deciding, classification: Classification, text: str) -> Reply:
    """The action the (confident, in-scope) intent maps to in ACTIONS."""
    state = ctx.state
    act, argument = ACTIONS.get(classification.intent, DEFAULT_ACTION)
    if act is Act.SAY:
        return reply(
            ctx.say(argument, customer=customer_context(ctx)),
            classification,
            action="say",
        )
    if act is Act.FORM:
        state["form"] = forms.start(argument, text)
        turn = forms.step(state["form"], text=text, postback=None, ctx=ctx, first=True)
        assert turn is not None
        return form_reply(ctx, turn, classification)
    if act is Act.RECOMMEND:
        return recommend(ctx, text, classification)
    if act is Act.HANDOFF:
        prefix = ctx.say("complaint") if classification.intent == "complaint" else ""
        return handoff(
            ctx, reason=argument, classification=classification, prefix=prefix
        )
    return answer(ctx, text, classification)


# --- steps ------------------------------------------------------------------------


def unsure(c: Classification) -> bool:
    margin = c.top_k[0][1] - c.top_k[1][1] if len(c.top_k) > 1 else 1.0
    return c.confidence < CLARIFY_BELOW or margin < CLARIFY_MARGIN


def frustrated(c: Classification, text: str) -> bool:
    """The model reads frustration with the chat itself, or the words say it."""
    by_model = (
        c.intent == "frustration"
        and not c.out_of_scope
        and c.confidence >= CLARIFY_BELOW
    )
    return by_model or bool(FRUSTRATION.search(text))


def switching_topic(c: Classification | None, form: dict[str, Any]) -> bool:
    return (
        c is not None
        and not c.out_of_scope
        and c.confidence >= SWITCH_TOPIC_ABOVE
        and ACTIONS.get(c.intent, DEFAULT_ACTION) != (Act.FORM, form["name"])
    )


def remember_topic(state: dict[str, Any], c: Classification) -> None:
    topics = set(state.get("topics", []))
    topics.add(c.intent)
    state["topics"] = sorted(topics)
    state["last_top_k"] = [[name, round(p, 3)] for name, p in c.top_k[:3]]


def reply(text: str, c: Classification | None, *, action: str, **payload: Any) -> Reply:
    return Reply(
        text=text,
        payload=payload,
        action=action,
        intent=c.intent if c else "",
        confidence=c.confidence if c else None,
        model_version_id=(c.model_version_id or None) if c else None,
    )


def tried(state: dict[str, Any], what: str) -> None:
    state["tried"] = [*state.get("tried", []), what][-10:]


def failed(
    ctx: Deciding, text: str, c: Classification | None, *, action: str = "fallback"
) -> Reply:
    ctx.turn_failed = True
    if too_many_failures(ctx.state):
        return handoff(ctx, reason="two failed turns", classification=c)
    tried(ctx.state, "fallback" if c is None or c.out_of_scope else "re-asked")
    return reply(text, c, action=action, quick_replies=[talk_to_person_button()])


def too_many_failures(state: dict[str, Any]) -> bool:
    """Count a failed turn; True on the second in a row (time for a person)."""
    state["failed_turns"] = state.get("failed_turns", 0) + 1
    return bool(state["failed_turns"] >= MAX_FAILED_TURNS)


def clarify(ctx: Deciding, c: Classification) -> Reply:
    if too_many_failures(ctx.state):
        return handoff(ctx, reason="two failed turns", classification=c)
    tried(ctx.state, "clarified")
    buttons = [
        {"title": name.replace("_", " ").capitalize(), "payload": {"intent": name}}
        for name, _ in c.top_k
        if name != "oos"
    ][:3]
    return reply(
        ctx.say("clarify"),
        c,
        action="clarify",
        quick_replies=[*buttons, talk_to_person_button()],
    )


def talk_to_person_button() -> dict[str, Any]:
    return {"title": "Talk to a person", "payload": {"action": "handoff"}}


def form_reply(ctx: Deciding, turn: forms.Turn, c: Classification | None) -> Reply:
    state = ctx.state
    state["failed_turns"] = 0
    form = state.get("form") or {}
    tried(state, f"form {form.get('name')}")
    if turn.done:
        state["last_form"] = state.pop("form", None)
    if turn.handoff:
        return handoff(
            ctx,
            reason="order lookup failed twice",
            classification=c,
            prefix=turn.text,
        )
    return reply(turn.text, c, action="form", **(turn.payload or {}))


def answer(ctx: Deciding, text: str, c: Classification) -> Reply:
    article = ctx.lookups.find_article(text)
    if article is None:
        return failed(ctx, ctx.say("fallback"), c)
    tried(ctx.state, f"article {article.slug}")
    intro = ctx.say("kb_answer_intro", article={"title": article.title})
    return reply(
        f"{intro}\n\n{article.body.strip()}",
        c,
        action="answer",
        article={"title": article.title, "url": article.get_absolute_url()},
    )


def recommend(ctx: Deciding, text: str, c: Classification) -> Reply:
    topics = set(ctx.state.get("topics", []))
    if topics & NO_RECOMMENDATIONS_AFTER:
        # Selling to someone who is upset or asking for money back reads badly.
        return answer(ctx, text, c)
    tried(ctx.state, "recommended")
    customer_id = ctx.incoming.customer_id
    if ABOUT_CONTEXT.search(text):
        # "Something that goes with this": what they look at and have in the cart
        # speaks louder than the words; the hybrid recommender ranks from those.
        viewing, cart = ctx.lookups.shopping_context(customer_id)
        picks = ctx.lookups.recommend_for(
            customer_id=customer_id, viewing_sku=viewing, cart_skus=cart, limit=3
        )
        if picks:
            return reply(
                ctx.say("recommend_intro"), c, action="recommend", cards=cards(picks)
            )
    products, constraints = ctx.lookups.search_products(text)
    if constraints.impossible:
        return reply(
            ctx.say("recommend_impossible", reason=constraints.impossible),
            c,
            action="recommend",
        )
    if not products:
        return reply(ctx.say("recommend_none"), c, action="recommend")
    why = constraints.describe()
    reason = f"Matches what you asked for{', ' + why if why else ''}"
    return reply(
        ctx.say("recommend_intro"),
        c,
        action="recommend",
        cards=cards([(p, reason) for p in products]),
    )


def cards(picks: list[tuple[Product, str]]) -> list[dict[str, Any]]:
    return [
        {
            "sku": p.sku,
            "name": p.name,
            "price": str(p.price),
            "currency": p.currency,
            "image": p.image,
            "url": p.url,
            "reason": why,
        }
        for p, why in picks
    ]


def handoff(
    ctx: Deciding,
    *,
    reason: str,
    classification: Classification | None = None,
    prefix: str = "",
) -> Reply:
    """Hand the conversation to a person and leave them a context pack."""
    state = ctx.state
    state["handoff"] = {
        "reason": reason,
        "top_intents": state.get("last_top_k", []),
        "form": state.get("form") or state.get("last_form"),
        "tried": state.get("tried", []),
        "at": ctx.lookups.now().isoformat(),
    }
    state.pop("form", None)
    state["failed_turns"] = 0
    ctx.handoff = reason
    queue = ctx.lookups.queue()
    if queue.agents_online:
        # Someone is there to answer (even after hours): the honest line and wait.
        text = ctx.say(
            "handoff",
            queue={
                "position": queue.position,
                "wait_minutes": max(1, round(queue.wait_seconds / 60)),
            },
        )
    else:
        # Nobody to wait for: no place or wait is promised; the conversation stays
        # in the queue for the first agent, and the bot asks where to reply.
        state["form"] = {"name": "followup_email", "slots": {}}
        text = offline_text(ctx)
    return reply(
        " ".join(filter(None, [prefix, text])), classification, action="handoff"
    )


def offline_text(ctx: Deciding) -> str:
    """Why nobody answers now: the shop is closed (and when it opens), or it is open
    and everyone is busy or away."""
    shop = ctx.lookups.shop()
    now = ctx.lookups.now()
    opens = None if shop.is_open(now) else shop.next_opening(now)
    if opens is None:
        return ctx.say("handoff_no_agents", hours=shop.hours_text())
    local_now = now.astimezone(opens.tzinfo)
    day = "today" if opens.date() == local_now.date() else opens.strftime("%A")
    return ctx.say(
        "handoff_closed",
        opens=f"{day} {opens:%H:%M} ({shop.timezone})",
        hours=shop.hours_text(),
    )


def followup_email(ctx: Deciding, text: str) -> Reply:
    address = forms.email(text)
    if address is None:
        if forms.ABANDON.search(text) or forms.NO.search(text):
            ctx.state.pop("form", None)
            return reply(ctx.say("form_abandoned"), None, action="handoff")
        return reply(ctx.say("ask_followup_email"), None, action="handoff")
    ctx.followup_email = address
    ctx.state.pop("form", None)
    ctx.state["followup_email"] = address
    return reply(ctx.say("handoff_email_saved"), None, action="handoff")


# --- several requests in one message (chatbot.dialogue.multi) --------------------


def several_requests(ctx: Deciding) -> Reply | None:
    """Answer every request of the message, or ask which to do first; ``None`` when
    the message holds one request (the whole message is read as one)."""
    found = multi.requests(ctx.incoming.parts, sure=lambda c: not unsure(c))
    action = {r.intent: ACTIONS.get(r.intent, DEFAULT_ACTION)[0] for r in found}
    chosen = multi.plan(
        found,
        starts_form=lambda intent: action[intent] is Act.FORM,
        hands_over=lambda intent: action[intent] is Act.HANDOFF,
    )
    if chosen == "single":
        return None
    if chosen == "handoff":
        first = next(r for r in found if action[r.intent] is Act.HANDOFF)
        return act_on(ctx, first.classification, ctx.incoming.text)
    if chosen == "ask":
        # A form takes several turns: the customer picks, the rest waits its turn.
        ctx.state["later_requests"] = [request_button(r) for r in found]
        ctx.state["later_fresh"] = True
        tried(ctx.state, "asked which first")
        return reply(
            ctx.say("multi_which_first"),
            found[0].classification,
            action="clarify",
            quick_replies=[request_button(r) for r in found],
        )
    replies = []
    for request in found:
        replies.append(act_on(ctx, request.classification, request.text))
        if ctx.handoff:  # e.g. the second failed turn: a person takes it from here
            break
    if not ctx.turn_failed:
        ctx.state["failed_turns"] = 0
    return together(replies)


def request_button(request: multi.Request) -> dict[str, Any]:
    return {
        "title": request.label(),
        "payload": {"intent": request.intent, "request": request.text},
    }


def together(replies: list[Reply]) -> Reply:
    """Several answers as one reply: the texts in order, lists (cards, buttons)
    joined, and the first of anything else (the first article's link)."""
    payload: dict[str, Any] = {}
    for one in replies:
        for key, value in one.payload.items():
            if isinstance(value, list):
                payload[key] = [*payload.get(key, []), *value]
            else:
                payload.setdefault(key, value)
    first = replies[0]
    return Reply(
        text="\n\n".join(r.text for r in replies),
        payload=payload,
        intent=first.intent,
        confidence=first.confidence,
        model_version_id=first.model_version_id,
        action=first.action,
    )


def later_done(state: dict[str, Any], text: str) -> None:
    """The request ``text`` is being done now: it no longer waits."""
    later = [
        b for b in state.get("later_requests", []) if b["payload"]["request"] != text
    ]
    if later:
        state["later_requests"] = later
    else:
        state.pop("later_requests", None)


def offer_later(ctx: Deciding, answered: Reply) -> Reply:
    """Once the request in hand is done (no form open, no handoff), offer the next
    one the customer asked for in the same message."""
    state = ctx.state
    if state.pop("later_fresh", False) or not state.get("later_requests"):
        return answered
    if state.get("form") or ctx.handoff:
        return answered
    button = state["later_requests"].pop(0)
    if not state["later_requests"]:
        state.pop("later_requests")
    offer = ctx.say("multi_offer", request=button["title"])
    buttons = [*answered.payload.get("quick_replies", []), button]
    return Reply(
        text=f"{answered.text}\n\n{offer}",
        payload={**answered.payload, "quick_replies": buttons},
        intent=answered.intent,
        confidence=answered.confidence,
        model_version_id=answered.model_version_id,
        action=answered.action,
    )


def customer_context(ctx: Deciding) -> dict[str, str]:
    name = ctx.incoming.customer_name
    return {"name": name, "name_suffix": f", {name}" if name else ""}
