"""The widget on a real shop's page, on another origin than Concierge's: one script
tag, signed for the logged-in shopper by the shop's server (real Chromium, a real
Concierge server and worker, the shop a stdlib HTTP server on its own port)."""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from chatbot import identity
from tests.live import Process, child_env, start_web, web_process

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "northwind-identity-secret-for-the-browser-test-0123456789"
# The shop's logged-in shoppers: id → (email, name).
SHOPPERS = {
    "42": ("alice.identity@shop.example", "Alice"),
    "77": ("carla.identity@shop.example", "Carla"),
}
BOT = "[data-testid=concierge-message][data-sender=bot]"
FIRST_REPLY_MS = 120_000


class ShopPage(BaseHTTPRequestHandler):
    """A shop's page: /account/<id> as that shopper, logged in; anything else as a
    guest. The script tag is signed per request, as a shop's template would."""

    concierge = ""  # set per server: where the widget's script comes from

    def do_GET(self) -> None:
        shopper = self.path.removeprefix("/account/")
        if shopper in SHOPPERS:
            email, name = SHOPPERS[shopper]
            tag = identity.script_tag(
                server=self.concierge,
                secret=SECRET,
                timestamp=int(time.time()),
                shopper_id=shopper,
                email=email,
                name=name,
            )
            heading = f"Welcome back, {name}"
        else:
            tag = f'<script src="{self.concierge}/static/chatbot/widget.js" async>'
            tag += "</script>"
            heading = "Welcome"
        body = (
            "<!doctype html><html><head><meta charset=utf-8>"
            "<title>Northwind Outdoor</title></head>"
            f"<body><h1>{heading}</h1>{tag}</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output is the assertions'


def shop_server() -> ThreadingHTTPServer:
    """A shop on a free port of its own (another origin), serving in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShopPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Sites:
    concierge: str
    shop: str
    other_shop: str


@pytest.fixture(scope="module")
def sites(live_stack: Any, django_db_blocker: Any) -> Iterator[Sites]:
    """Concierge configured for the shop (its secret; its origin allowed) beside the
    shared live stack's worker, the shop, and a shop whose origin is not allowed."""
    shop, other = shop_server(), shop_server()
    shop_origin = f"http://127.0.0.1:{shop.server_port}"
    with django_db_blocker.unblock():
        env = child_env()
    env.update(SHOP_IDENTITY_SECRET=SECRET, WIDGET_ALLOWED_ORIGINS=shop_origin)
    web: Process
    web, port = web_process(live_stack.log_dir)
    start_web(web, port, env)
    concierge = f"http://127.0.0.1:{port}"
    # Each server hands out pages embedding this Concierge.
    shop.RequestHandlerClass = type("Shop", (ShopPage,), {"concierge": concierge})
    other.RequestHandlerClass = shop.RequestHandlerClass
    yield Sites(
        concierge=concierge,
        shop=shop_origin,
        other_shop=f"http://127.0.0.1:{other.server_port}",
    )
    web.stop()
    for server in (shop, other):
        server.shutdown()
        server.server_close()


def ask(page: Any, text: str) -> None:
    page.get_by_test_id("concierge-input").fill(text)
    page.get_by_test_id("concierge-send").click()


def test_a_logged_in_shopper_on_the_shops_page_gets_their_order_without_an_email(
    sites, active_intent_model, browser, page
):
    from chatbot.models import Customer, Order
    from tests.factories import OrderFactory

    OrderFactory.create(
        number="NW-42001",
        email=SHOPPERS["42"][0],
        status=Order.Status.SHIPPED,
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
    )
    page.goto(sites.shop + "/account/42")
    expect(page.get_by_text("Welcome back, Alice")).to_be_visible()
    page.get_by_test_id("concierge-launcher").click()
    ask(page, "where is my order?")

    answer = page.locator(BOT).last
    # The first reply of the module may wait for the worker to load the model.
    expect(answer).to_contain_text("NW-42001", timeout=FIRST_REPLY_MS)
    expect(answer).to_contain_text("shipped")
    bot_texts = " ".join(page.locator(BOT).all_inner_texts())
    assert "email" not in bot_texts.lower()  # never asked for it
    assert Customer.objects.get(external_id="42").email == SHOPPERS["42"][0]

    # The same shopper on another device (a fresh browser, no token): their
    # conversation follows them.
    phone = browser.new_context()
    try:
        other = phone.new_page()
        other.goto(sites.shop + "/account/42")
        other.get_by_test_id("concierge-launcher").click()
        expect(other.locator(BOT).last).to_contain_text("NW-42001")
        expect(
            other.locator("[data-testid=concierge-message][data-sender=customer]")
        ).to_contain_text("where is my order?")
    finally:
        phone.close()

    # Alice logs out: the same browser shows a guest page (the panel reopens as she
    # left it). The widget's stored session is hers, yet nothing of hers shows.
    page.goto(sites.shop + "/")
    expect(page.get_by_test_id("concierge-panel")).to_be_visible()
    ask(page, "hi")
    mine = page.locator("[data-testid=concierge-message][data-sender=customer]")
    expect(page.locator(BOT)).to_have_count(1)
    expect(mine).to_have_count(1)
    expect(mine).to_have_text("hi")
    assert "NW-42001" not in " ".join(page.locator(BOT).all_inner_texts())


def test_a_shopper_with_several_orders_picks_one_from_the_list(
    sites, active_intent_model, page
):
    from chatbot.models import Order
    from tests.factories import OrderFactory

    for number, status in (("NW-77001", "delivered"), ("NW-77002", "processing")):
        OrderFactory.create(number=number, email=SHOPPERS["77"][0], status=status)
    page.goto(sites.shop + "/account/77")
    page.get_by_test_id("concierge-launcher").click()
    ask(page, "where is my order?")

    choices = page.get_by_test_id("concierge-quick-reply")
    expect(choices).to_have_count(2)
    expect(choices.first).to_contain_text("NW-7700")
    page.get_by_test_id("concierge-quick-reply").filter(has_text="NW-77002").click()
    answer = page.locator(BOT).last
    expect(answer).to_contain_text("NW-77002")
    expect(answer).to_contain_text(
        Order.Status.PROCESSING.label.lower()  # "being prepared"
    )


def handshake(concierge: str, *, origin: str) -> int:
    """The status of a websocket handshake to the chat from a page of ``origin``."""
    host, port = concierge.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "GET",
            "/ws/chat/",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Sec-WebSocket-Version": "13",
                "Origin": origin,
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_shop_whose_origin_is_not_allowed_gets_no_chat(sites, page):
    from chatbot.models import Conversation

    assert handshake(sites.concierge, origin=sites.shop) == 101
    assert handshake(sites.concierge, origin=sites.other_shop) == 403

    before = Conversation.objects.count()
    page.goto(sites.other_shop + "/account/42")
    page.get_by_test_id("concierge-launcher").click()
    ask(page, "hello?")
    # Refused, and again on the widget's next try: it says it is reconnecting, and
    # the message waits in its outbox.
    expect(page.get_by_test_id("concierge-connection")).to_be_visible()
    expect(
        page.locator("[data-testid=concierge-message][data-pending=true]")
    ).to_have_count(1)
    assert Conversation.objects.count() == before
