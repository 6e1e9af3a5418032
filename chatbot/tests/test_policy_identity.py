"""The order forms for a shopper the shop signed in (``Incoming.verified_email``):
never asked for their email, offered their own orders; decided without a database,
with the in-memory shop of ``test_policy``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta

import pytest

from chatbot.dialogue.decision import Lookups
from chatbot.models import Order
from chatbot.tests.test_policy import NOW, Chat, Shop, order, reading
from tests.chat import said


@dataclass
class SignedInShop(Shop):
    """The in-memory shop, which also lists a signed-in shopper's orders."""

    listed_for: list[str] = dataclasses.field(default_factory=list)

    def lookups(self) -> Lookups:
        return dataclasses.replace(super().lookups(), shopper_orders=self.orders_of)

    def orders_of(self, *, email: str, shopper_id: str) -> list[Order]:
        self.listed_for.append(email)
        mine = [o for o in self.orders if o.email.lower() == email.lower()]
        return sorted(mine, key=lambda o: o.placed_at, reverse=True)


@pytest.fixture
def shop() -> SignedInShop:
    made = SignedInShop(
        orders=[
            order(
                "NW-10234",
                status=Order.Status.SHIPPED,
                carrier="UPS",
                tracking_number="1Z999AA10123456784",
            ),
            order(
                "NW-10238",
                email="carla@example.com",
                status=Order.Status.PLACED,
            ),
            order(
                "NW-10239",
                email="carla@example.com",
                status=Order.Status.DELIVERED,
                delivered_at=NOW - timedelta(days=3),
            ),
        ]
    )
    made.orders[2].placed_at = NOW - timedelta(days=20)  # Carla's older order
    return made


def test_a_signed_in_shoppers_one_order_is_told_without_asking_anything(shop):
    alice = Chat(shop, verified_email="alice@example.com")
    answer = alice.turn("where is my order?", reading("order_status"))
    assert said("order_status", answer.reply.text)
    assert "NW-10234" in answer.reply.text and "shipped" in answer.reply.text
    assert shop.looked_up == [("NW-10234", "alice@example.com")]
    assert "form" not in answer.state


def test_a_shopper_with_several_orders_chooses_one_from_buttons(shop):
    carla = Chat(shop, verified_email="carla@example.com")
    asked = carla.turn("where is my order?", reading("order_status"))
    assert said("ask_which_order", asked.reply.text)
    buttons = asked.reply.payload["quick_replies"]
    # Newest first, each with its status, for the customer to recognise.
    assert [b["payload"] for b in buttons] == [
        {"order_number": "NW-10238"},
        {"order_number": "NW-10239"},
    ]
    assert "placed" in buttons[0]["title"]
    assert shop.looked_up == []  # nothing is looked up until they choose
    answer = carla.turn(
        buttons[1]["title"],
        reading("order_status", 0.3),
        postback=buttons[1]["payload"],
    )
    assert said("order_status", answer.reply.text)
    assert "NW-10239" in answer.reply.text and "delivered" in answer.reply.text
    assert shop.looked_up == [("NW-10239", "carla@example.com")]


def test_a_shopper_may_type_the_number_instead_of_choosing(shop):
    carla = Chat(shop, verified_email="carla@example.com")
    carla.turn("where is my order?", reading("order_status"))
    answer = carla.turn("NW-10238", None)
    assert said("order_status", answer.reply.text)
    assert "NW-10238" in answer.reply.text


def test_cancelling_offers_only_the_order_that_can_still_be_cancelled(shop):
    carla = Chat(shop, verified_email="carla@example.com")
    confirm = carla.turn("I want to cancel my order", reading("cancel_order"))
    # NW-10239 was delivered: the one placed order is the one meant.
    assert confirm.reply.text == "Cancel order NW-10238?"
    assert confirm.order_action is None  # still needs the yes, then the code


def test_a_shopper_without_orders_is_told_so_and_asked_the_number_only(shop):
    bob = Chat(shop, verified_email="bob@example.com")
    asked = bob.turn("where is my order?", reading("order_status"))
    assert said("no_orders_on_account", asked.reply.text, within=True)
    assert "bob@example.com" in asked.reply.text
    assert said("ask_order_number", asked.reply.text, within=True)
    # A number that isn't theirs is looked up with their signed email: not found.
    missing = bob.turn("NW-10234", None)
    assert said("order_not_found", missing.reply.text)
    assert shop.looked_up == [("NW-10234", "bob@example.com")]
    # And again: the number alone, never the email question.
    again = bob.turn("NW-10238", None)
    assert said("order_not_found", again.reply.text, within=True)
    assert shop.looked_up[-1] == ("NW-10238", "bob@example.com")


def test_a_signed_in_shopper_who_names_the_order_is_never_asked_the_email(shop):
    alice = Chat(shop, verified_email="alice@example.com")
    answer = alice.turn("where is NW-10234?", reading("order_status"))
    assert said("order_status", answer.reply.text)
    assert shop.listed_for == []  # the number was given: no list needed


def test_without_a_verified_email_nothing_is_listed_and_the_email_is_asked(shop):
    # A visitor's typed or remembered email is no proof: the usual questions.
    visitor = Chat(shop, verified_email="")
    asked = visitor.turn("where is my order NW-10234?", reading("order_status"))
    assert said("ask_order_email", asked.reply.text)
    assert shop.listed_for == []
