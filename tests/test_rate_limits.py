"""Cheap denial of service: rate limits on both sockets, per connection and per
client address, a paged resync, and a queue broadcast that costs the same few
queries however long the queue is."""

from __future__ import annotations

import ipaddress
import random
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from chatbot import selectors
from chatbot.addresses import client_address, limit_key
from chatbot.consumers import ChatConsumer
from chatbot.models import Conversation, Customer
from chatbot.services import queue_broadcast
from config.asgi import application
from tests.chat import frames_until
from tests.factories import (
    AgentFactory,
    AgentPresenceFactory,
    ConversationFactory,
    MessageFactory,
)


def cookie_for(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


# --- the queue under a mass handoff ----------------------------------------------


@pytest.mark.django_db
def test_it_tells_50_waiting_customers_their_place_in_a_fixed_few_queries(
    django_assert_max_num_queries,
):
    AgentPresenceFactory.create()
    start = timezone.now() - timedelta(hours=1)
    waiting = [
        ConversationFactory.create(
            status=Conversation.Status.WAITING_FOR_AGENT,
            waiting_since=start + timedelta(seconds=n),
        )
        for n in range(50)
    ]
    expected = {c.group_name: selectors.status_frame(c) for c in waiting}
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    for conversation in waiting:
        async_to_sync(layer.group_add)(conversation.group_name, channel)

    # One frame per conversation used to count the queue again: 4 queries each.
    with django_assert_max_num_queries(5):
        queue_broadcast()

    frames = [async_to_sync(layer.receive)(channel)["status"] for _ in waiting]
    assert [f["queue_position"] for f in frames] == list(range(1, 51))
    assert frames == list(expected.values())


# --- the sockets -------------------------------------------------------------------

ORIGIN = (b"origin", b"http://testserver")
FRAMES: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello"},
    "message": {"type": "message", "text": "Hi"},
    "postback": {"type": "postback", "title": "Track", "payload": {"intent": "x"}},
    "typing": {"type": "typing"},
    "resync": {"type": "resync", "since_seq": 0},
    "csat": {"type": "csat", "score": 5},
    "event": {"type": "event", "kind": "view", "sku": "MUG-1"},
}


def an_address() -> str:
    """A fresh client address (in 10/8): the counters live in Redis all run long."""
    return str(ipaddress.IPv4Address(0x0A000000 + random.getrandbits(24)))


def from_peer(address: str) -> Any:
    """The application, seen from a client at ``address`` (as a server sets it)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await application({**scope, "client": [address, 50000]}, receive, send)

    return app


async def socket(
    address: str, *headers: tuple[bytes, bytes], path: str = "/ws/chat/"
) -> Any:
    ws = WebsocketCommunicator(from_peer(address), path, headers=[ORIGIN, *headers])
    connected, _ = await ws.connect()
    assert connected
    return ws


async def session(address: str, **hello: str) -> tuple[Any, dict[str, Any]]:
    """A chat socket that said hello and got its session and status frames."""
    ws = await socket(address)
    await ws.send_json_to({"type": "hello", **hello})
    frames = await frames_until(ws, lambda f: f["type"] in ("status", "error"))
    assert frames[0]["type"] == "session", frames
    return ws, frames[0]


def numbered(kind: str, n: int) -> dict[str, Any]:
    frame = dict(FRAMES[kind])
    if kind in ("message", "postback"):
        frame["client_msg_id"] = f"{kind}-{n}"
    return frame


async def settled(ws: Any) -> list[dict[str, Any]]:
    """The frames up to the answer to a marker: a socket handles its frames in
    order, so every frame sent before it has been counted."""
    await ws.send_json_to({"type": "mark"})
    return await frames_until(ws, lambda f: f.get("code") == "unknown_type")


def is_throttled(frame: dict[str, Any]) -> bool:
    return frame["type"] == "error" and frame["code"] == "throttled"


@pytest.fixture
def limits(settings: Any) -> Any:
    """Limits small enough to reach: each test lowers the one it is about."""
    settings.CHAT_RATE_LIMITS = dict.fromkeys(settings.CHAT_RATE_LIMITS, 1000)
    settings.RATE_LIMIT_SHOPPERS_PER_ADDRESS = 1
    settings.RATE_LIMIT_WINDOW_SECONDS = 3600
    return settings


@pytest.mark.parametrize("kind", FRAMES)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
async def test_it_throttles_each_frame_type_per_connection(limits, kind):
    limits.RATE_LIMIT_SHOPPERS_PER_ADDRESS = 1000  # only the connection's limit
    limits.CHAT_RATE_LIMITS[kind] = 2
    ws, _ = await session(an_address())
    for n in range(3):
        await ws.send_json_to(numbered(kind, n))
    frames = await frames_until(ws, is_throttled)
    refused = frames[-1]
    assert 1 <= refused["retry_after"] <= 3601
    if kind in ("message", "postback"):
        assert refused["client_msg_id"] == f"{kind}-2"
    assert [f for f in frames if is_throttled(f)] == [refused]
    await ws.disconnect()


@pytest.mark.parametrize("kind", FRAMES)
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
async def test_it_throttles_each_frame_type_per_client_address(limits, kind):
    limits.CHAT_RATE_LIMITS[kind] = 2
    address = an_address()
    sockets = [await socket(address) for _ in range(3)]
    if kind != "hello":
        for ws in sockets:
            await ws.send_json_to({"type": "hello"})
            await frames_until(ws, lambda f: f["type"] == "status")
    for n, ws in enumerate(sockets):
        # One frame on each connection: only the address's count can be reached.
        await ws.send_json_to(numbered(kind, n))
        if n < 2:
            assert not any(is_throttled(f) for f in await settled(ws))
    answers = await frames_until(sockets[2], is_throttled)
    assert answers[-1]["retry_after"] >= 1
    for ws in sockets:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_limits_new_connections_per_client_address(limits):
    limits.CHAT_RATE_LIMITS["connect"] = 2
    address = an_address()
    first, second = await socket(address), await socket(address)
    third = await socket(address)
    refused = await third.receive_json_from()
    assert is_throttled(refused)
    assert refused["retry_after"] >= 1
    assert (await third.receive_output())["code"] == 4429
    elsewhere, _ = await session(an_address())  # another address is not affected
    for ws in (first, second, elsewhere):
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_counts_in_process_while_redis_is_away(limits):
    from devserver.processes import free_port

    limits.CHAT_RATE_LIMITS["typing"] = 2
    # The shared cache on a port where nothing listens: refused for real.
    limits.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    address = an_address()
    sockets = [(await session(address))[0] for _ in range(3)]
    for ws in sockets[:2]:
        await ws.send_json_to({"type": "typing"})
        assert not any(is_throttled(f) for f in await settled(ws))
    await sockets[2].send_json_to({"type": "typing"})
    refused = await sockets[2].receive_json_from()
    assert is_throttled(refused)
    assert refused["retry_after"] >= 1
    for ws in sockets:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_limits_new_customers_per_client_address(limits):
    limits.CHAT_RATE_LIMITS["customer"] = 2
    address = an_address()
    first, alices = await session(address)
    second, _ = await session(address)
    third = await socket(address)
    await third.send_json_to({"type": "hello"})
    assert is_throttled(await third.receive_json_from())
    assert await database_sync_to_async(Customer.objects.count)() == 2
    # A returning customer from the same address still gets in: no new row.
    back, again = await session(address, token=alices["token"])
    assert again["conversation"] == alices["conversation"]
    for ws in (first, second, third, back):
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_exempts_the_addresses_in_rate_limit_exempt(limits):
    limits.CHAT_RATE_LIMITS.update(connect=1, customer=1, typing=1)
    limits.RATE_LIMIT_EXEMPT = ["192.0.2.1", "198.51.100.0/24"]
    for address in ("192.0.2.1", "192.0.2.1", "198.51.100.7", "198.51.100.8"):
        ws, _ = await session(address)
        for _ in range(5):
            await ws.send_json_to({"type": "typing"})
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
    # The same limits hold for anybody else: a second connect is refused.
    limited = an_address()
    ws, _ = await session(limited)
    refused = await socket(limited)
    assert is_throttled(await refused.receive_json_from())
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_it_ignores_x_forwarded_for_unless_the_peer_is_a_trusted_proxy(limits):
    limits.CHAT_RATE_LIMITS["connect"] = 1
    peer = an_address()
    spoofed = (b"x-forwarded-for", f"{an_address()}".encode())
    first = await socket(peer, (b"x-forwarded-for", an_address().encode()))
    # A different forwarded address from the same peer: still the peer's count.
    second = await socket(peer, spoofed)
    assert is_throttled(await second.receive_json_from())

    limits.TRUSTED_PROXIES = [peer]
    third = await socket(peer, spoofed)  # a trusted proxy: the client it names
    assert await third.receive_nothing(timeout=0.3)
    for ws in (first, third):
        await ws.disconnect()


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ([], "203.0.113.9"),
        (["198.51.100.1"], "198.51.100.1"),
        (["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client wrote 6.6.6.6
        (["198.51.100.1, 10.0.0.2"], "198.51.100.1"),  # through a second proxy
        (["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two headers, in order
        (["not-an-address"], "203.0.113.9"),
    ],
)
def test_it_takes_the_last_untrusted_hop_from_a_trusted_proxy(
    settings, forwarded, client
):
    settings.TRUSTED_PROXIES = ["203.0.113.9", "10.0.0.0/8"]
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {"client": ["203.0.113.9", 1234], "headers": headers}
    assert client_address(scope) == client
    settings.TRUSTED_PROXIES = []
    assert client_address(scope) == "203.0.113.9"


def test_it_counts_an_ipv6_client_by_its_64_block():
    assert limit_key("2001:db8:1:2:3:4:5:6") == limit_key("2001:db8:1:2:ffff::1")
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")


def test_every_chat_frame_type_has_its_own_limit(settings):
    assert set(ChatConsumer.HANDLERS) <= set(settings.CHAT_RATE_LIMITS)


@pytest.mark.django_db(transaction=True)
async def test_it_throttles_console_frames(limits):
    limits.CONSOLE_RATE_LIMITS = {"frames": 2, "connect": 60}
    bob = await database_sync_to_async(AgentFactory.create)(username="bob")
    ws = await socket(
        an_address(),
        await database_sync_to_async(cookie_for)(bob),
        path="/ws/console/",
    )
    assert (await ws.receive_json_from())["type"] == "hello"
    for _ in range(3):
        await ws.send_json_to({"type": "heartbeat"})
    refused = await ws.receive_json_from()
    assert is_throttled(refused)
    assert refused["retry_after"] >= 1
    await ws.disconnect()


# --- resync, a page at a time -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_it_answers_a_resync_one_page_at_a_time(settings):
    settings.RESYNC_PAGE_SIZE = 2
    ws, opened = await session(an_address())
    conversation = await database_sync_to_async(Conversation.objects.get)(
        public_id=opened["conversation"]
    )
    for _ in range(5):
        await database_sync_to_async(MessageFactory.create)(conversation=conversation)

    pages = []
    since = 0
    while True:
        await ws.send_json_to({"type": "resync", "since_seq": since})
        page = [await ws.receive_json_from() for _ in range(2 if since < 4 else 1)]
        pages.append([f["seq"] for f in page])
        if since == 4:
            assert await ws.receive_nothing(timeout=0.3)  # the last page says no more
            break
        more = await ws.receive_json_from()
        assert more == {"type": "resync_more", "since_seq": page[-1]["seq"]}
        since = more["since_seq"]
    assert pages == [[1, 2], [3, 4], [5]]
    await ws.disconnect()


def test_it_refuses_to_start_with_a_malformed_exempt_list(monkeypatch):
    from config.env import EnvError, env_networks

    monkeypatch.setenv("RATE_LIMIT_EXEMPT", "10.0.0.0/8, ::1, 192.0.2.7")
    assert [str(n) for n in env_networks("RATE_LIMIT_EXEMPT")] == [
        "10.0.0.0/8",
        "::1/128",
        "192.0.2.7/32",
    ]
    monkeypatch.setenv("RATE_LIMIT_EXEMPT", "10.0.0.0/8, load-generator")
    with pytest.raises(EnvError, match="RATE_LIMIT_EXEMPT: 'load-generator'"):
        env_networks("RATE_LIMIT_EXEMPT")
