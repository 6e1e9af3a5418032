"""The dialogue policy: for each customer message, decide one action.

    (form in progress?) → the action the intent maps to in ACTIONS

Actions: SAY a canned response, ANSWER from the knowledge base (the intent's linked
articles first), run a FORM (a question about its policy is answered first and the
form offered), RECOMMEND products, HANDOFF to a person, CLARIFY (top intents close
or confidence low), FALLBACK (out of scope). Two failed turns in a row hand over to
a person, and so does frustration (the model's ``frustration`` intent, or a keyword
backstop). A message with several requests is answered whole or the customer is
asked which first (``chatbot.dialogue.multi``).

``decide`` is a pure function: the message, the model's classification, the
conversation's state and read-only lookups in; a ``Decision`` (the reply and its
effects) out. It writes nothing; ``chatbot.services.bot_reply`` applies it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from chatbot.dialogue import articles, followups, forms, multi, questions
from chatbot.dialogue.decision import Deciding, Decision, Incoming, Lookups, Reply
from classifier.serving import Classification
from recommender.models import Product
from recommender.search import Constraints, Found, best_named, parse_constraints


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
# The intents that ask about what the shop sells.
PRODUCT_INTENTS = ("product_recommendation", "product_availability")
# An unsure reading is taken as a product request only when the model gives a
# product intent at least this much ("is it gonna rain this weekend" names a rain
# jacket's word, at 0.01).
PRODUCT_GUESS_AT_LEAST = 0.1

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
# A backstop to the model's ``frustration`` intent: words no one uses calmly. Piled-up
# punctuation is not among them: "is there a warranty?????!!!!!" is an eager
# question, and the model reads it without the noise (classifier.normalise).
FRUSTRATION = re.compile(
    r"\b(useless|ridiculous|terrible|awful|worst|pathetic|waste of time|fed up|"
    r"sick of|unacceptable|are you (?:even )?listening|stupid bot|not helping)\b",
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
    text = original_text(ctx)
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
            filled = form_reply(ctx, turn, classification, value=True)
            filled.form_value = True
            return filled
        # The customer moved on to something else; a value sent later resumes it.
        state["dropped_form"] = state.pop("form")

    if (routed := route(ctx, classification, text)) is not None:
        return routed

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
    if (classification.out_of_scope or unsure(classification)) and (
        shopping := shopping_request(ctx, classification, text)
    ):
        classification = shopping
    elif classification.out_of_scope:
        return failed(ctx, ctx.say("fallback"), classification)
    elif unsure(classification):
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
        if asks_about_policy(ctx, argument, text):
            return answer(ctx, text, classification, offer=argument)
        state["form"] = forms.start(argument, text, shop=ctx.lookups.shop())
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
    """Too unsure to act: the best guess is weak or the runner-up close. Guesses
    that would do the same thing (recommend, for the two product intents) count as
    one: there is nothing to ask between them."""
    same = ACTIONS.get(c.intent)
    alike = [p for name, p in c.top_k if same is not None and ACTIONS.get(name) == same]
    others = [p for name, p in c.top_k[1:] if same is None or ACTIONS.get(name) != same]
    confidence = max(c.confidence, sum(alike))
    margin = confidence - others[0] if others else 1.0
    return confidence < CLARIFY_BELOW or margin < CLARIFY_MARGIN


def shopping_request(
    ctx: Deciding, c: Classification, text: str
) -> Classification | None:
    """An unsure reading of a message that names what the shop sells, with a
    product intent among the model's guesses: the reading as that product intent.

    "show me headlamps" or "a tent around 300 bucks" say little besides the product,
    and a model trained on whole questions spreads its guesses; the catalog settles
    it. A grievance or an order form among the first guesses ("my skillet arrived
    cracked") keeps the question for the customer.
    """
    guesses = [(name, p) for name, p in c.top_k[:3] if name != "oos"]
    product = next(((n, p) for n, p in guesses if n in PRODUCT_INTENTS), None)
    if product is None or product[1] < PRODUCT_GUESS_AT_LEAST:
        return None
    ahead = [n for n, _ in guesses[: guesses.index(product)]]
    if any(
        n in NO_RECOMMENDATIONS_AFTER
        or ACTIONS.get(n, DEFAULT_ACTION)[0] in (Act.FORM, Act.HANDOFF)
        for n in ahead
    ):
        return None
    wanted = parse_constraints(text, currency=ctx.lookups.shop().currency)
    if not (wanted.categories or ctx.lookups.product_named(text)):
        return None
    name, probability = product
    return dataclasses.replace(
        c, intent=name, confidence=probability, out_of_scope=False
    )


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
        uncertainty=c.uncertainty if c else None,
        ranking=list(c.ranking) if c else [],
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
    offered = [name for name, _ in c.top_k if name != "oos"][:3]
    buttons = [
        {"title": name.replace("_", " ").capitalize(), "payload": {"intent": name}}
        for name in offered
    ]
    # The button's title is not what the customer asked: keep their words (and so
    # the constraints and order number in them) for the intent they choose.
    ctx.state["clarifying"] = {"text": ctx.incoming.text, "intents": offered}
    return reply(
        ctx.say("clarify"),
        c,
        action="clarify",
        quick_replies=[*buttons, talk_to_person_button()],
    )


talk_to_person_button = forms.talk_to_person_button


def form_reply(
    ctx: Deciding, turn: forms.Turn, c: Classification | None, *, value: bool = False
) -> Reply:
    """What a form says. ``value``: the message gave the form a value (an order
    number, an email, a yes) rather than asking for something."""
    state = ctx.state
    form = state.get("form") or {}
    tried(state, f"form {form.get('name')}")
    if turn.done:
        state["last_form"] = state.pop("form", None)
        state.pop("dropped_form", None)  # one left earlier is history now
    if turn.handoff:
        return handoff(
            ctx,
            reason="order lookup failed twice",
            classification=c,
            prefix=turn.text,
        )
    if turn.failed:
        ctx.turn_failed = True
        if too_many_failures(state):
            return handoff(
                ctx, reason="two failed turns", classification=c, prefix=turn.text
            )
    else:
        state["failed_turns"] = 0
    if value:
        return form_value_reply(turn, form.get("name", ""))
    return reply(turn.text, c, action="form", **(turn.payload or {}))


# Form → the intent that starts it: a value typed into a form is recorded as that.
FORM_INTENTS = {
    arg: intent for intent, (act, arg) in ACTIONS.items() if act is Act.FORM
}


def form_value_reply(turn: forms.Turn, form_name: str) -> Reply:
    """The reply to a value given to a form: recorded with the form's intent and no
    model reading (the value is not a request the model should learn or be judged
    on), and marked ``form_turn`` in the payload."""
    return Reply(
        text=turn.text,
        payload={**(turn.payload or {}), "form_turn": form_name},
        action="form",
        intent=FORM_INTENTS.get(form_name, ""),
    )


def answer(ctx: Deciding, text: str, c: Classification, *, offer: str = "") -> Reply:
    """Answer from the help centre: quote the section nearest the question, from the
    intent's own articles first, with the link to the article.

    ``offer``: the form the question is about (``return``, ``cancel``); the policy
    is answered first and the form offered as a button (class 5 of #13).
    """
    passage = help_centre_passage(ctx, text, c.intent)
    lead = policy_lead(ctx, text, offer=offer)
    buttons = [OFFERS[offer] | {"payload": {"intent": c.intent}}] if offer else []
    if passage is None:
        if offer and not lead:  # no article says it: the policy in a sentence
            lead = ctx.say(f"{offer}_policy")
        if not lead:
            return failed(ctx, ctx.say("fallback"), c)
        tried(ctx.state, f"policy {offer}")
        return reply(lead, c, action="answer", quick_replies=buttons)
    article = passage.article
    tried(ctx.state, f"article {article.slug}")
    intro = ctx.say("kb_answer_intro", article={"title": article.title})
    quoted = articles.quote(passage, ctx.lookups.shop())
    payload: dict[str, Any] = {
        "article": {"title": article.title, "url": article.get_absolute_url()}
    }
    if buttons:
        payload["quick_replies"] = buttons
    text = "\n\n".join(filter(None, [lead, intro, quoted]))
    return reply(text, c, action="answer", **payload)


# Buttons offering the form a policy question was about.
OFFERS: dict[str, dict[str, Any]] = {
    "return": {"title": "Start a return"},
    "cancel": {"title": "Cancel an order"},
    "refund": {"title": "Check my refund"},
}


# An article of the whole help centre beats the intent's own when its section is
# this much nearer the question (cosine distance): "can I exchange for another size
# instead of a refund" is read as a refund question, and is about exchanges.
CLEARLY_NEARER = 0.1


def help_centre_passage(
    ctx: Deciding, text: str, intent: str
) -> articles.Passage | None:
    """The intent's linked articles first; the whole help centre when none of them
    fits, or when an article there answers clearly better. A linked article that
    fits loosely still beats no answer."""
    linked = ctx.lookups.linked_articles(intent)
    passage = ctx.lookups.find_passage(text, among=linked) if linked else None
    anywhere = ctx.lookups.find_passage(text, among=None)
    if anywhere is None or not anywhere.fits:
        return passage
    if passage is None or not passage.fits:
        return anywhere
    if anywhere.distance + CLEARLY_NEARER < passage.distance:
        return anywhere
    return passage


def policy_lead(ctx: Deciding, text: str, *, offer: str) -> str:
    """What a question about returns is told first: the window, from the shop's
    settings, and whether the time the customer mentions is within it."""
    if offer != "return":
        return ""
    days, said_as = questions.elapsed_days(text), questions.duration_words(text)
    if days is None or said_as is None:
        return ctx.say("return_window")
    in_time = days <= ctx.lookups.shop().return_window_days
    key = "return_window_in_time" if in_time else "return_window_too_late"
    return ctx.say(key, elapsed=said_as)


def answers_from_help_centre(intent: str) -> bool:
    """Whether questions of ``intent`` are answered from articles: the informational
    intents, and those whose form a policy question is asked about (returns)."""
    act, argument = ACTIONS.get(intent, DEFAULT_ACTION)
    return act is Act.ANSWER or (act is Act.FORM and argument in OFFERS)


def asks_about_policy(ctx: Deciding, form: str, text: str) -> bool:
    """A question about what the form's policy allows ("can I still return it after
    three weeks?"), not a request to run it; a button always runs it."""
    if form not in OFFERS or ctx.incoming.postback:
        return False
    numbers = forms.OrderNumbers.of(ctx.lookups.shop().order_number_pattern)
    return questions.asks_about_policy(text, order_number=numbers.lenient)


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
            remember_cards(ctx, [p for p, _ in picks])
            recommended = reply(
                ctx.say("recommend_intro"), c, action="recommend", cards=cards(picks)
            )
            recommended.recommender_version_id = getattr(
                picks, "model_version_id", None
            )
            return recommended
    if followups.STOCK_QUESTION.search(text) and (named := named_in(ctx, text)):
        # "Is the Ridge boot in stock?": a yes or no about that product.
        return about_product(ctx, named, followups.FollowUp("stock"), c)
    found = ctx.lookups.search_products(text, currency=ctx.lookups.shop().currency)
    return show_found(ctx, found, c, text=text)


def named_in(ctx: Deciding, text: str) -> Product | None:
    """The product ``text`` names; for one request of several that says "it" or
    "they" ("…the cloudstep shoes, and are they in stock"), the one the whole
    message names."""
    named = ctx.lookups.product_named(text)
    if named is None and text != ctx.incoming.text and followups.IT.search(text):
        named = ctx.lookups.product_named(ctx.incoming.text)
    return named


def show_found(
    ctx: Deciding,
    found: Found,
    c: Classification | None,
    *,
    text: str,
    intro: str = "",
) -> Reply:
    """Cards for what a search found, saying which constraint could not be met."""
    constraints = found.constraints
    if constraints.impossible:
        return reply(
            ctx.say("recommend_impossible", reason=constraints.impossible),
            c,
            action="recommend",
        )
    if not found.products:
        return reply(ctx.say("recommend_none"), c, action="recommend")
    remember_cards(ctx, found.products, search=(text, constraints))
    if found.unmet:
        intro = ctx.say("recommend_nearest", unmet=" and ".join(found.unmet))
        why = constraints.without(*constraints.asked()).describe()
        reason = f"The closest I have{', ' + why if why else ''}"
    else:
        why = constraints.describe()
        reason = f"Matches what you asked for{', ' + why if why else ''}"
    return reply(
        intro or ctx.say("recommend_intro"),
        c,
        action="recommend",
        cards=cards([(p, reason) for p in found.products]),
    )


def remember_cards(
    ctx: Deciding,
    products: list[Product],
    *,
    search: tuple[str, Constraints] | None = None,
) -> None:
    """Keep the cards shown (in order) and the search behind them for follow-ups."""
    ctx.state["cards"] = [p.sku for p in products]
    ctx.state.pop("focus", None)
    ctx.state.pop("last_search", None)
    if search is not None:
        text, constraints = search
        ctx.state["last_search"] = {
            "text": text,
            "constraints": dataclasses.replace(constraints, exclude=[]).to_state(),
        }


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
            "attributes": dict(p.attributes or {}),
            "in_stock": p.stock > 0,
        }
        for p, why in picks
    ]


# --- follow-ups and values on their own --------------------------------------------


def original_text(ctx: Deciding) -> str:
    """The customer's words: for a clarification button, what they wrote before it
    (its title, "Product recommendation", is not what they asked for)."""
    clarifying = ctx.state.get("clarifying") or {}
    chosen = ctx.incoming.postback.get("intent")
    if chosen and chosen in clarifying.get("intents", []):
        return str(clarifying.get("text") or ctx.incoming.text)
    return ctx.incoming.text


def route(ctx: Deciding, c: Classification | None, text: str) -> Reply | None:
    """Turns read before the intent: a value on its own, a follow-up to cards."""
    clarifying = ctx.state.pop("clarifying", None)
    if ctx.incoming.postback:
        return None  # a button says what it means
    numbers = forms.OrderNumbers.of(ctx.lookups.shop().order_number_pattern)
    routed = None
    if values := followups.values_only(text, order_numbers=numbers):
        routed = values_turn(ctx, values, clarifying=clarifying)
    elif (
        ctx.state.get("cards")
        and not switching_away(c, text)
        and (follow_up := followups.detect(text))
    ):
        routed = followed_up(ctx, follow_up, c, text=text)
    elif (
        followups.STOCK_QUESTION.search(text)
        and not switching_away(c, text)
        and not asks_several(ctx)
        and (named := ctx.lookups.product_named(text))
    ):
        # "Do you have the glacier sunglasses in stock?": a yes or no about the
        # product it names, whatever intent the model reads into it.
        routed = about_product(ctx, named, followups.FollowUp("stock"), c)
        routed.intent, routed.confidence = "product_availability", None
        routed.model_version_id = None
        routed.payload["follow_up"] = "stock"
    if routed is not None and not ctx.turn_failed:
        ctx.state["failed_turns"] = 0
    return routed


def followed_up(
    ctx: Deciding, follow_up: followups.FollowUp, c: Classification | None, *, text: str
) -> Reply | None:
    """The reply to a follow-up, recorded as the product request it continues,
    not as whatever the model made of "in red?" out of context."""
    answered = about_cards(ctx, follow_up, c, text=text)
    if answered is not None:
        answered.intent = FOLLOW_UP_INTENTS[follow_up.kind]
        answered.confidence = answered.model_version_id = None
        answered.payload["follow_up"] = follow_up.kind
    return answered


FOLLOW_UP_INTENTS = {
    "cheaper": "product_recommendation",
    "more": "product_recommendation",
    "refine": "product_recommendation",
    "narrow": "product_recommendation",
    "pick": "product_availability",
    "sizes": "product_availability",
    "colours": "product_availability",
    "stock": "product_availability",
}


def switching_away(c: Classification | None, text: str) -> bool:
    """A confident request for a person or an order form beats a follow-up rule.

    Frustration only when the words say it too: out of context, the model reads
    frustration into "tell me more about the second one".
    """
    if c is None or c.out_of_scope or c.confidence < SWITCH_TOPIC_ABOVE:
        return False
    if c.intent == "frustration":
        return bool(FRUSTRATION.search(text))
    return ACTIONS.get(c.intent, DEFAULT_ACTION)[0] in (Act.FORM, Act.HANDOFF)


def values_turn(
    ctx: Deciding, values: followups.Values, *, clarifying: dict[str, Any] | None
) -> Reply:
    """An order number or email sent on its own resumes the form it belongs to, or
    starts the one the clarification offered, or else the order-status form."""
    state = ctx.state
    given = " ".join(filter(None, [values.order_number, values.email]))
    form = state.pop("dropped_form", None)
    if form is None:
        offered = [
            ACTIONS[i][1]
            for i in (clarifying or {}).get("intents", [])
            if ACTIONS.get(i, DEFAULT_ACTION)[0] is Act.FORM
        ]
        name = offered[0] if offered else "order_status"
        earlier = (clarifying or {}).get("text", "")
        form = forms.start(name, earlier, shop=ctx.lookups.shop())
    slots = form["slots"]
    if values.order_number:
        slots["order_number"] = values.order_number
    if values.email:
        slots["email"] = values.email
    last = state.get("last_order") or {}
    # The order they verified earlier in this conversation needs no proof again.
    if last and slots.get("order_number", "").upper() == last["number"].upper():
        slots.setdefault("email", last["email"])
    state["form"] = form
    tried(state, f"value for {form['name']}: {given}")
    turn = forms.step(form, text="", postback=None, ctx=ctx, first=True)
    assert turn is not None
    return form_reply(ctx, turn, None, value=True)


def about_cards(
    ctx: Deciding, follow_up: followups.FollowUp, c: Classification | None, *, text: str
) -> Reply | None:
    """A follow-up read against the cards just shown; None if they are gone."""
    state = ctx.state
    shown = ctx.lookups.find_products(state["cards"])
    if not shown:
        return None
    picked = None
    if follow_up.position is not None and -len(shown) <= follow_up.position < len(
        shown
    ):
        picked = shown[follow_up.position]
    focused = next((p for p in shown if p.sku == state.get("focus")), None)
    kind = follow_up.kind
    product = picked or best_named(text, shown)
    if product is None and kind == "stock":
        product = ctx.lookups.product_named(text)  # a product not on the cards
    product = product or focused or (shown[0] if len(shown) == 1 else None)
    if kind == "refine" and focused is not None and product is focused:
        # Talking about one product: "and in 46?" asks about it, not for others.
        kind = "sizes" if follow_up.sizes else "colours"
        follow_up = dataclasses.replace(follow_up, kind=kind)
    if kind in ("pick", "stock") or (
        kind in ("sizes", "colours") and product is not None
    ):
        if product is None:
            lines = [product_line(ctx, p, follow_up) for p in shown]
            return reply("\n".join(lines), c, action="recommend")
        return about_product(ctx, product, follow_up, c)
    if kind in ("sizes", "colours"):
        if not (follow_up.sizes or follow_up.colours):
            lines = [product_line(ctx, p, follow_up) for p in shown]
            return reply("\n".join(lines), c, action="recommend")
        kind = "refine"
    return refine_search(ctx, follow_up, c, shown=shown, product=picked)


def refine_search(
    ctx: Deciding,
    follow_up: followups.FollowUp,
    c: Classification | None,
    *,
    shown: list[Product],
    product: Product | None,
) -> Reply:
    """Search again with the last search's constraints, refined by the follow-up."""
    last = ctx.state.get("last_search") or {}
    text = last.get("text", "")
    shop_currency = ctx.lookups.shop().currency
    constraints = (
        Constraints.from_state(last["constraints"])
        if last.get("constraints")
        else Constraints(currency=shop_currency, shop_currency=shop_currency)
    )
    constraints.exclude = []
    if follow_up.kind == "cheaper":
        reference = product or min(shown, key=lambda p: p.price)
        constraints.currency = reference.currency.upper()
        constraints.min_price = constraints.around = None
        constraints.max_price = reference.price - Decimal("0.01")
        what = f"cheaper than {constraints.money(reference.price)}"
    elif follow_up.kind == "more":
        constraints.exclude = [*ctx.state.get("seen", []), *(p.sku for p in shown)]
        what = "else"
    elif follow_up.kind == "narrow":
        # "any for kids?": the same search and constraints, for kids.
        text = f"{text} {follow_up.words}".strip()
        what = follow_up.words
    else:
        if follow_up.colours:
            constraints.colours = list(follow_up.colours)
        if follow_up.sizes:
            constraints.sizes = list(follow_up.sizes)
        names = [n for n in ("colour", "size") if getattr(follow_up, n + "s")]
        what = " ".join(constraints.describe_one(n) for n in names)
    tried(ctx.state, f"refined: {what}")
    found = ctx.lookups.search_products(
        text, constraints=constraints, currency=shop_currency
    )
    if follow_up.kind in ("cheaper", "more") and (found.unmet or not found.products):
        # Nothing cheaper (or nothing else): the same cards again would not help.
        return reply(
            ctx.say("recommend_nothing_more", what=what), c, action="recommend"
        )
    seen = [*ctx.state.get("seen", []), *(p.sku for p in shown)]
    ctx.state["seen"] = list(dict.fromkeys(seen))[-30:]
    intro = "" if found.unmet else ctx.say("recommend_refined", what=what)
    return show_found(ctx, found, c, text=text, intro=intro)


def product_facts(ctx: Deciding, product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "price": f"{product.price_display()}",
        "stock": "in stock" if product.stock > 0 else "sold out at the moment",
        "count": product.stock,
        "colours": ", ".join(product.colours) or "",
        "sizes": ", ".join(product.sizes) or "",
    }


def about_product(
    ctx: Deciding,
    product: Product,
    follow_up: followups.FollowUp,
    c: Classification | None,
) -> Reply:
    """Details of one product, or a yes or no about its stock, sizes or colours."""
    ctx.state["focus"] = product.sku
    tried(ctx.state, f"about {product.sku}")
    text = product_line(ctx, product, follow_up)
    if follow_up.kind == "pick":
        return reply(
            text,
            c,
            action="recommend",
            cards=cards([(product, "The one you picked")]),
            focus=product.sku,
        )
    return reply(text, c, action="recommend", focus=product.sku)


def product_line(ctx: Deciding, product: Product, follow_up: followups.FollowUp) -> str:
    facts = product_facts(ctx, product)
    kind = follow_up.kind
    if kind == "stock":
        key = "product_in_stock" if product.stock > 0 else "product_sold_out"
        return ctx.say(key, product=facts)
    if kind in ("sizes", "colours"):
        have = product.sizes if kind == "sizes" else product.colours
        asked = follow_up.sizes if kind == "sizes" else follow_up.colours
        label = "sizes" if kind == "sizes" else "colours"
        if not have:
            return ctx.say("product_no_options", product=facts, kind=label)
        if not asked:
            return ctx.say("product_options", product=facts, options=", ".join(have))
        matches = [a for a in asked if a.upper() in {h.upper() for h in have}]
        if matches:
            return ctx.say("product_has", product=facts, option=" and ".join(matches))
        return ctx.say(
            "product_lacks",
            product=facts,
            option=" or ".join(asked),
            options=", ".join(have),
        )
    options = []
    if product.colours:
        options.append(f"Colours: {facts['colours']}.")
    if product.sizes:
        options.append(f"Sizes: {facts['sizes']}.")
    return " ".join([ctx.say("product_details", product=facts), *options])


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
    parts = [(text, c) for text, c in ctx.incoming.parts if not gives_values(ctx, text)]
    found = multi.requests(parts, sure=lambda c: not unsure(c))
    if len(found) == 1 and len(parts) < len(ctx.incoming.parts):
        # "when will my order arrive? NW-10234 alice@example.com": a clause that only
        # gives an order number or an email is no request of its own; it belongs to
        # the one beside it, which reads it from the whole message.
        answered = act_on(ctx, found[0].classification, ctx.incoming.text)
        if not ctx.turn_failed:
            ctx.state["failed_turns"] = 0
        return answered
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


def asks_several(ctx: Deciding) -> bool:
    """Whether the message holds several requests the policy would act on."""
    parts = [(text, c) for text, c in ctx.incoming.parts if not gives_values(ctx, text)]
    return len(multi.requests(parts, sure=lambda c: not unsure(c))) > 1


def gives_values(ctx: Deciding, text: str) -> bool:
    """Whether ``text`` only gives an order number and/or an email ("my email is
    carla@example.com")."""
    numbers = forms.OrderNumbers.of(ctx.lookups.shop().order_number_pattern)
    return followups.values_only(text, order_numbers=numbers) is not None


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
