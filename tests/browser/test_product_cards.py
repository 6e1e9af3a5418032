"""Product cards and links in the widget, and the click they record."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_bot_shows_product_cards_and_a_click_is_recorded(
    live_stack, active_intent_model, page
):
    from recommender.models import Interaction

    page.goto(live_stack.url + "/")
    page.get_by_test_id("concierge-launcher").click()
    page.get_by_test_id("concierge-input").fill(
        "can you recommend a waterproof jacket under $100?"
    )
    page.get_by_test_id("concierge-send").click()

    cards = page.get_by_test_id("concierge-card")
    expect(cards.first).to_be_visible()
    count = cards.count()
    assert 1 <= count <= 3
    first = cards.first
    sku = first.get_attribute("data-sku")
    assert sku and sku.startswith("JKT-")
    expect(first.get_by_role("img")).to_be_visible()
    assert "$" in first.inner_text()

    first.get_by_test_id("concierge-card-link").click()
    deadline = time.monotonic() + 15
    while not Interaction.objects.filter(kind="chat_click", product__sku=sku).exists():
        assert time.monotonic() < deadline, "the click was not recorded"
        time.sleep(0.2)


def test_the_demo_shop_records_a_product_view_and_an_add_to_cart(live_stack, page):
    from recommender.models import Interaction
    from tests.factories import ProductFactory

    ProductFactory.create(
        sku="OUT-900", name="Ridge Tent", category="Outdoor", price="199.00", stock=3
    )
    page.goto(live_stack.url + "/products/OUT-900/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added to your cart.")).to_be_visible()
    deadline = time.monotonic() + 15
    while set(Interaction.objects.values_list("kind", flat=True)) != {
        "view",
        "add_to_cart",
    }:
        assert time.monotonic() < deadline, (
            "the view and the add-to-cart were not recorded"
        )
        time.sleep(0.2)
    assert set(Interaction.objects.values_list("product__sku", flat=True)) == {
        "OUT-900"
    }


def test_an_order_status_links_to_the_carriers_tracking_page(
    live_stack, active_intent_model, page
):
    page.goto(live_stack.url + "/")
    page.get_by_test_id("concierge-launcher").click()
    bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
    for count, text in enumerate(["where is my order NW-10234", "alice@example.com"]):
        page.get_by_test_id("concierge-input").fill(text)
        page.get_by_test_id("concierge-send").click()
        expect(bot).to_have_count(count + 1)
    link = page.get_by_test_id("concierge-link")
    expect(link).to_have_text("Track your parcel with UPS")
    expect(link).to_have_attribute(
        "href", "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
