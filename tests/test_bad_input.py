"""The bad-input corpus (tests/data/bad_input.yaml) against both sockets and every
HTTP endpoint: each case gets its documented answer, the server stays up and
nothing is stored."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatbot.models import Conversation, ConversationNote, Customer, Message
from config.asgi import application
from recommender.models import Interaction
from tests.chat import frames_until
from tests.factories import (
    AgentFactory,
    ArticleFactory,
    ConversationFactory,
    CustomerFactory,
    ProductFactory,
)
from tests.live import Process, child_env, start_web

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
]
ORIGIN = (b"origin", b"http://testserver")
CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "bad_input.yaml").read_text())
DEEP = "__deep__"

# The values YAML can't hold, or that are too long to write out.
BUILT: dict[str, Any] = {
    "nul": "a\x00b",
    "lone_surrogate": "a\ud800b",
    "c0_control": "ring \x07 \x1b[31m red",
    "carriage_return": "a\rb",
    "delete": "a\x7fb",
    "c1_control": "a\x9bb",
    "long": "x" * 5000,
    "deep": DEEP,
    "nested_9": [[[[[[[[[1]]]]]]]]],
    "wide": {f"k{i}": i for i in range(3000)},
    "long_key": {"k" * 200: 1},
    "nul_key": {"a\x00": 1},
}
MISSING = object()


@dataclass
class Case:
    name: str
    raw: str
    code: str
    client_msg_id: str | None = None

    def __str__(self) -> str:
        return self.name


def value(name: str) -> Any:
    return BUILT[name] if name in BUILT else CORPUS["values"][name]


def encode(frame: dict[str, Any]) -> str:
    # json.dumps itself would recurse 1000 deep: splice the deep value in as text.
    return json.dumps(frame).replace(f'"{DEEP}"', "[" * 1000 + "]" * 1000)


def frame_cases(socket_name: str, conversation: str = "") -> list[Case]:
    """Every field of every frame with every bad value (and left out)."""
    cases = []
    for kind, spec in CORPUS[socket_name].items():
        template = {
            key: item.replace("{conversation}", conversation)
            if isinstance(item, str)
            else item
            for key, item in spec["frame"].items()
        }
        for field, field_class in spec["fields"].items():
            answers = {
                **CORPUS["classes"][field_class],
                **spec.get("also", {}),
                **spec.get(f"also_{field}", {}),
            }
            tries = [(name, value(name)) for name in CORPUS["values"]]
            tries.append(("missing", MISSING))
            for name, bad in tries:
                if name == "missing":
                    code = spec.get("missing", {}).get(field, answers["other"])
                else:
                    code = answers.get(name, answers["other"])
                if code == "skip":
                    continue
                frame = {k: v for k, v in template.items() if k != field}
                if bad is not MISSING:
                    frame[field] = bad
                # A frame refused before parsing can't name its message.
                msg_id = frame.get("client_msg_id") if name != "deep" else None
                echoed = (
                    msg_id if isinstance(msg_id, str) and len(msg_id) <= 64 else None
                )
                cases.append(
                    Case(
                        f"{socket_name}:{kind}.{field}={name}",
                        encode(frame),
                        code,
                        echoed,
                    )
                )
    return cases


def raw_cases(socket_name: str) -> list[Case]:
    return [
        Case(f"{socket_name}:raw {raw[:40]!r}", raw, code)
        for raw, code in CORPUS["raw"]
    ]


@database_sync_to_async
def stored() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Message, Customer, Conversation, Interaction, ConversationNote)
    )


async def send_each(
    ws: Any, cases: list[Case], probe: dict[str, Any], answer: str
) -> list[str]:
    """Each case, then the good ``probe`` frame; the mismatches, described."""
    wrong = []
    for case in cases:
        await ws.send_to(text_data=case.raw)
        error = await ws.receive_json_from(timeout=10)
        got = (error.get("type"), error.get("code"), error.get("client_msg_id"))
        if got != ("error", case.code, case.client_msg_id):
            wrong.append(f"{case}: {got}")
        await ws.send_json_to(probe)
        frames = await frames_until(ws, lambda f: f["type"] in (answer, "error"))
        if frames[-1]["type"] != answer:
            wrong.append(f"{case}: the next good frame got {frames[-1]}")
    return wrong


async def test_the_corpus_gets_its_codes_on_the_chat_socket_and_stores_nothing(
    settings,
):
    settings.CHAT_THROTTLE = (100_000, 10)  # the probes are many good frames
    settings.CHAT_RATE_LIMITS = dict.fromkeys(settings.CHAT_RATE_LIMITS, 100_000)
    await database_sync_to_async(ProductFactory.create)(sku="MUG-1")
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "hello"})
    await frames_until(ws, lambda f: f["type"] == "status")
    probe = {"type": "message", "client_msg_id": "probe", "text": "Hello"}
    await ws.send_json_to(probe)
    await frames_until(ws, lambda f: f["type"] == "message" and f["sender"] == "bot")
    before = await stored()

    cases = frame_cases("chat") + raw_cases("chat")
    # The probe is a resend: acked again, stored once.
    wrong = await send_each(ws, cases, probe, "ack")

    assert wrong == [], "\n".join(wrong)
    assert await stored() == before
    assert len(cases) >= 200
    await ws.disconnect()


def cookie_for(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_the_corpus_gets_its_codes_on_the_console_socket_and_stores_nothing():
    conversation = await database_sync_to_async(ConversationFactory.create)(
        customer=await database_sync_to_async(CustomerFactory.create)()
    )
    # A support agent: the console refuses staff without its permissions.
    bob = await database_sync_to_async(AgentFactory.create)(username="bob")
    ws = WebsocketCommunicator(
        application,
        "/ws/console/",
        headers=[ORIGIN, await database_sync_to_async(cookie_for)(bob)],
    )
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "hello"
    before = await stored()

    cases = frame_cases("console", conversation.public_id) + raw_cases("console")
    probe = {"type": "open", "conversation": conversation.public_id}
    wrong = await send_each(ws, cases, probe, "detail")

    assert wrong == [], "\n".join(wrong)
    assert await stored() == before
    assert len(cases) >= 200
    await ws.disconnect()


# --- HTTP ---------------------------------------------------------------------


def http(port: int, request: bytes) -> tuple[int, bytes]:
    """One raw request (no client library tidies it up); the status and the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    assert status, reply[:200]
    return int(status.group(1)), reply


def get(path: str, *headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1")


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Connection: close",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


@pytest.fixture
def web(tmp_path: Path) -> Iterator[int]:
    """The ASGI server as production runs it, on the test database."""
    from devserver.processes import free_port, web_command

    port = free_port()
    args = [a for a in web_command(port) if a != "--no-access-log"]
    process = Process("web", args, tmp_path / "web.log")
    start_web(process, port, child_env())
    yield port
    assert process.process is not None and process.process.poll() is None, (
        "the server died"
    )
    process.stop()


def http_cases() -> list[tuple[str, bytes, str]]:
    spec = CORPUS["http"]
    cases = []
    for path in spec["paths"]:
        for query in spec["queries"]:
            query = query.replace("{long}", "x" * 6000)
            cases.append((f"GET {path}{query[:30]}", get(path + query), "<500"))
        for header in spec["headers"]:
            header = header.replace("{long}", "x" * 100_000)
            cases.append((f"GET {path} {header[:30]}", get(path, header), "<500"))
    for path, status in spec["bad_paths"]:
        path = path.replace("{long}", "x" * 6000)
        cases.append((f"GET {path[:40]}", get(path), str(status)))
    for path, body, status in spec["bodies"]:
        body = body.replace("{long}", "x" * 3_000_000)
        cases.append(
            (f"POST {path} {body[:30]}", post(path, body.encode()), str(status))
        )
    return cases


def test_the_corpus_gets_4xx_never_5xx_from_every_http_endpoint(web: int) -> None:
    ProductFactory.create(sku="MUG-1")
    ArticleFactory.create(slug="shipping")
    before = [m.objects.count() for m in (Message, Customer, Conversation, Interaction)]

    wrong = []
    cases = http_cases()
    for name, request, expected in cases:
        status, _ = http(web, request)
        ok = status < 500 if expected == "<500" else status == int(expected)
        if not ok:
            wrong.append(f"{name}: {status}, expected {expected}")

    assert wrong == [], "\n".join(wrong)
    assert http(web, get("/products/MUG-1/"))[0] == 200  # still serving
    after = [m.objects.count() for m in (Message, Customer, Conversation, Interaction)]
    assert after == before
    assert len(cases) >= 100


# --- one frame no longer locks a customer out ----------------------------------


async def open_chat() -> Any:
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "hello"})
    await frames_until(ws, lambda f: f["type"] == "status")
    return ws


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            '{"type": "message", "client_msg_id": "m1", "text": "a\\u0000b"}',
            "invalid_text",
        ),
        (
            '{"type": "message", "client_msg_id": "m1", "text": "a\\ud800b"}',
            "invalid_text",
        ),
        (
            '{"type": "postback", "client_msg_id": "m1", "title": "Go",'
            ' "payload": {"sku": "\\u0000"}}',
            "invalid_frame",
        ),
        (
            '{"type": "message", "client_msg_id": "m1", "text": '
            + "[" * 5000
            + "]" * 5000
            + "}",
            "invalid_frame",
        ),
    ],
)
async def test_it_refuses_a_frame_postgresql_cannot_hold_and_the_customer_goes_on(
    raw, code
):
    ws = await open_chat()
    await ws.send_to(text_data=raw)
    error = await ws.receive_json_from()
    assert error["code"] == code
    await ws.send_json_to({"type": "message", "client_msg_id": "m2", "text": "Hi"})
    frames = await frames_until(ws, lambda f: f["type"] == "ack")
    assert frames[-1]["client_msg_id"] == "m2"
    await ws.disconnect()


async def test_it_answers_unavailable_while_postgresql_is_unreachable():
    from django.db import connections

    from chatbot import db_threads
    from devserver.processes import free_port

    ws = await open_chat()
    frame = {"type": "message", "client_msg_id": "m1", "text": "Hello"}
    database = connections["default"].settings_dict
    real_port = database["PORT"]
    # Every new connection goes to a port where nothing listens: refused for real.
    database["PORT"] = str(free_port())
    await database_sync_to_async(connections.close_all)()
    # The socket's database threads hold connections of their own (as a server's
    # would, all broken when PostgreSQL goes away): new threads connect anew.
    db_threads.reset()
    try:
        await ws.send_json_to(frame)
        refused = await ws.receive_json_from(timeout=30)
    finally:
        database["PORT"] = real_port
    assert refused["type"] == "error"
    assert (refused["code"], refused["client_msg_id"]) == ("unavailable", "m1")
    assert refused["retry_after"] > 0
    await ws.send_json_to(frame)  # PostgreSQL is back: the resend is stored
    frames = await frames_until(ws, lambda f: f["type"] == "ack")
    assert frames[-1]["seq"] == 1
    await ws.disconnect()
