"""Dialogue state: follow-ups to product cards, budgets honoured, values on their own.

Decided without a database or a model, with the in-memory shop of test_policy.py:
each conversation is written the way shoppers type, and the classification is what
a model could well make of the words out of context (often something else).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from chatbot.dialogue import followups
from chatbot.dialogue.forms import OrderNumbers
from chatbot.models import Order
from chatbot.tests.test_policy import Chat, Shop, order, reading
from classifier.serving import Classification
from recommender.models import Product
from tests.chat import said


def product(
    sku: str, name: str, category: str, price: str, stock: int, **attributes: Any
) -> Product:
    return Product(
        sku=sku,
        name=name,
        category=category,
        price=Decimal(price),
        stock=stock,
        attributes=attributes,
    )


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
            order("NW-10238", email="carla@example.com", status=Order.Status.PLACED),
        ],
        products=[
            product(
                "SHO-101",
                "Cloudstep Running Shoes",
                "Shoes",
                "119.00",
                5,
                colours=["black", "blue"],
                sizes=["40", "41", "42", "43", "44", "45"],
            ),
            product(
                "SHO-102",
                "Tempo Road Runner",
                "Shoes",
                "75.00",
                3,
                colours=["red", "white"],
                sizes=["40", "41", "42"],
            ),
            product(
                "SHO-103",
                "Pacer Running Shoes",
                "Shoes",
                "59.00",
                8,
                colours=["blue", "grey"],
                sizes=["40", "41", "42", "43", "44"],
            ),
            product(
                "SHO-104",
                "Sprint Lite Running Shoes",
                "Shoes",
                "45.00",
                0,
                colours=["red"],
                sizes=["38", "39", "40"],
            ),
            product(
                "SHO-105",
                "Everyday Canvas Sneakers",
                "Shoes",
                "49.00",
                10,
                colours=["navy", "white"],
                material="canvas",
            ),
            product(
                "SHO-106", "Recovery Slides", "Shoes", "29.00", 20, colours=["black"]
            ),
            product(
                "JKT-201",
                "Storm Shell",
                "Jackets",
                "89.00",
                4,
                colours=["red", "navy"],
                sizes=["S", "M", "L"],
            ),
            product(
                "JKT-202",
                "Alpine Parka",
                "Jackets",
                "240.00",
                2,
                colours=["black"],
                sizes=["M", "L", "XL"],
            ),
        ],
    )


def skus(decision: Any) -> list[str]:
    return [card["sku"] for card in decision.reply.payload.get("cards", [])]


def shown_shoes(shop: Shop) -> Chat:
    """Alice asked for running shoes under eighty and got three cards."""
    alice = Chat(shop)
    cards = alice.turn(
        "looking for running shoes under eighty bucks",
        reading("product_recommendation"),
    )
    assert skus(cards) == ["SHO-102", "SHO-103", "SHO-105"]
    return alice


# --- budgets and stock ---------------------------------------------------------------


def test_it_honours_a_budget_written_in_words(shop):
    answer = Chat(shop).turn(
        "running shoes, fifty dollars max", reading("product_recommendation")
    )
    assert skus(answer) == ["SHO-105", "SHO-106"]
    assert all(Decimal(c["price"]) <= 50 for c in answer.reply.payload["cards"])
    assert "under $50" in answer.reply.payload["cards"][0]["reason"]


def test_it_never_recommends_a_sold_out_product_unless_told_it_is_fine(shop):
    asked = Chat(shop).turn("red running shoes", reading("product_recommendation"))
    assert "SHO-104" not in skus(asked)
    assert skus(asked) == ["SHO-102"]
    fine = Chat(shop).turn(
        "red running shoes, even if they're sold out", reading("product_recommendation")
    )
    assert skus(fine) == ["SHO-102", "SHO-104"]
    assert fine.reply.payload["cards"][1]["in_stock"] is False


def test_when_nothing_meets_the_budget_it_says_so_and_shows_the_closest(shop):
    answer = Chat(shop).turn(
        "running shoes under $20", reading("product_recommendation")
    )
    assert said("recommend_nearest", answer.reply.text)
    assert "under $20" in answer.reply.text
    # The closest to the budget first, and still shoes in stock.
    assert skus(answer) == ["SHO-106", "SHO-105", "SHO-103"]
    assert answer.reply.payload["cards"][0]["reason"].startswith("The closest I have")


def test_when_no_product_has_the_colour_it_names_the_colour(shop):
    answer = Chat(shop).turn("a purple jacket", reading("product_recommendation"))
    assert said("recommend_nearest", answer.reply.text)
    assert "in purple" in answer.reply.text
    assert skus(answer) == ["JKT-201", "JKT-202"]


def test_a_budget_in_another_currency_is_compared_only_with_that_currency(shop):
    answer = Chat(shop).turn("a jacket for €100", reading("product_recommendation"))
    assert said("recommend_nearest", answer.reply.text)
    assert "under €100" in answer.reply.text
    assert "our prices are in USD" in answer.reply.text


def test_the_shop_currency_is_what_a_bare_budget_means(shop):
    shop.settings = dataclasses.replace(shop.settings, currency="EUR")
    for p in shop.products:
        p.currency = "EUR"
    answer = Chat(shop).turn("jacket under 100", reading("product_recommendation"))
    assert skus(answer) == ["JKT-201"]
    assert "under €100" in answer.reply.payload["cards"][0]["reason"]


def test_cards_carry_the_products_attributes(shop):
    answer = Chat(shop).turn("a red jacket", reading("product_recommendation"))
    card = answer.reply.payload["cards"][0]
    assert card["attributes"] == {"colours": ["red", "navy"], "sizes": ["S", "M", "L"]}
    assert card["in_stock"] is True


# --- follow-ups to the cards -------------------------------------------------------


def test_anything_cheaper_shows_only_cheaper_products_of_the_same_search(shop):
    alice = shown_shoes(shop)
    cheaper = alice.turn("anything cheaper?", reading("greeting", 0.6))
    assert said("recommend_refined", cheaper.reply.text)
    assert "cheaper than $49" in cheaper.reply.text
    assert skus(cheaper) == ["SHO-106"]  # SHO-104 is cheaper too, but sold out
    # Recorded as the product request it continues, not as the model's guess.
    assert (cheaper.reply.intent, cheaper.reply.confidence) == (
        "product_recommendation",
        None,
    )
    assert cheaper.reply.payload["follow_up"] == "cheaper"


def test_nothing_cheaper_is_said_without_showing_dearer_cards(shop):
    alice = shown_shoes(shop)
    alice.turn("anything cheaper?", None)
    nothing = alice.turn("even cheaper?", None)
    assert said("recommend_nothing_more", nothing.reply.text)
    assert "cards" not in nothing.reply.payload


def test_in_red_refines_the_last_search(shop):
    alice = shown_shoes(shop)
    red = alice.turn("in red?", reading("oos", 0.7))
    assert said("recommend_refined", red.reply.text)
    assert skus(red) == ["SHO-102"]  # red, shoes, under $80 and in stock
    assert red.state["last_search"]["constraints"]["colours"] == ["red"]
    blue = alice.turn("what about blue", None)
    assert skus(blue) == ["SHO-103"]  # still under $80: the Cloudstep is $119


def test_the_second_one_is_card_two_with_its_price_and_stock(shop):
    alice = shown_shoes(shop)
    second = alice.turn("tell me more about the second one", reading("oos", 0.8))
    assert said("product_details", second.reply.text, within=True)
    assert "Pacer Running Shoes" in second.reply.text
    assert "$59.00" in second.reply.text and "in stock" in second.reply.text
    assert "Sizes: 40, 41, 42, 43, 44." in second.reply.text
    assert skus(second) == ["SHO-103"]
    assert second.state["focus"] == "SHO-103"


def test_does_it_come_in_a_size_asks_about_the_product_in_focus(shop):
    alice = shown_shoes(shop)
    alice.turn("the second one", None)
    yes = alice.turn("does it come in 44?", reading("product_availability", 0.5))
    assert said("product_has", yes.reply.text)
    assert "Pacer Running Shoes" in yes.reply.text and "44" in yes.reply.text
    no = alice.turn("and in size 46?", None)
    assert said("product_lacks", no.reply.text)
    assert "40, 41, 42, 43, 44" in no.reply.text


def test_does_the_first_one_come_in_red_answers_about_the_first_card(shop):
    alice = shown_shoes(shop)
    answer = alice.turn("does the first one come in red", None)
    assert said("product_has", answer.reply.text)
    assert "Tempo Road Runner" in answer.reply.text


def test_is_the_x_in_stock_is_a_yes_or_no_about_x(shop):
    alice = shown_shoes(shop)
    yes = alice.turn("is the pacer in stock?", reading("product_availability"))
    assert said("product_in_stock", yes.reply.text)
    assert "Pacer Running Shoes" in yes.reply.text and " 8 " in yes.reply.text
    assert "cards" not in yes.reply.payload
    no = alice.turn("and is the sprint lite in stock?", reading("product_availability"))
    assert said("product_sold_out", no.reply.text)
    assert "Sprint Lite Running Shoes" in no.reply.text
    assert "cards" not in no.reply.payload


def test_is_the_x_in_stock_without_cards_answers_about_x(shop):
    answer = Chat(shop).turn(
        "hi is the alpine parka in stock", reading("product_availability")
    )
    assert said("product_in_stock", answer.reply.text)
    assert "Alpine Parka" in answer.reply.text
    assert "cards" not in answer.reply.payload


def test_a_stock_question_naming_a_product_is_answered_whatever_the_intent(shop):
    answer = Chat(shop).turn(
        "do u have the sprint lite running shoes in stock??", reading("oos", 0.8)
    )
    assert said("product_sold_out", answer.reply.text)
    assert "Sprint Lite Running Shoes" in answer.reply.text
    assert answer.reply.intent == "product_availability"


def test_a_follow_up_needs_cards_to_follow(shop):
    alice = Chat(shop)
    answer = alice.turn("the second one", reading("oos", 0.9))
    assert said("fallback", answer.reply.text)
    assert "focus" not in answer.state


def test_a_confident_request_for_a_form_beats_a_follow_up(shop):
    alice = shown_shoes(shop)
    switched = alice.turn("cancel the second one i ordered", reading("cancel_order"))
    assert said("ask_order_number", switched.reply.text)


# --- clarification buttons ---------------------------------------------------------


def test_a_clarification_button_searches_for_the_original_request(shop):
    alice = Chat(shop)
    # An order form guessed first keeps the question for the customer (the catalog
    # only settles an unsure reading when no grievance or form is guessed first).
    unsure = dataclasses.replace(
        reading("order_status", 0.45),
        top_k=[("order_status", 0.45), ("product_recommendation", 0.4)],
    )
    asked = alice.turn("running shoes under 80", unsure)
    assert asked.reply.action == "clarify"
    chosen = reading("product_recommendation", 1.0, runner_up=0.0)
    answer = alice.turn(
        "Product recommendation", chosen, postback={"intent": "product_recommendation"}
    )
    assert skus(answer) == ["SHO-102", "SHO-103", "SHO-105"]
    assert "in Shoes, under $80" in answer.reply.payload["cards"][0]["reason"]
    assert answer.state["last_search"]["text"] == "running shoes under 80"


def test_a_clarification_button_for_a_form_keeps_the_order_number(shop):
    alice = Chat(shop)
    alice.turn("NW-10234 hasnt come yet??", reading("order_status", 0.5, runner_up=0.4))
    chosen = reading("order_status", 1.0, runner_up=0.0)
    answer = alice.turn("Order status", chosen, postback={"intent": "order_status"})
    assert said("ask_order_email", answer.reply.text)
    assert answer.state["form"]["slots"] == {"order_number": "NW-10234"}


# --- values on their own -------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["nw 10234", "NW#10234", "#NW-10234", "its NW10234 thx"]
)
def test_an_order_number_on_its_own_starts_the_order_form(shop, typed):
    alice = Chat(shop)
    # The model, out of context, reads it as something else at middling confidence.
    asked = alice.turn(typed, reading("opening_hours", 0.62))
    assert said("ask_order_email", asked.reply.text)
    assert asked.state["form"]["slots"] == {"order_number": "NW-10234"}
    # Recorded under the form's intent, without the model's guess.
    assert asked.reply.intent == "order_status"
    assert asked.reply.confidence is None and asked.reply.model_version_id is None
    assert asked.reply.payload["form_turn"] == "order_status"
    status = alice.turn("alice@example.com", reading("greeting", 0.55))
    assert said("order_status", status.reply.text)
    assert status.reply.intent == "order_status"
    assert status.state["last_order"] == {
        "number": "NW-10234",
        "email": "alice@example.com",
    }


def test_an_email_on_its_own_asks_for_the_order_number(shop):
    alice = Chat(shop)
    asked = alice.turn("alice@example.com", reading("account_help", 0.5))
    assert said("ask_order_number", asked.reply.text)
    assert asked.reply.intent == "order_status"
    status = alice.turn("10234", reading("opening_hours", 0.7))
    assert said("order_status", status.reply.text)


def test_a_value_after_a_clarification_starts_the_form_it_offered(shop):
    carla = Chat(shop)
    carla.turn("i need to cancel", reading("cancel_order", 0.5, runner_up=0.45))
    number = carla.turn("NW-10238", reading("opening_hours", 0.7))
    assert said("ask_order_email", number.reply.text)
    assert number.state["form"]["name"] == "cancel"
    assert number.reply.intent == "cancel_order"


def test_a_value_resumes_a_form_the_customer_stepped_away_from(shop):
    alice = Chat(shop)
    alice.turn("where's my parcel", reading("track_order"))
    alice.turn("hi there", reading("greeting", 0.97))  # the form is left
    resumed = alice.turn("NW-10234", reading("opening_hours", 0.6))
    assert said("ask_order_email", resumed.reply.text)
    assert resumed.state["form"]["name"] == "order_tracking"
    done = alice.turn("alice@example.com", None)
    assert said("order_tracking", done.reply.text)


def test_a_verified_order_number_sent_again_needs_no_email(shop):
    alice = Chat(shop)
    alice.turn("where is my order NW-10234", reading("order_status"))
    alice.turn("alice@example.com", None)
    again = alice.turn("NW-10234", reading("opening_hours", 0.6))
    assert said("order_status", again.reply.text)


def test_a_value_inside_a_form_is_recorded_with_the_forms_intent(shop):
    alice = Chat(shop)
    alice.turn("where is my order?", reading("order_status"))
    number = alice.turn("NW-10234", reading("opening_hours", 0.81))
    assert (number.reply.intent, number.reply.confidence) == ("order_status", None)
    assert number.reply.payload["form_turn"] == "order_status"


def test_the_order_number_pattern_is_the_shops(shop):
    shop.settings = dataclasses.replace(shop.settings, order_number_pattern=r"ORD\d{6}")
    shop.orders.append(order("ORD410234", status=Order.Status.PLACED))
    alice = Chat(shop)
    asked = alice.turn("ord 410234", reading("opening_hours", 0.6))
    assert said("ask_order_email", asked.reply.text)
    assert asked.state["form"]["slots"] == {"order_number": "ORD410234"}
    old_style = Chat(shop).turn("NW-10234", reading("opening_hours", 0.9))
    assert "form" not in old_style.state


# --- failed turns ------------------------------------------------------------------


def test_an_order_not_found_counts_as_a_failed_turn(shop):
    alice = Chat(shop)
    alice.turn("where is my order NW-99999", reading("order_status"))
    missing = alice.turn("alice@example.com", None)
    assert said("order_not_found", missing.reply.text)
    assert missing.state["failed_turns"] == 1
    # Not understood next: the second failed turn in a row goes to a person.
    lost = alice.turn("ugh whatever", reading("greeting", 0.3))
    assert lost.handoff == "two failed turns"


# --- the rules on their own --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "position"),
    [
        ("anything cheaper?", "cheaper", None),
        ("bit pricey tbh, cheaper ones?", "cheaper", None),
        ("those are too expensive", "cheaper", None),
        ("in red?", "refine", None),
        ("any in blue", "refine", None),
        ("what about navy", "refine", None),
        ("the second one", "pick", 1),
        ("show me the 3rd one", "pick", 2),
        ("i like the last one", "pick", -1),
        ("option 2", "pick", 1),
        ("does it come in M", "sizes", None),
        ("what sizes does the first one come in", "sizes", 0),
        ("do you have it in size 42", "sizes", None),
        ("which colours does it come in?", "colours", None),
        ("does the second one come in black", "colours", 1),
        ("is it in stock", "stock", None),
        ("is the pacer still available?", "stock", None),
        ("show me more", "more", None),
        ("something else?", "more", None),
    ],
)
def test_it_reads_follow_ups_as_shoppers_write_them(text, kind, position):
    found = followups.detect(text)
    assert found is not None
    assert (found.kind, found.position) == (kind, position)


@pytest.mark.parametrize(
    "text",
    ["where is my order", "hello", "what's your returns policy", "thanks, bye"],
)
def test_other_messages_are_no_follow_ups(text):
    assert followups.detect(text) is None


@pytest.mark.parametrize(
    ("text", "number", "email"),
    [
        ("NW-10234", "NW-10234", None),
        ("nw 10234", "NW-10234", None),
        ("#NW-10234", "NW-10234", None),
        ("order no: NW#10234", "NW-10234", None),
        ("its alice@example.com thanks", None, "alice@example.com"),
        ("NW-10234 alice@example.com", "NW-10234", "alice@example.com"),
    ],
)
def test_it_reads_a_value_sent_on_its_own(text, number, email):
    values = followups.values_only(text, order_numbers=OrderNumbers.of(r"NW-\d{5}"))
    assert values == followups.Values(order_number=number, email=email)


@pytest.mark.parametrize(
    "text",
    [
        "when do you open? my order NW-10234 is late",
        "can I change the email alice@example.com on my account",
        "10234",
    ],
)
def test_a_value_in_a_sentence_is_not_a_value_on_its_own(text):
    assert (
        followups.values_only(text, order_numbers=OrderNumbers.of(r"NW-\d{5}")) is None
    )


# --- an unsure reading the catalog settles ----------------------------------------


def unsure_between(*guesses: tuple[str, float]) -> Classification:
    first, confidence = guesses[0]
    return dataclasses.replace(reading(first, confidence), top_k=list(guesses))


def test_an_unsure_request_naming_what_the_shop_sells_gets_cards(shop):
    unsure = unsure_between(("size_and_fit", 0.4), ("product_recommendation", 0.35))
    answer = Chat(shop).turn("running shoes between 50 and 80", unsure)
    assert answer.reply.action == "recommend"
    assert skus(answer) == ["SHO-102", "SHO-103"]
    assert answer.reply.intent == "product_recommendation"
    assert answer.reply.confidence == 0.35


def test_an_out_of_scope_reading_naming_a_product_kind_gets_cards(shop):
    oos = dataclasses.replace(
        unsure_between(("greeting", 0.3), ("product_recommendation", 0.25)),
        intent="oos",
        out_of_scope=True,
    )
    answer = Chat(shop).turn("show me rain jackets", oos)
    assert answer.reply.action == "recommend"
    assert skus(answer) == ["JKT-201", "JKT-202"]


def test_an_unsure_reading_without_a_product_word_is_still_asked_about(shop):
    unsure = unsure_between(("product_recommendation", 0.4), ("greeting", 0.3))
    answer = Chat(shop).turn("the blue one from tuesday", unsure)
    assert answer.reply.action == "clarify"


def test_a_grievance_guessed_first_keeps_the_question(shop):
    unsure = unsure_between(
        ("damaged_or_wrong_item", 0.4), ("product_availability", 0.35)
    )
    answer = Chat(shop).turn("my running shoes arrived torn", unsure)
    assert answer.reply.action == "clarify"
    assert "cards" not in answer.reply.payload


# --- narrowing the last search -----------------------------------------------------


def test_any_for_kids_narrows_the_last_search_and_keeps_its_budget(shop):
    alice = shown_shoes(shop)
    kids = alice.turn("any for kids?", unsure_between(("greeting", 0.3)))
    assert kids.reply.action == "recommend"
    assert said("recommend_refined", kids.reply.text)
    assert "for kids" in kids.reply.text
    assert kids.reply.payload["follow_up"] == "narrow"
    search = kids.state["last_search"]
    assert search["text"] == "looking for running shoes under eighty bucks for kids"
    assert search["constraints"]["max_price"] == "80"
    assert all(Decimal(c["price"]) <= 80 for c in kids.reply.payload["cards"])


def test_a_new_product_kind_is_no_narrowing_of_the_last_search():
    assert followups.detect("any for kids?") == followups.FollowUp(
        "narrow", words="for kids"
    )
    assert followups.detect("any jackets for kids?") is None


def test_when_will_x_be_back_in_stock_is_answered_about_x(shop):
    answer = Chat(shop).turn(
        "when will the sprint lite running shoes be back in stock",
        reading("product_recommendation"),
    )
    assert said("product_sold_out", answer.reply.text)
    assert "Sprint Lite Running Shoes" in answer.reply.text


def test_two_product_intents_are_no_reason_to_ask(shop):
    # Either reading recommends: together they are a sure request for products.
    torn = unsure_between(
        ("product_recommendation", 0.4),
        ("product_availability", 0.35),
        ("greeting", 0.1),
    )
    answer = Chat(shop).turn("something nice for my dad", torn)
    assert answer.reply.action == "recommend"
    assert answer.reply.payload["cards"]


def test_a_faint_product_guess_is_no_product_request(shop):
    # Out of scope, with a product intent guessed at 0.01: "rain" names no request.
    oos = dataclasses.replace(
        unsure_between(("greeting", 0.04), ("product_recommendation", 0.01)),
        intent="oos",
        out_of_scope=True,
    )
    answer = Chat(shop).turn("is it gonna rain on the storm shell trail", oos)
    assert answer.reply.action == "fallback"


def test_the_model_reading_frustration_into_a_follow_up_does_not_beat_it(shop):
    alice = shown_shoes(shop)
    second = alice.turn("tell me more about the second one", reading("frustration"))
    assert second.handoff is None
    assert "Pacer Running Shoes" in second.reply.text
    angry = alice.turn("the second one?? this is useless", reading("frustration"))
    assert angry.handoff == "frustration"
