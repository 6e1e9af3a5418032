"""The widget on the demo shop, in real Chromium against real server and worker."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_customer_chats_on_the_demo_shop_and_keeps_the_history_on_reload(
    live_stack, page
):
    from tests.factories import ProductFactory

    ProductFactory.create(
        sku="JKT-001",
        name="Stormline Jacket",
        category="Jackets",
        price="89.00",
        stock=0,
    )
    page.goto(live_stack.url + "/")
    expect(page.get_by_text("Stormline Jacket")).to_be_visible()

    page.get_by_test_id("concierge-launcher").click()
    expect(page.get_by_test_id("concierge-panel")).to_be_visible()
    page.get_by_test_id("concierge-input").fill("Where is my <b>order</b>?")
    page.get_by_test_id("concierge-send").click()

    bubbles = page.get_by_test_id("concierge-message")
    bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
    expect(bot).to_have_count(1)
    # Text stays text: the markup is shown, not rendered.
    expect(bubbles.first).to_have_text("Where is my <b>order</b>?")
    before = bubbles.all_inner_texts()

    page.reload()
    expect(page.get_by_test_id("concierge-panel")).to_be_visible()
    expect(bubbles).to_have_count(2)
    assert bubbles.all_inner_texts() == before
    assert page.locator("[data-testid=concierge-message] b").count() == 0


def test_the_widget_drops_a_message_the_server_refused_and_the_customer_goes_on(
    live_stack, page
):
    page.goto(live_stack.url + "/")
    page.get_by_test_id("concierge-launcher").click()
    page.get_by_test_id("concierge-input").fill("ring \u0007 the bell")
    page.get_by_test_id("concierge-send").click()

    refused = page.locator("[data-testid=concierge-message][data-pending=failed]")
    expect(refused).to_have_count(1)
    expect(page.get_by_test_id("concierge-notice")).to_be_visible()
    outbox = page.evaluate(
        "Object.keys(localStorage).filter(k => k.endsWith(':outbox'))"
        ".map(k => JSON.parse(localStorage.getItem(k)).length)"
    )
    assert outbox == [0]  # not re-sent on the next connect

    page.get_by_test_id("concierge-input").fill("Where is my order?")
    page.get_by_test_id("concierge-send").click()
    bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
    expect(bot).to_have_count(1)


def test_the_widget_pages_through_a_long_history_on_reload(live_stack, page):
    from tests.live import child_env, start_web, web_process

    # A server of its own that answers a resync two messages at a time.
    server, port = web_process(live_stack.log_dir)
    start_web(server, port, {**child_env(), "RESYNC_PAGE_SIZE": "2"})
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_test_id("concierge-launcher").click()
        bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
        for n in range(3):
            page.get_by_test_id("concierge-input").fill(f"Where is my order {n}?")
            page.get_by_test_id("concierge-send").click()
            expect(bot).to_have_count(n + 1)
        bubbles = page.get_by_test_id("concierge-message")
        before = bubbles.all_inner_texts()
        assert len(before) == 6

        page.reload()  # the history comes back from resync 0, in three pages
        expect(page.get_by_test_id("concierge-panel")).to_be_visible()
        expect(bubbles).to_have_count(6)
        assert bubbles.all_inner_texts() == before
    finally:
        server.stop()


def test_the_widget_shows_a_card_number_masked_with_a_notice_why(live_stack, page):
    from chatbot.models import CARD_NOTICE

    page.goto(live_stack.url + "/")
    page.get_by_test_id("concierge-launcher").click()
    page.get_by_test_id("concierge-input").fill("my card is 4242 4242 4242 4242")
    page.get_by_test_id("concierge-send").click()

    own = page.locator("[data-testid=concierge-message][data-sender=customer]")
    masked = "my card is [card ••••4242]"
    expect(own).to_have_text(masked)
    expect(page.get_by_test_id("concierge-redacted")).to_have_text(CARD_NOTICE)
    bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
    expect(bot).to_have_count(1)
    # Neither the page nor the browser's storage keeps the number.
    assert "4242 4242" not in page.content()
    storage = page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert "4242 4242" not in storage

    page.reload()
    expect(own).to_have_text(masked)
    expect(page.get_by_test_id("concierge-redacted")).to_have_text(CARD_NOTICE)
