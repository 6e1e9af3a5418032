"""Websocket origins are compared whole: scheme, host and port (in-process ASGI,
real PostgreSQL and Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatbot.origins import is_allowed_origin, is_own_origin
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bob(db: Any) -> Any:
    """A support agent: the console refuses staff without its permissions."""
    from tests.factories import AgentFactory

    return AgentFactory.create(username="bob")


def cookie_for(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def opens(
    path: str, *, host: str, origin: str, cookie: tuple[bytes, bytes] | None = None
) -> bool:
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    communicator = WebsocketCommunicator(
        application, path, headers=headers + ([cookie] if cookie else [])
    )
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected


def scope(*, host: str, origin: str, scheme: str = "ws") -> dict[str, Any]:
    return {
        "type": "websocket",
        "scheme": scheme,
        "headers": [(b"host", host.encode()), (b"origin", origin.encode())],
    }


async def test_it_accepts_the_chat_socket_from_our_own_page_with_its_port():
    assert await opens(
        "/ws/chat/", host="testserver:8000", origin="http://testserver:8000"
    )


@pytest.mark.parametrize(
    "origin",
    [
        "https://testserver:8000",  # another scheme
        "http://testserver:8080",  # another port
        "http://testserver",  # the default port, while the page is on 8000
        "null",  # a sandboxed frame or a file
    ],
)
async def test_it_refuses_the_chat_socket_from_our_host_on_another_origin(origin):
    assert not await opens("/ws/chat/", host="testserver:8000", origin=origin)


async def test_it_refuses_a_page_on_a_host_that_is_not_ours(settings):
    # A rebinding DNS name: the page and the Host header agree, but the host is
    # not one of ALLOWED_HOSTS.
    assert not await opens(
        "/ws/chat/", host="evil.example:8000", origin="http://evil.example:8000"
    )


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example", True),
        ("https://shop.example:443", True),
        ("http://shop.example", False),
        ("https://shop.example:8443", False),
        ("https://www.shop.example", False),
    ],
)
async def test_it_accepts_a_widget_shop_only_on_its_exact_origin(
    settings, origin, allowed
):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    assert await opens("/ws/chat/", host="testserver", origin=origin) is allowed


async def test_it_opens_the_console_only_from_our_own_scheme_host_and_port(bob):
    cookie = await database_sync_to_async(cookie_for)(bob)
    host = "testserver:8000"

    assert await opens(
        "/ws/console/", host=host, origin="http://testserver:8000", cookie=cookie
    )
    for origin in ("http://testserver:8443", "https://testserver:8000"):
        assert not await opens("/ws/console/", host=host, origin=origin, cookie=cookie)


def test_it_takes_the_scheme_from_a_secure_socket(settings):
    settings.ALLOWED_HOSTS = ["chat.example"]
    secure = scope(host="chat.example", origin="https://chat.example", scheme="wss")
    plain = scope(host="chat.example", origin="https://chat.example", scheme="ws")
    downgraded = scope(host="chat.example", origin="http://chat.example", scheme="wss")

    assert is_own_origin(secure)
    assert not is_own_origin(plain)
    assert not is_own_origin(downgraded)


def test_it_trusts_csrf_trusted_origins_for_a_page_behind_a_tls_proxy(settings):
    # The proxy terminates TLS and is not trusted for X-Forwarded-Proto, so the
    # socket looks plain; the operator named the public origin, as Django's CSRF
    # check needs too.
    settings.ALLOWED_HOSTS = ["chat.example"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example"]

    assert is_own_origin(scope(host="chat.example", origin="https://chat.example"))
    assert not is_own_origin(
        scope(host="chat.example", origin="https://chat.example:8443")
    )


def test_a_widget_shop_is_not_our_own_site(settings):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    shop = scope(host="testserver", origin="https://shop.example")

    assert is_allowed_origin(shop)
    assert not is_own_origin(shop)
