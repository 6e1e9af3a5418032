"""The dialogue policy's table of cases, decided without a database or a model.

Each test feeds ``decide`` hand-made classifications and a small in-memory shop
(the ``Lookups`` the policy may read); replies use the real default templates. A
test that touched the database would fail: none of them asks for ``db``.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chatbot.dialogue import limits
from chatbot.dialogue import shop as shop_settings
from chatbot.dialogue.articles import Passage
from chatbot.dialogue.decision import (
    CodeCheck,
    CodeRequest,
    Decision,
    Incoming,
    LookupKeys,
    Lookups,
    OrderAction,
    OrderLookupUnavailable,
    QueueEstimate,
)
from chatbot.dialogue.forms import MAX_CODES
from chatbot.dialogue.policy import decide, unsure
from chatbot.dialogue.responses import defaults, fill
from chatbot.models import Article, Order, OrderActionCode
from classifier.serving import Classification
from recommender.models import Product
from recommender.search import (
    Constraints,
    Found,
    best_named,
    closest_first,
    nearest,
    parse_constraints,
)
from tests.chat import said

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def reading(
    intent: str, confidence: float = 0.95, *, runner_up: float = 0.02
) -> Classification:
    """The model's reading of a message: ``intent`` at ``confidence``."""
    second = "greeting" if intent != "greeting" else "thanks"
    return Classification(
        intent=intent,
        confidence=confidence,
        top_k=[(intent, confidence), (second, runner_up), ("goodbye", 0.01)],
        out_of_scope=intent == "oos",
        model_version_id=7,
        model_version="v7",
    )


def order(number: str, **fields: Any) -> Order:
    """An order as the lookup returns it (in memory, with no return started)."""
    made = Order(
        pk=int(number[-5:]),
        number=number,
        email=fields.pop("email", "alice@example.com"),
        placed_at=NOW - timedelta(days=10),
        **fields,
    )
    Order.return_request.related.set_cached_value(made, None)
    return made


@dataclass
class MailedCode:
    """A one-time code the in-memory shop "mailed" for an order action."""

    id: int
    order_id: int
    action: str
    code: str
    attempts: int = 0
    expired: bool = False


@dataclass
class Shop:
    """An in-memory shop answering the policy's lookups.

    ``waits``: seconds a lookup must wait, by client address, email or number.
    ``mailed``: the codes sent so far (``Chat.turn`` applies the decision's code
    effects here, as the service does in the database).
    """

    orders: list[Order] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    # Intent → slugs of the articles linked to it.
    links: dict[str, list[str]] = field(default_factory=dict)
    products: list[Product] = field(default_factory=list)
    picks: list[tuple[Product, str]] = field(default_factory=list)
    agents_online: int = 1
    waiting: int = 0
    viewing: str | None = None
    waits: dict[str, int] = field(default_factory=dict)
    mailed: list[MailedCode] = field(default_factory=list)
    looked_up: list[tuple[str, str]] = field(default_factory=list)
    # The shop's order system is not answering (its endpoint down, circuit open).
    orders_down: bool = False
    # Open at NOW (a Monday noon, UTC): handoffs meet the team, not the night.
    settings: shop_settings.Shop = field(
        default_factory=lambda: shop_settings.Shop(timezone="UTC")
    )

    def lookups(self) -> Lookups:
        return Lookups(
            say=lambda key, **context: fill(
                random.Random(0).choice(defaults()[key]), context
            ),
            search_products=self.search_products,
            recommend_for=lambda **kwargs: list(self.picks),
            shopping_context=lambda customer_id: (self.viewing, []),
            find_order=self.find_order,
            lookup_wait=self.lookup_wait,
            check_code=self.check_code,
            queue=lambda: QueueEstimate(
                agents_online=self.agents_online,
                position=self.waiting + 1,
                wait_seconds=180 * (self.waiting + 1),
            ),
            now=lambda: NOW,
            shop=lambda: self.settings,
            linked_articles=self.linked_articles,
            find_passage=self.find_passage,
            find_products=self.find_products,
            product_named=self.product_named,
        )

    def find_order(
        self, *, number: str, email: str = "", shopper_id: str = ""
    ) -> Order | None:
        self.looked_up.append((number, email or f"shopper:{shopper_id}"))
        if self.orders_down:
            raise OrderLookupUnavailable("the test shop's order system is down")
        return next(
            (
                o
                for o in self.orders
                if o.number.lower() == number.lower()
                and (
                    (email and o.email.lower() == email.lower())
                    or (shopper_id and o.shopper_id == shopper_id)
                )
            ),
            None,
        )

    def lookup_wait(self, *, client: str | None, email: str, number: str) -> int:
        return max(self.waits.get(key or "", 0) for key in (client, email, number))

    def check_code(self, *, order_id: int, action: str, code: str) -> CodeCheck:
        live = next(
            (
                m
                for m in reversed(self.mailed)
                if (m.order_id, m.action) == (order_id, action)
            ),
            None,
        )
        if (
            live is None
            or live.expired
            or live.attempts >= OrderActionCode.MAX_ATTEMPTS
        ):
            return CodeCheck("expired")
        if code == live.code:
            return CodeCheck("match", code_id=live.id)
        left = OrderActionCode.MAX_ATTEMPTS - live.attempts - 1
        return CodeCheck("wrong", code_id=live.id, attempts_left=left)

    def apply(self, decision: Decision) -> None:
        """The code effects, as ``chatbot.services`` applies them."""
        if decision.send_code is not None:
            for earlier in self.mailed:
                earlier.expired = True
            self.mailed.append(
                MailedCode(
                    id=len(self.mailed) + 1,
                    order_id=decision.send_code.order_id,
                    action=decision.send_code.kind,
                    code=f"{len(self.mailed) + 1:06d}",
                )
            )
        if decision.wrong_code is not None:
            next(m for m in self.mailed if m.id == decision.wrong_code).attempts += 1

    @property
    def code(self) -> str:
        """The code in the customer's mailbox (the latest mailed)."""
        return self.mailed[-1].code

    def linked_articles(self, intent: str) -> list[Article]:
        slugs = self.links.get(intent, [])
        return [a for a in self.articles if a.slug in slugs]

    def find_passage(
        self, question: str, *, among: list[Article] | None
    ) -> Passage | None:
        """Words instead of embeddings: an article fits when one of its tags is in
        the question; of the fitting articles (or all, if none fits), the section
        sharing the most longer words with the question is quoted."""
        words = set(re.findall(r"\w+", question.lower()))
        searched = self.articles if among is None else among
        fitting = [a for a in searched if words & set(a.tags)]
        scored = [
            (
                len(
                    {w for w in words if len(w) > 3}
                    & set(re.findall(r"\w+", s.text.lower()))
                ),
                a,
                s,
            )
            for a in fitting or searched
            for s in a.sections()
        ]
        if not scored:
            return None
        shared, article, section = max(scored, key=lambda row: row[0])
        fits = bool(fitting)
        return Passage(article, section, 1 / (1 + shared), fits)

    def search_products(
        self, text: str, *, constraints: Constraints | None = None, currency: str
    ) -> Found:
        """The catalog search's rules over a list, in the list's order."""
        wanted = constraints or parse_constraints(text, currency=currency)

        def run(asked: Constraints, dropped: str | None) -> list[Product]:
            meeting = [p for p in self.products if not asked.unmet_by(p)]
            return closest_first(meeting, wanted, dropped)[:3]

        return nearest(wanted, run)

    def find_products(self, skus: Sequence[str]) -> list[Product]:
        by_sku = {p.sku: p for p in self.products}
        return [by_sku[sku] for sku in skus if sku in by_sku]

    def product_named(self, text: str) -> Product | None:
        return best_named(text, self.products)


class Chat:
    """One conversation: each turn decides with the state the last one left."""

    def __init__(
        self,
        shop: Shop,
        *,
        name: str = "",
        client: str | None = "203.0.113.7",
        verified_email: str = "",
    ) -> None:
        self.shop = shop
        self.name = name
        self.client = client
        # A shopper the shop signed in (chatbot.identity): their email is known.
        self.verified_email = verified_email
        self.state: dict[str, Any] = {}
        self.decisions: list[Decision] = []

    def turn(
        self,
        text: str,
        classification: Classification | None,
        *,
        postback: dict[str, Any] | None = None,
    ) -> Decision:
        decision = decide(
            Incoming(
                text=text,
                postback=postback or {},
                customer_id=1,
                customer_name=self.name,
                verified_email=self.verified_email,
                client_address=self.client,
            ),
            classification,
            state=self.state,
            lookups=self.shop.lookups(),
        )
        self.shop.apply(decision)
        self.state = decision.state
        self.decisions.append(decision)
        return decision


@pytest.fixture
def shop() -> Shop:
    return Shop(
        orders=[
            order(
                "NW-10234",
                status=Order.Status.SHIPPED,
                carrier="UPS",
                tracking_number="1Z999AA10123456784",
            ),
            order(
                "NW-10235",
                status=Order.Status.DELIVERED,
                delivered_at=NOW - timedelta(days=5),
            ),
            order(
                "NW-10237",
                email="bob.jones@example.com",
                status=Order.Status.DELIVERED,
                delivered_at=NOW - timedelta(days=45),
            ),
            order("NW-10238", email="carla@example.com", status=Order.Status.PLACED),
            order(
                "NW-10239",
                email="carla@example.com",
                status=Order.Status.CANCELLED,
                refund_status=Order.Refund.PENDING,
            ),
        ],
        articles=[
            Article(
                title="Shipping times",
                slug="shipping-times",
                body="Standard delivery takes 3 to 5 working days.",
                tags=["shipping", "delivery"],
            )
        ],
        products=[
            Product(
                sku="JKT-001",
                name="Storm Shell",
                category="Jackets",
                price=Decimal("89.00"),
                stock=4,
            ),
            Product(
                sku="JKT-002",
                name="Alpine Parka",
                category="Jackets",
                price=Decimal("240.00"),
                stock=2,
            ),
            Product(
                sku="SHO-001",
                name="Trail Runner",
                category="Shoes",
                price=Decimal("70.00"),
                stock=9,
            ),
        ],
    )


# --- forms ------------------------------------------------------------------------


def test_it_tells_the_status_of_an_order_once_number_and_email_match(shop):
    chat = Chat(shop)
    assert said(
        "ask_order_number",
        chat.turn("where is my order?", reading("order_status")).reply.text,
    )
    assert said("ask_order_email", chat.turn("It's NW-10234", None).reply.text)
    answer = chat.turn("alice@example.com", None)
    assert said("order_status", answer.reply.text)
    assert "NW-10234" in answer.reply.text and "shipped" in answer.reply.text
    assert "form" not in answer.state
    assert answer.order_action is None and answer.handoff is None


def test_it_takes_a_correction_in_the_middle_of_a_form(shop):
    chat = Chat(shop)
    first = chat.turn("can you track my parcel NW-10236", reading("track_order"))
    assert said("ask_order_email", first.reply.text)
    corrected = chat.turn("sorry, actually the order number is NW-10234", None)
    assert said("form_corrected", corrected.reply.text, within=True)
    answer = chat.turn("alice@example.com", None)
    assert said("order_tracking", answer.reply.text)
    assert "1Z999AA10123456784" in answer.reply.text


def test_it_drops_a_form_when_the_customer_says_never_mind(shop):
    chat = Chat(shop)
    chat.turn("I want to cancel my order", reading("cancel_order"))
    dropped = chat.turn("actually, never mind", reading("cancel_order", 0.4))
    assert said("form_abandoned", dropped.reply.text)
    assert "form" not in dropped.state
    assert dropped.order_action is None


def test_a_wrong_number_and_a_wrong_email_get_the_same_answer(shop):
    alice = Chat(shop)
    alice.turn("where is my order NW-99999", reading("order_status"))
    missing = alice.turn("alice@example.com", None)
    mallory = Chat(shop)
    mallory.turn("where is my order NW-10234", reading("order_status"))
    wrong_email = mallory.turn("mallory@example.com", None)
    assert said("order_not_found", missing.reply.text)
    assert said("order_not_found", wrong_email.reply.text)
    # Nothing about the real order leaks to someone with the wrong email.
    assert "shipped" not in wrong_email.reply.text.lower()
    assert "UPS" not in wrong_email.reply.text


def test_an_order_system_that_does_not_answer_is_never_a_missing_order(shop):
    shop.orders_down = True
    alice = Chat(shop)
    alice.turn("where is my order NW-10234", reading("order_status"))
    down = alice.turn("alice@example.com", None)
    assert said("order_lookup_unavailable", down.reply.text)
    assert "NW-10234" in down.reply.text
    assert down.reply.payload["quick_replies"] == [
        {"title": "Talk to a person", "payload": {"action": "handoff"}}
    ]
    # Not the customer's failure: nothing counted against them, no handoff forced.
    assert down.failed_lookup is None
    assert down.handoff is None
    assert down.state.get("failed_turns", 0) == 0


@pytest.mark.parametrize("source", ["api", "http"])
def test_where_the_shop_makes_the_change_it_is_told_as_sent(shop, source):
    shop.settings = dataclasses.replace(shop.settings, order_source=source)
    carla = Chat(shop)
    carla.turn("please cancel order NW-10238", reading("cancel_order"))
    carla.turn("carla@example.com", None)
    carla.turn("Yes, cancel it", None, postback={"confirm": True})
    sent = carla.turn(f"the code is {shop.code}", None)
    assert said("cancel_sent", sent.reply.text)
    assert not said("cancel_done", sent.reply.text)
    assert sent.order_action == OrderAction("cancel", 10238, code_id=1)


def test_it_cancels_an_order_only_after_a_confirmation(shop):
    carla = Chat(shop)
    carla.turn("please cancel order NW-10238", reading("cancel_order"))
    confirm = carla.turn("carla@example.com", None)
    buttons = confirm.reply.payload["quick_replies"]
    assert [b["payload"] for b in buttons] == [{"confirm": True}, {"confirm": False}]
    assert confirm.order_action is None
    asked = carla.turn("Yes, cancel it", None, postback={"confirm": True})
    assert said("code_sent", asked.reply.text)
    assert asked.send_code == CodeRequest("cancel", 10238)
    assert asked.order_action is None
    done = carla.turn(f"the code is {shop.code}", None)
    assert said("cancel_done", done.reply.text)
    assert done.order_action == OrderAction("cancel", 10238, code_id=1)
    assert done.send_code is None and done.failed_lookup is None


def test_saying_no_to_the_confirmation_keeps_the_order(shop):
    carla = Chat(shop)
    carla.turn("please cancel order NW-10238", reading("cancel_order"))
    carla.turn("carla@example.com", None)
    kept = carla.turn("No, keep it", None, postback={"confirm": False})
    assert said("form_abandoned", kept.reply.text)
    assert kept.order_action is None


def test_it_explains_why_a_shipped_order_cannot_be_cancelled(shop):
    alice = Chat(shop)
    alice.turn("cancel my order NW-10234", reading("cancel_order"))
    answer = alice.turn("alice@example.com", None)
    assert said("cancel_not_possible", answer.reply.text)
    assert answer.order_action is None


def test_it_starts_a_return_within_30_days_and_refuses_one_after(shop):
    alice = Chat(shop)
    alice.turn("I'd like to return the shoes from NW-10235", reading("return_item"))
    alice.turn("alice@example.com", None)
    asked = alice.turn("yes", None)
    assert said("code_sent", asked.reply.text)
    assert asked.send_code == CodeRequest("return", 10235)
    started = alice.turn(shop.code, None)
    assert said("return_started", started.reply.text)
    assert started.order_action == OrderAction("return", 10235, code_id=1)

    bob = Chat(shop)
    bob.turn(
        "I want to send back my headphones, order NW-10237", reading("return_item")
    )
    late = bob.turn("bob.jones@example.com", None)
    assert said("return_not_possible", late.reply.text)
    assert "30 days" in late.reply.text
    assert late.order_action is None


def test_it_uses_the_shops_return_window(shop):
    shop.settings = dataclasses.replace(shop.settings, return_window_days=3)
    alice = Chat(shop)
    alice.turn("I'd like to return the shoes from NW-10235", reading("return_item"))
    late = alice.turn("alice@example.com", None)  # delivered 5 days ago
    assert said("return_not_possible", late.reply.text)
    assert "3 days" in late.reply.text
    assert late.order_action is None and late.send_code is None


def asked_for_the_cancel_code(shop: Shop) -> Chat:
    """Carla's conversation after she confirmed a cancellation and a code went out."""
    carla = Chat(shop)
    carla.turn("please cancel order NW-10238", reading("cancel_order"))
    carla.turn("carla@example.com", None)
    carla.turn("yes", None, postback={"confirm": True})
    return carla


def test_it_does_not_cancel_on_a_wrong_code_and_counts_it_as_a_failed_lookup(shop):
    carla = asked_for_the_cancel_code(shop)
    wrong = carla.turn("999999", None)
    assert said("code_wrong", wrong.reply.text)
    assert f"{OrderActionCode.MAX_ATTEMPTS - 1} attempts left" in wrong.reply.text
    assert wrong.order_action is None
    assert wrong.wrong_code == 1
    assert wrong.failed_lookup == LookupKeys(
        client="203.0.113.7", email="carla@example.com", number="NW-10238"
    )
    assert wrong.state["form"]["asking"] == "code"
    assert "code" not in wrong.state["form"]["slots"]  # never kept in the state


def test_too_many_wrong_codes_end_the_form_with_the_order_unchanged(shop):
    carla = asked_for_the_cancel_code(shop)
    decisions = [
        carla.turn("000000", None)
        for _ in range(MAX_CODES * OrderActionCode.MAX_ATTEMPTS)
    ]
    # Each code gets its attempts, then a fresh one is mailed, up to MAX_CODES.
    assert said("code_resent", decisions[OrderActionCode.MAX_ATTEMPTS - 1].reply.text)
    assert len(shop.mailed) == MAX_CODES
    assert said("code_failed", decisions[-1].reply.text)
    assert all(d.order_action is None for d in decisions)
    assert "form" not in decisions[-1].state
    # The right code of an abandoned form does nothing now.
    after = carla.turn(shop.code, None)
    assert after.order_action is None


def test_an_expired_code_is_refused_and_a_new_one_is_mailed(shop):
    carla = asked_for_the_cancel_code(shop)
    expired_code = shop.code
    shop.mailed[-1].expired = True
    late = carla.turn(expired_code, None)
    assert said("code_resent", late.reply.text)
    assert late.order_action is None
    assert late.send_code == CodeRequest("cancel", 10238)
    done = carla.turn(shop.code, None)
    assert said("cancel_done", done.reply.text)
    assert done.order_action == OrderAction("cancel", 10238, code_id=2)


def test_a_message_without_the_code_asks_for_it_again(shop):
    carla = asked_for_the_cancel_code(shop)
    reask = carla.turn("where do I find it?", reading("order_status", 0.4))
    assert said("form_reask", reask.reply.text)
    assert "code from the email" in reask.reply.text
    assert reask.order_action is None


def test_status_needs_no_code(shop):
    chat = Chat(shop)
    chat.turn("where is my order NW-10234", reading("order_status"))
    answer = chat.turn("alice@example.com", None)
    assert said("order_status", answer.reply.text)
    assert answer.send_code is None and shop.mailed == []


def test_a_failed_lookup_is_counted_against_address_email_and_number(shop):
    chat = Chat(shop, client="198.51.100.9")
    chat.turn("where is my order NW-10234", reading("order_status"))
    wrong = chat.turn("mallory@example.com", None)
    assert wrong.failed_lookup == LookupKeys(
        client="198.51.100.9", email="mallory@example.com", number="NW-10234"
    )
    found = Chat(shop).turn(
        "where is NW-10234 alice@example.com", reading("order_status")
    )
    assert said("order_status", found.reply.text)
    assert found.failed_lookup is None


@pytest.mark.parametrize("limited", ["203.0.113.7", "carla@example.com", "NW-10238"])
def test_a_limited_lookup_is_refused_without_looking(shop, limited):
    shop.waits[limited] = 301
    carla = Chat(shop)
    carla.turn("please cancel order NW-10238", reading("cancel_order"))
    refused = carla.turn("carla@example.com", None)
    assert said("lookup_throttled", refused.reply.text)
    assert "6 minutes" in refused.reply.text
    assert shop.looked_up == []  # the order was not even read
    assert refused.failed_lookup is None  # a refusal costs nothing more
    assert refused.handoff is None and "form" not in refused.state


def test_a_refusal_reads_the_same_whether_the_order_exists_or_not(shop):
    shop.waits["carla@example.com"] = 60
    real = Chat(shop)
    real.turn("cancel order NW-10238", reading("cancel_order"))
    made_up = Chat(shop)
    made_up.turn("cancel order NW-19999", reading("cancel_order"))
    assert (
        real.turn("carla@example.com", None).reply.text
        == made_up.turn("carla@example.com", None).reply.text
    )


def test_the_owner_holding_the_code_gets_through_while_lookups_are_limited(shop):
    carla = asked_for_the_cancel_code(shop)
    # A guesser now hammers Carla's email and order number from elsewhere.
    shop.waits.update({"carla@example.com": 900, "NW-10238": 900})
    done = carla.turn(shop.code, None)
    assert said("cancel_done", done.reply.text)
    assert done.order_action == OrderAction("cancel", 10238, code_id=1)


def test_lookup_waits_double_after_the_free_failures_up_to_a_cap():
    limit = limits.Limit(free=3, first_wait=30, max_wait=900)
    waits = [limits.wait(limit, failures=n, last=1000.0, now=1000.0) for n in range(12)]
    assert waits == [0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900, 900]
    assert limits.wait(limit, failures=5, last=1000.0, now=1100.0) == 20
    assert limits.wait(limit, failures=5, last=1000.0, now=1200.0) == 0


def asked_about_a_refund(shop: Shop) -> tuple[Chat, Decision]:
    """Carla's conversation after the bot told her where her refund is."""
    carla = Chat(shop)
    carla.turn("when will I get my refund for NW-10239?", reading("refund_status"))
    return carla, carla.turn("carla@example.com", None)


def test_it_reports_the_refund_status(shop):
    _, answer = asked_about_a_refund(shop)
    assert said("refund_status", answer.reply.text)
    assert "refund being processed" in answer.reply.text


def test_a_confident_other_request_leaves_an_open_form(shop):
    chat = Chat(shop)
    chat.turn("where is my order?", reading("order_status"))
    switched = chat.turn("hello there", reading("greeting", 0.97))
    assert said("greeting", switched.reply.text)
    assert "form" not in switched.state


def test_an_answer_that_fits_no_form_field_is_asked_again(shop):
    chat = Chat(shop)
    chat.turn("where is my order?", reading("order_status"))
    again = chat.turn("hmm", reading("greeting", 0.3))
    assert said("form_reask", again.reply.text)
    assert again.state["form"]["name"] == "order_status"


# --- answers, recommendations, small talk -----------------------------------------


def test_it_answers_a_shipping_question_from_the_help_centre(shop):
    answer = Chat(shop).turn("how long does delivery take?", reading("shipping_time"))
    assert said("kb_answer_intro", answer.reply.text, within=True)
    assert "3 to 5 working days" in answer.reply.text
    assert answer.reply.payload["article"] == {
        "title": "Shipping times",
        "url": "/help/shipping-times/",
    }


def test_it_recommends_products_that_meet_the_constraints(shop):
    answer = Chat(shop).turn(
        "can you recommend a waterproof jacket under $100?",
        reading("product_recommendation"),
    )
    cards = answer.reply.payload["cards"]
    assert [card["sku"] for card in cards] == ["JKT-001"]
    assert cards[0]["reason"].startswith("Matches what you asked for")


def test_an_impossible_budget_is_said_not_searched(shop):
    answer = Chat(shop).turn("a jacket under $0", reading("product_recommendation"))
    assert said("recommend_impossible", answer.reply.text)
    assert "cards" not in answer.reply.payload


def test_it_recommends_from_what_the_customer_is_looking_at(shop):
    shop.viewing = "KIT-001"
    shop.picks = [(shop.products[2], "Often bought with Pour-Over Coffee Set")]
    answer = Chat(shop).turn(
        "can you recommend something that goes with this one?",
        reading("product_recommendation"),
    )
    assert answer.reply.payload["cards"][0]["reason"] == (
        "Often bought with Pour-Over Coffee Set"
    )


def test_it_recommends_nothing_in_a_refund_conversation(shop):
    carla, _ = asked_about_a_refund(shop)
    answer = carla.turn(
        "can you recommend a waterproof jacket under $100?",
        reading("product_recommendation"),
    )
    assert "cards" not in answer.reply.payload


def test_it_greets_by_name_and_says_goodbye(shop):
    chat = Chat(shop, name="Alice")
    hello = chat.turn("hello there", reading("greeting"))
    assert said("greeting", hello.reply.text) and "Alice" in hello.reply.text
    assert said("goodbye", chat.turn("bye!", reading("goodbye")).reply.text)


def test_the_reply_carries_the_reading_it_answers(shop):
    hello = Chat(shop).turn("hello there", reading("greeting", 0.91))
    assert (hello.reply.intent, hello.reply.confidence) == ("greeting", 0.91)
    assert hello.reply.model_version_id == 7


def test_the_reply_carries_how_unsure_the_model_was_over_every_class(shop):
    sure_oos = Classification(
        intent="oos",
        confidence=0.03,
        top_k=[("greeting", 0.03), ("goodbye", 0.01)],
        out_of_scope=True,
        model_version_id=7,
        model_version="v7",
        ranking=[("oos", 0.95), ("greeting", 0.03), ("goodbye", 0.01)],
        uncertainty=0.08,
    )
    answer = Chat(shop).turn("what's the capital of peru", sure_oos)
    assert answer.reply.uncertainty == 0.08
    assert answer.reply.ranking[0] == ("oos", 0.95)


def test_a_value_typed_into_a_form_is_marked_as_one(shop):
    chat = Chat(shop)
    asked = chat.turn("where is my order?", reading("order_status"))
    number = chat.turn("It's NW-10234", reading("order_status", 0.3))
    email = chat.turn("alice@example.com", reading("greeting", 0.2))
    assert [asked.reply.form_value, number.reply.form_value] == [False, True]
    assert email.reply.form_value


def test_cards_ranked_by_the_recommender_record_its_version(shop):
    from dataclasses import replace

    from recommender.serving import Recommendations

    picks = Recommendations([(shop.products[2], "Often bought with Kettle")])
    picks.model_version_id = 12
    shop.viewing = "KIT-001"
    lookups = replace(shop.lookups(), recommend_for=lambda **kwargs: picks)
    answer = decide(
        Incoming(text="anything that goes with this one?"),
        reading("product_recommendation"),
        state={},
        lookups=lookups,
    )
    assert answer.reply.payload["cards"][0]["sku"] == shop.products[2].sku
    assert answer.reply.recommender_version_id == 12
    searched = Chat(shop).turn("a waterproof jacket", reading("product_recommendation"))
    assert searched.reply.recommender_version_id is None


# --- not sure, out of scope, handoff ------------------------------------------------


def test_it_asks_when_unsure_and_follows_the_chosen_button(shop):
    chat = Chat(shop)
    close_call = reading("order_status", 0.45, runner_up=0.4)
    assert unsure(close_call)
    question = chat.turn("problem with my order", close_call)
    buttons = question.reply.payload["quick_replies"]
    assert said("clarify", question.reply.text)
    assert [b["payload"] for b in buttons] == [
        {"intent": "order_status"},
        {"intent": "greeting"},
        {"intent": "goodbye"},
        {"action": "handoff"},
    ]
    chosen = reading("order_status", 1.0, runner_up=0.0)
    followed = chat.turn("Order status", chosen, postback={"intent": "order_status"})
    assert said("ask_order_number", followed.reply.text)


def test_it_falls_back_politely_then_hands_over_after_two_failures(shop):
    shop.agents_online = 0
    chat = Chat(shop)
    first = chat.turn("what is the capital of peru", reading("oos", 0.9))
    assert said("fallback", first.reply.text)
    assert first.reply.payload["quick_replies"][0]["payload"] == {"action": "handoff"}
    assert first.handoff is None
    second = chat.turn("who won the world cup in 2010", reading("oos", 0.9))
    assert second.handoff == "two failed turns"
    assert second.state["handoff"]["reason"] == "two failed turns"
    assert said("handoff_no_agents", second.reply.text)


def test_without_an_active_model_it_falls_back(shop):
    answer = Chat(shop).turn("hello?", None)
    assert said("fallback", answer.reply.text)
    assert answer.reply.intent == "" and answer.reply.confidence is None


def test_asking_for_a_person_queues_with_position_and_wait(shop):
    shop.waiting = 2
    answer = Chat(shop).turn("I want to talk to a human", reading("talk_to_person"))
    assert answer.handoff == "asked for a person"
    assert said("handoff", answer.reply.text)
    assert "3" in answer.reply.text  # third in line
    assert "9 min" in answer.reply.text  # 3 x 180 s


def test_a_complaint_or_frustration_goes_to_a_person(shop):
    complaint = Chat(shop).turn("I want to complain", reading("complaint"))
    frustrated = Chat(shop).turn(
        "where is my order??? this is ridiculous!!!", reading("order_status")
    )
    assert complaint.handoff == "complaint"
    assert frustrated.handoff == "frustration"
    assert said("frustration", frustrated.reply.text, within=True)


def test_pressing_talk_to_a_person_hands_over_with_a_context_pack(shop):
    chat = Chat(shop)
    chat.turn("where is my order NW-10234", reading("order_status"))
    pressed = chat.turn("Talk to a person", None, postback={"action": "handoff"})
    pack = pressed.state["handoff"]
    assert pressed.handoff == "pressed “talk to a person”"
    assert pack["form"]["slots"] == {"order_number": "NW-10234"}
    assert pack["top_intents"][0][0] == "order_status"
    assert "form order_status" in pack["tried"]
    assert pack["at"] == NOW.isoformat()
    assert "form" not in pressed.state


def test_a_second_failed_order_lookup_hands_over(shop):
    chat = Chat(shop)
    chat.turn("where's my order NW-11111", reading("order_status"))
    first = chat.turn("alice@example.com", None)
    assert first.handoff is None
    chat.turn("NW-22222", None)
    second = chat.turn("alice@example.com", None)
    assert second.handoff == "order lookup failed twice"
    assert said("order_not_found", second.reply.text, within=True)


def test_with_no_agent_online_it_takes_an_email_for_follow_up(shop):
    shop.agents_online = 0
    chat = Chat(shop)
    offline = chat.turn("can I speak to a real person", reading("talk_to_person"))
    assert said("handoff_no_agents", offline.reply.text)
    assert offline.state["form"]["name"] == "followup_email"
    saved = chat.turn("you can reach me at Alice@Example.com", None)
    assert said("handoff_email_saved", saved.reply.text)
    assert saved.followup_email == "alice@example.com"
    assert saved.state["followup_email"] == "alice@example.com"


def test_a_customer_may_decline_to_leave_an_email(shop):
    shop.agents_online = 0
    chat = Chat(shop)
    chat.turn("can I speak to a real person", reading("talk_to_person"))
    declined = chat.turn("no thanks", None)
    assert said("form_abandoned", declined.reply.text)
    assert declined.followup_email is None and "form" not in declined.state


# --- purity -------------------------------------------------------------------------


def test_deciding_never_changes_the_state_it_was_given(shop):
    state = {
        "form": {
            "name": "cancel",
            "slots": {"order_number": "NW-10238", "email": "carla@example.com"},
            "asking": "confirm",
            "lookups": 0,
            "misses": 0,
        },
        "topics": ["cancel_order"],
        "tried": ["form cancel"],
    }
    before = copy.deepcopy(state)
    decision = decide(
        Incoming(text="yes", postback={"confirm": True}),
        None,
        state=state,
        lookups=shop.lookups(),
    )
    assert decision.send_code == CodeRequest("cancel", 10238)
    assert state == before


def test_a_confident_question_with_no_answer_counts_as_a_failed_turn(shop):
    shop.agents_online = 0
    chat = Chat(shop)
    # Sure of the intent, but the help centre has nothing that answers it.
    first = chat.turn("what warranty do tents have", reading("warranty", 0.97))
    assert said("fallback", first.reply.text)
    assert first.state["failed_turns"] == 1
    second = chat.turn("is there a warranty on the stove", reading("warranty", 0.96))
    assert second.handoff == "two failed turns"


def test_a_turn_that_gets_somewhere_clears_the_failed_turns(shop):
    chat = Chat(shop)
    chat.turn("what warranty do tents have", reading("warranty", 0.97))
    answered = chat.turn("how long does delivery take?", reading("shipping_time"))
    assert answered.state["failed_turns"] == 0


# --- answers from the intent's own articles (#13 item 1, classes 1 and 5) ----------

WARRANTY = Article(
    title="What does the 2-year warranty cover?",
    slug="warranty",
    tags=["warranty"],
    body="""Every product comes with a 2-year warranty from the delivery date. It
covers defects in materials and workmanship, such as a zipper that breaks under
normal use or a device that stops working.

The warranty doesn't cover normal wear and tear, accidents, misuse or improper
care, such as washing a down jacket too hot.

To claim it, send us your order number and photos of the defect. We repair or
replace the item, or refund it if neither is possible.""",
)
RETURNS = Article(
    title="What is your return policy?",
    slug="return-policy",
    tags=["returns"],
    body="""You can return most items within {shop.return_window_days} days of
delivery for a refund or an exchange, unused and with their tags.

Shipping is free on orders over {shop.free_shipping_threshold}; return labels
cost $6.95 and come out of the refund.

Final-sale items, gift cards and opened beauty products can't be returned. Our
team answers return questions {shop.hours}.""",
)
CANCELLING = Article(
    title="Can I cancel my order?",
    slug="cancel",
    tags=["cancel"],
    body="""You can cancel an order until it ships, usually within an hour of
ordering. Ask in the chat with your order number and email.

Cancelled orders are not charged: the payment hold is released at once, though
your bank may take a few days to show it.

If your order has already shipped, it can't be cancelled, but you can return it
within {shop.return_window_days} days of delivery.""",
)


@pytest.fixture
def help_centre(shop: Shop) -> Shop:
    """The shop with long articles linked to the intents they answer."""
    shop.articles += [WARRANTY, RETURNS, CANCELLING]
    shop.links = {
        "warranty": ["warranty"],
        "return_item": ["return-policy"],
        "cancel_order": ["cancel"],
    }
    return shop


def test_a_confident_intent_answers_from_its_linked_article(help_centre):
    # No word of the question is a tag of any article: searching alone finds none.
    question = "my headphones stopped working after 8 months, is that covered?"
    answer = Chat(help_centre).turn(question, reading("warranty", 0.99))
    assert not said("fallback", answer.reply.text)
    assert said("kb_answer_intro", answer.reply.text, within=True)
    assert answer.reply.payload["article"] == {
        "title": "What does the 2-year warranty cover?",
        "url": "/help/warranty/",
    }
    assert answer.state["failed_turns"] == 0


def test_a_link_that_does_not_fit_falls_back_to_the_whole_help_centre(help_centre):
    # Read as warranty, but the words are about delivery: the shipping article
    # fits, the linked warranty article does not.
    answer = Chat(help_centre).turn(
        "how long does delivery take?", reading("warranty", 0.9)
    )
    assert answer.reply.payload["article"]["url"] == "/help/shipping-times/"
    assert "3 to 5 working days" in answer.reply.text


def test_an_article_clearly_nearer_the_question_beats_the_linked_one(help_centre):
    # Read as a warranty question, and the warranty article fits ("warranty" is
    # its tag), but the returns article holds far more of the question's words.
    answer = Chat(help_centre).turn(
        "warranty aside, returns: can final-sale items and gift cards be returned, "
        "and what do return labels cost?",
        reading("warranty", 0.9),
    )
    assert answer.reply.payload["article"]["url"] == "/help/return-policy/"


def test_a_linked_article_that_fits_loosely_still_beats_no_answer(help_centre):
    answer = Chat(help_centre).turn("it broke", reading("warranty", 0.97))
    assert answer.reply.payload["article"]["url"] == "/help/warranty/"
    assert not said("fallback", answer.reply.text)


def test_an_intent_without_a_link_searches_the_whole_help_centre(help_centre):
    answer = Chat(help_centre).turn(
        "how long does delivery take?", reading("shipping_time")
    )
    assert answer.reply.payload["article"]["url"] == "/help/shipping-times/"


def test_it_quotes_the_section_nearest_the_question_not_the_whole_article(
    help_centre,
):
    answer = Chat(help_centre).turn(
        "what is not covered, is washing damage normal wear?",
        reading("warranty", 0.98),
    )
    text = answer.reply.text
    assert "washing a down jacket too hot" in text
    assert "zipper that breaks" not in text
    assert "photos of the defect" not in text
    assert answer.reply.payload["article"]["url"] == "/help/warranty/"


def test_articles_say_the_shops_settings_as_they_are_now(help_centre):
    help_centre.links["store_policy_general"] = ["return-policy"]
    question = "returns: what does the label cost, and is shipping free?"
    before = Chat(help_centre).turn(question, reading("store_policy_general"))
    assert "Shipping is free on orders over $75;" in before.reply.text
    assert "{shop." not in before.reply.text
    help_centre.settings = dataclasses.replace(
        help_centre.settings, currency="EUR", free_shipping_threshold=Decimal("60")
    )
    after = Chat(help_centre).turn(question, reading("store_policy_general"))
    assert "Shipping is free on orders over €60;" in after.reply.text


def test_a_return_policy_question_is_answered_before_a_return_is_offered(
    help_centre,
):
    alice = Chat(help_centre)
    answer = alice.turn(
        "Can I still return something I bought three weeks ago?",
        reading("return_item", 0.98),
    )
    assert "form" not in answer.state
    assert said("return_window_in_time", answer.reply.text.split("\n\n")[0])
    assert "30 days" in answer.reply.text and "three weeks" in answer.reply.text
    assert answer.reply.payload["article"]["url"] == "/help/return-policy/"
    button = answer.reply.payload["quick_replies"][0]
    assert button == {"title": "Start a return", "payload": {"intent": "return_item"}}
    started = alice.turn(
        button["title"], reading("return_item", 1.0), postback=button["payload"]
    )
    assert said("ask_order_number", started.reply.text)
    assert started.state["form"]["name"] == "return"


def test_the_return_window_comes_from_the_shop_settings(help_centre):
    help_centre.settings = dataclasses.replace(
        help_centre.settings, return_window_days=14
    )
    answer = Chat(help_centre).turn(
        "can i still send back a jacket i got three weeks ago??",
        reading("return_item"),
    )
    assert said("return_window_too_late", answer.reply.text.split("\n\n")[0])
    assert "14 days" in answer.reply.text and "30 days" not in answer.reply.text


def test_how_long_to_send_back_is_a_question_not_a_return(help_centre):
    for question in ("how long do I have to send stuff back", "whats ur return policy"):
        answer = Chat(help_centre).turn(question, reading("return_item"))
        assert said("return_window", answer.reply.text.split("\n\n")[0]), question
        assert "form" not in answer.state


def test_returning_a_named_order_still_starts_the_form(help_centre):
    answer = Chat(help_centre).turn("I want to return NW-10235", reading("return_item"))
    assert said("ask_order_email", answer.reply.text)
    assert answer.state["form"]["slots"] == {"order_number": "NW-10235"}


def test_a_cancel_question_is_answered_and_the_cancellation_offered(help_centre):
    answer = Chat(help_centre).turn(
        "can I still cancel after it already shipped?", reading("cancel_order")
    )
    assert "form" not in answer.state
    assert "already shipped, it can't be cancelled" in answer.reply.text
    assert "30 days" in answer.reply.text
    assert answer.reply.payload["quick_replies"] == [
        {"title": "Cancel an order", "payload": {"intent": "cancel_order"}}
    ]
    asked = Chat(help_centre).turn("please cancel my order", reading("cancel_order"))
    assert said("ask_order_number", asked.reply.text)


def test_order_status_says_carrier_tracking_link_and_delivery_date(shop):
    shop.orders[0].eta = date(2026, 6, 17)
    alice = Chat(shop)
    alice.turn("where is my order NW-10234", reading("order_status"))
    reply = alice.turn("alice@example.com", None).reply
    answer = reply.text
    assert said("order_status", answer)
    assert "UPS" in answer
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in answer
    assert "Wednesday, June 17" in answer
    assert reply.payload["links"] == [
        {
            "title": "Track your parcel with UPS",
            "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        }
    ]


def test_order_status_of_an_unshipped_or_delivered_order_says_what_it_holds(shop):
    carla = Chat(shop)
    carla.turn("status of NW-10238 please", reading("order_status"))
    unshipped = carla.turn("carla@example.com", None).reply.text
    assert "hasn't shipped yet" in unshipped and "tracking number" in unshipped
    alice = Chat(shop)
    alice.turn("where's NW-10235", reading("order_status"))
    delivered = alice.turn("alice@example.com", None).reply.text
    assert "delivered on Wednesday, June 10" in delivered


# --- frustration and handoff (business hours, agents online) -----------------------


def test_frustration_read_by_the_model_hands_over_with_an_apology(shop):
    # No keyword of the backstop list in it: only the model can tell.
    fed_up = Chat(shop).turn(
        "omg I've asked three times, you don't understand anything",
        reading("frustration", 0.93),
    )
    assert fed_up.handoff == "frustration"
    assert said("frustration", fed_up.reply.text, within=True)
    assert said("handoff", fed_up.reply.text, within=True)


def test_the_keyword_backstop_still_hands_over_when_the_model_misses_it(shop):
    missed = Chat(shop).turn(
        "this is USELESS, where is my parcel", reading("track_order", 0.9)
    )
    assert missed.handoff == "frustration"


def test_an_unsure_reading_of_frustration_is_not_acted_on(shop):
    unsure_reading = Chat(shop).turn(
        "hmm not sure about that", reading("frustration", 0.4, runner_up=0.35)
    )
    assert unsure_reading.handoff is None


def test_a_question_about_the_bot_is_not_frustration(shop):
    asked = Chat(shop).turn("are you a bot?", reading("bot_capabilities"))
    assert asked.handoff is None
    assert said("bot_capabilities", asked.reply.text)


BERLIN_HOURS = {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}


def berlin(shop: Shop) -> Shop:
    shop.settings = shop_settings.Shop(
        timezone="Europe/Berlin", opening_hours=BERLIN_HOURS
    )
    return shop


def at(shop: Shop, when: datetime) -> Lookups:
    return dataclasses.replace(shop.lookups(), now=lambda: when)


def handed_over(shop: Shop, when: datetime) -> Decision:
    return decide(
        Incoming(text="can I talk to a person"),
        reading("talk_to_person"),
        state={},
        lookups=at(shop, when),
    )


# Monday 15 June 2026, 12:00 UTC is 14:00 in Berlin (open); Saturday 20 June is
# closed, and the shop opens again on Monday at 09:00 Berlin time.
OPEN_HOURS = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
MONDAY_EARLY = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # 07:00 in Berlin


def test_open_with_agents_online_it_gives_place_and_wait(shop):
    berlin(shop)
    shop.agents_online, shop.waiting = 2, 3
    answer = handed_over(shop, OPEN_HOURS)
    assert said("handoff", answer.reply.text)
    assert "form" not in answer.state


def test_open_with_nobody_online_it_promises_no_wait_and_takes_an_email(shop):
    berlin(shop)
    shop.agents_online, shop.waiting = 0, 3
    answer = handed_over(shop, OPEN_HOURS)
    assert said("handoff_no_agents", answer.reply.text)
    assert not re.search(r"\d+ min|number \d|#\d", answer.reply.text)
    assert answer.handoff  # it still waits in the queue for the first agent
    assert answer.state["form"]["name"] == "followup_email"


def test_closed_it_says_when_the_shop_opens_and_takes_an_email(shop):
    berlin(shop)
    shop.agents_online = 0
    answer = handed_over(shop, SATURDAY)
    assert said("handoff_closed", answer.reply.text)
    assert "Monday 09:00 (Europe/Berlin)" in answer.reply.text
    assert answer.handoff
    assert answer.state["form"]["name"] == "followup_email"


def test_closed_until_later_today_it_says_today(shop):
    berlin(shop)
    shop.agents_online = 0
    answer = handed_over(shop, MONDAY_EARLY)
    assert "today 09:00 (Europe/Berlin)" in answer.reply.text


def test_an_agent_online_after_hours_still_gets_the_queue_line(shop):
    # Someone is there to answer: the honest line and wait, not "we're closed".
    berlin(shop)
    shop.agents_online = 1
    answer = handed_over(shop, SATURDAY)
    assert said("handoff", answer.reply.text)


# --- several requests in one message (chatbot.dialogue.multi) ----------------------


def several(*parts: tuple[str, Classification | None]) -> Incoming:
    return Incoming(
        text=" and also ".join(text for text, _ in parts),
        parts=tuple(parts),
        customer_id=1,
        client_address="203.0.113.7",
    )


def test_two_questions_that_fit_one_reply_are_both_answered(shop):
    decision = decide(
        several(
            ("how long does delivery take", reading("shipping_time")),
            ("do you sell rain jackets under 100", reading("product_recommendation")),
        ),
        reading("shipping_time", 0.6, runner_up=0.3),
        state={},
        lookups=shop.lookups(),
    )
    assert "Standard delivery takes 3 to 5 working days." in decision.reply.text
    assert said("recommend_intro", decision.reply.text, within=True)
    assert decision.reply.payload["article"]["title"] == "Shipping times"
    assert [c["sku"] for c in decision.reply.payload["cards"]] == ["JKT-001"]


def test_a_request_that_starts_a_form_asks_which_first_then_offers_the_other(shop):
    chat = Chat(shop)
    chat.state = {}
    asked = decide(
        several(
            ("where's my order NW-10234", reading("order_status")),
            ("do you sell rain jackets", reading("product_recommendation")),
        ),
        reading("order_status", 0.7, runner_up=0.25),
        state={},
        lookups=shop.lookups(),
    )
    assert said("multi_which_first", asked.reply.text)
    buttons = asked.reply.payload["quick_replies"]
    assert [b["payload"] for b in buttons] == [
        {"intent": "order_status", "request": "where's my order NW-10234"},
        {"intent": "product_recommendation", "request": "do you sell rain jackets"},
    ]
    assert "form" not in asked.state  # nothing started before the customer chose

    chat.state = asked.state
    first = chat.turn(
        buttons[0]["title"],
        reading("order_status", 1.0),
        postback=buttons[0]["payload"],
    )
    # The button carries the customer's own words: the order number is not lost.
    assert said("ask_order_email", first.reply.text)
    done = chat.turn("alice@example.com", None)
    assert said("order_status", done.reply.text, within=True)
    assert said("multi_offer", done.reply.text, within=True)
    assert "do you sell rain jackets" in done.reply.text.lower()
    assert done.reply.payload["quick_replies"][-1] == buttons[1]
    assert "later_requests" not in done.state

    again = chat.turn("thanks", reading("thanks"))
    assert not said("multi_offer", again.reply.text, within=True)


def test_a_request_for_a_person_among_others_hands_over(shop):
    decision = decide(
        several(
            ("how long does delivery take", reading("shipping_time")),
            ("I want to talk to a person", reading("talk_to_person")),
        ),
        reading("shipping_time", 0.6, runner_up=0.3),
        state={},
        lookups=shop.lookups(),
    )
    assert decision.handoff == "asked for a person"


def test_one_request_said_twice_is_answered_once(shop):
    decision = decide(
        several(
            ("where is my order NW-10234", reading("order_status")),
            ("when will it arrive", reading("track_order")),
        ),
        reading("order_status"),
        state={},
        lookups=shop.lookups(),
    )
    assert said("ask_order_email", decision.reply.text)
    assert "quick_replies" not in decision.reply.payload


def test_a_greeting_beside_a_request_is_not_a_second_request(shop):
    decision = decide(
        several(
            ("hi there", reading("greeting")),
            ("how long does delivery take", reading("shipping_time")),
        ),
        reading("shipping_time"),
        state={},
        lookups=shop.lookups(),
    )
    assert "Standard delivery takes 3 to 5 working days." in decision.reply.text
    assert not said("greeting", decision.reply.text, within=True)


def test_a_refund_question_without_an_article_says_the_policy_and_offers_a_check(
    shop,
):
    answer = Chat(shop).turn(
        "how long do refunds usually take", reading("refund_status")
    )
    assert "form" not in answer.state
    assert said("refund_policy", answer.reply.text)
    assert answer.reply.payload["quick_replies"] == [
        {"title": "Check my refund", "payload": {"intent": "refund_status"}}
    ]


# --- values beside a request, "nvm", eager punctuation -----------------------------


def test_a_clause_giving_the_order_number_and_email_belongs_to_the_request(shop):
    decision = decide(
        several(
            ("when will my order arrive?", reading("order_status")),
            ("NW-10234 alice@example.com", reading("opening_hours_contact", 0.7)),
        ),
        reading("order_status", 0.5, runner_up=0.4),
        state={},
        lookups=shop.lookups(),
    )
    assert decision.reply.action == "form"
    assert "UPS" in decision.reply.text
    assert "1Z999AA10123456784" in decision.reply.text
    assert shop.looked_up == [("NW-10234", "alice@example.com")]


def test_my_email_is_beside_a_request_is_kept_for_its_form(shop):
    decision = decide(
        several(
            ("can you check my order?", reading("order_status")),
            ("my email is carla@example.com", reading("account_update", 0.8)),
        ),
        reading("order_status", 0.5, runner_up=0.4),
        state={},
        lookups=shop.lookups(),
    )
    assert decision.reply.action == "form"
    assert decision.state["form"]["slots"] == {"email": "carla@example.com"}
    assert decision.state["form"]["asking"] == "order_number"


def test_nvm_leaves_a_form(shop):
    chat = Chat(shop)
    chat.turn("cancel my order", reading("cancel_order"))
    left = chat.turn("nvm", reading("greeting", 0.4, runner_up=0.3))
    assert said("form_abandoned", left.reply.text)
    assert "form" not in left.state


def test_piled_up_punctuation_is_no_frustration(shop):
    eager = Chat(shop).turn("is there a warranty?????!!!!!", reading("warranty"))
    assert eager.handoff is None
