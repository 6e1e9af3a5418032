"""The dialogue policy: for each customer message, choose one action.

    classify → (form in progress?) → the action the intent maps to in ACTIONS

Actions: SAY a canned response, ANSWER from the knowledge base, run a FORM,
RECOMMEND products, HANDOFF to a person, CLARIFY (top intents close or confidence
low), FALLBACK (out of scope). Two failed turns in a row hand over to a person.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from chatbot.dialogue import forms
from chatbot.dialogue.knowledge import best_article
from chatbot.dialogue.responses import say
from chatbot.models import Conversation, Customer, Message
from classifier.models import Intent
from classifier.serving import Classification, classify
from recommender import search
from recommender.hybrid import recommend_for
from recommender.models import Interaction, Product


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
VIEWING_WINDOW = timedelta(minutes=30)
CART_WINDOW = timedelta(days=1)
FRUSTRATION = re.compile(
    r"\b(useless|ridiculous|terrible|awful|worst|pathetic|waste of time|fed up|"
    r"sick of|unacceptable|are you (?:even )?listening|stupid bot|not helping)\b"
    r"|!{3,}",
    re.IGNORECASE,
)


@dataclass
class Reply:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    intent: str = ""
    confidence: float | None = None
    model_version_id: int | None = None
    handoff_reason: str | None = None


def respond(message: Message) -> Reply:
    """Choose and produce the bot's reply to a customer ``message``.

    Updates ``message.conversation.state`` (the caller saves it).
    """
    conversation = message.conversation
    state = conversation.state
    postback = (message.payload or {}).get("postback") or {}
    text = message.text

    if postback.get("action") == "handoff":
        return handoff(conversation, reason="pressed “talk to a person”")
    if state.get("form", {}).get("name") == "followup_email":
        return followup_email(conversation, text)

    classification = classified(text, postback)
    if classification is not None:
        remember_topic(state, classification)

    if form := state.get("form"):
        turn = forms.step(form, text=text, postback=postback, conversation=conversation)
        if turn is None and not switching_topic(classification, form):
            return failed(
                conversation,
                say(
                    "form_reask",
                    field=forms.FIELD_NAMES.get(form.get("asking", ""), "details"),
                ),
                classification,
            )
        if turn is not None:
            return form_reply(conversation, turn, classification)
        state.pop("form")  # the customer moved on to something else

    if classification is None:
        return failed(conversation, say("fallback"), None)
    if FRUSTRATION.search(text):
        return handoff(
            conversation,
            reason="frustration",
            classification=classification,
            prefix=say("complaint"),
        )
    if classification.out_of_scope:
        return failed(conversation, say("fallback"), classification)
    if unsure(classification):
        return clarify(conversation, classification)

    state["failed_turns"] = 0
    act, argument = ACTIONS.get(classification.intent, DEFAULT_ACTION)
    if act is Act.SAY:
        return reply(
            say(argument, customer=customer_context(conversation.customer)),
            classification,
        )
    if act is Act.FORM:
        state["form"] = forms.start(argument, text)
        turn = forms.step(
            state["form"],
            text=text,
            postback=None,
            conversation=conversation,
            first=True,
        )
        assert turn is not None
        return form_reply(conversation, turn, classification)
    if act is Act.RECOMMEND:
        return recommend(conversation, text, classification)
    if act is Act.HANDOFF:
        prefix = say("complaint") if classification.intent == "complaint" else ""
        return handoff(
            conversation, reason=argument, classification=classification, prefix=prefix
        )
    return answer(conversation, text, classification)


# --- steps ------------------------------------------------------------------------


def classified(text: str, postback: dict[str, Any]) -> Classification | None:
    """The model's reading, or the intent a clarification button named."""
    result = classify(text)
    chosen = postback.get("intent")
    if isinstance(chosen, str) and Intent.objects.filter(name=chosen).exists():
        return Classification(
            intent=chosen,
            confidence=1.0,
            top_k=[(chosen, 1.0)],
            out_of_scope=False,
            model_version_id=result.model_version_id if result else 0,
            model_version=result.model_version if result else "",
        )
    return result


def unsure(c: Classification) -> bool:
    margin = c.top_k[0][1] - c.top_k[1][1] if len(c.top_k) > 1 else 1.0
    return c.confidence < CLARIFY_BELOW or margin < CLARIFY_MARGIN


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


def reply(text: str, c: Classification | None, **payload: Any) -> Reply:
    return Reply(
        text=text,
        payload=payload,
        intent=c.intent if c else "",
        confidence=c.confidence if c else None,
        model_version_id=(c.model_version_id or None) if c else None,
    )


def tried(state: dict[str, Any], what: str) -> None:
    state["tried"] = [*state.get("tried", []), what][-10:]


def failed(conversation: Conversation, text: str, c: Classification | None) -> Reply:
    if too_many_failures(conversation):
        return handoff(conversation, reason="two failed turns", classification=c)
    tried(conversation.state, "fallback" if c is None or c.out_of_scope else "re-asked")
    return reply(text, c, quick_replies=[talk_to_person_button()])


def too_many_failures(conversation: Conversation) -> bool:
    """Count a failed turn; True on the second in a row (time for a person)."""
    state = conversation.state
    state["failed_turns"] = state.get("failed_turns", 0) + 1
    return bool(state["failed_turns"] >= MAX_FAILED_TURNS)


def clarify(conversation: Conversation, c: Classification) -> Reply:
    if too_many_failures(conversation):
        return handoff(conversation, reason="two failed turns", classification=c)
    tried(conversation.state, "clarified")
    buttons = [
        {"title": name.replace("_", " ").capitalize(), "payload": {"intent": name}}
        for name, _ in c.top_k
        if name != "oos"
    ][:3]
    return reply(say("clarify"), c, quick_replies=[*buttons, talk_to_person_button()])


def talk_to_person_button() -> dict[str, Any]:
    return {"title": "Talk to a person", "payload": {"action": "handoff"}}


def form_reply(
    conversation: Conversation, turn: forms.Turn, c: Classification | None
) -> Reply:
    state = conversation.state
    state["failed_turns"] = 0
    form = state.get("form") or {}
    tried(state, f"form {form.get('name')}")
    if turn.done:
        state["last_form"] = state.pop("form", None)
    if turn.handoff:
        return handoff(
            conversation,
            reason="order lookup failed twice",
            classification=c,
            prefix=turn.text,
        )
    return reply(turn.text, c, **(turn.payload or {}))


def answer(conversation: Conversation, text: str, c: Classification) -> Reply:
    found = best_article(text)
    if found is None:
        return failed(conversation, say("fallback"), c)
    article, _ = found
    tried(conversation.state, f"article {article.slug}")
    intro = say("kb_answer_intro", article={"title": article.title})
    return reply(
        f"{intro}\n\n{article.body.strip()}",
        c,
        article={"title": article.title, "url": article.get_absolute_url()},
    )


def recommend(conversation: Conversation, text: str, c: Classification) -> Reply:
    topics = set(conversation.state.get("topics", []))
    if topics & NO_RECOMMENDATIONS_AFTER:
        # Selling to someone who is upset or asking for money back reads badly.
        return answer(conversation, text, c)
    tried(conversation.state, "recommended")
    if ABOUT_CONTEXT.search(text):
        # "Something that goes with this": what they look at and have in the cart
        # speaks louder than the words; the hybrid recommender ranks from those.
        viewing, cart = shopping_context(conversation.customer_id)
        picks = recommend_for(
            customer_id=conversation.customer_id,
            viewing_sku=viewing,
            cart_skus=cart,
            limit=3,
        )
        if picks:
            return reply(say("recommend_intro"), c, cards=cards(picks))
    products, constraints = search.search(text)
    if constraints.impossible:
        return reply(say("recommend_impossible", reason=constraints.impossible), c)
    if not products:
        return reply(say("recommend_none"), c)
    why = constraints.describe()
    reason = f"Matches what you asked for{', ' + why if why else ''}"
    return reply(
        say("recommend_intro"), c, cards=cards([(p, reason) for p in products])
    )


def shopping_context(customer_id: int) -> tuple[str | None, list[str]]:
    """The product the customer viewed last (recently) and what is in their cart."""
    now = timezone.now()
    recent = Interaction.objects.filter(customer_id=customer_id)
    viewing = (
        recent.filter(kind="view", created__gte=now - VIEWING_WINDOW)
        .order_by("-created")
        .values_list("product__sku", flat=True)
        .first()
    )
    cart = list(
        recent.filter(kind="add_to_cart", created__gte=now - CART_WINDOW)
        .order_by("created")
        .values_list("product__sku", flat=True)
        .distinct()
    )
    return viewing, cart


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
    conversation: Conversation,
    *,
    reason: str,
    classification: Classification | None = None,
    prefix: str = "",
) -> Reply:
    """Queue the conversation for a person and leave them a context pack."""
    from chatbot.selectors import agents_online, status_frame

    state = conversation.state
    state["handoff"] = {
        "reason": reason,
        "top_intents": state.get("last_top_k", []),
        "form": state.get("form") or state.get("last_form"),
        "tried": state.get("tried", []),
        "at": timezone.now().isoformat(),
    }
    state.pop("form", None)
    state["failed_turns"] = 0
    with transaction.atomic():
        conversation.status = Conversation.Status.WAITING_FOR_AGENT
        conversation.waiting_since = timezone.now()
        conversation.save(update_fields=["status", "waiting_since", "state", "updated"])
    if agents_online() == 0:
        state["form"] = {"name": "followup_email", "slots": {}}
        text = say("handoff_no_agents")
    else:
        frame = status_frame(conversation)
        text = say(
            "handoff",
            queue={
                "position": frame["queue_position"],
                "wait_minutes": max(1, round(frame["expected_wait_seconds"] / 60)),
            },
        )
    result = reply(" ".join(filter(None, [prefix, text])), classification)
    result.handoff_reason = reason
    return result


def followup_email(conversation: Conversation, text: str) -> Reply:
    address = forms.email(text)
    if address is None:
        if forms.ABANDON.search(text) or forms.NO.search(text):
            conversation.state.pop("form", None)
            return reply(say("form_abandoned"), None)
        return reply(say("ask_followup_email"), None)
    Customer.objects.filter(pk=conversation.customer_id).update(email=address)
    conversation.state.pop("form", None)
    conversation.state["followup_email"] = address
    return reply(say("handoff_email_saved"), None)


def customer_context(customer: Customer) -> dict[str, str]:
    return {
        "name": customer.name,
        "name_suffix": f", {customer.name}" if customer.name else "",
    }
