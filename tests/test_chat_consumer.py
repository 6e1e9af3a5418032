"""The customer's websocket, frame by frame (in-process, real Redis and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatbot.models import Conversation, Customer, Message
from config.asgi import application
from tests.chat import frames_until
from tests.factories import ConversationFactory, ProductFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
]
ORIGIN = (b"origin", b"http://testserver")


async def connect(origin: tuple[bytes, bytes] = ORIGIN, **fields: str) -> Any:
    """A socket to the chat that has said ``hello`` with ``fields`` (token, …)."""
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[origin])
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "hello", **fields})
    return communicator


async def open_session(**fields: str) -> tuple[Any, dict[str, Any]]:
    ws = await connect(ORIGIN, **fields)
    session = await ws.receive_json_from()
    status = await ws.receive_json_from()
    assert session["type"] == "session"
    assert status["type"] == "status"
    return ws, session


@pytest.fixture
async def chat() -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    ws, session = await open_session()
    yield ws, session
    await ws.disconnect()


def is_bot_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["sender"] == "bot"


@database_sync_to_async
def messages(public_id: str) -> list[tuple[int, str, str]]:
    return list(
        Message.objects.filter(conversation__public_id=public_id).values_list(
            "seq", "sender", "text"
        )
    )


@database_sync_to_async
def customer_conversation(customer: Customer) -> Conversation:
    return ConversationFactory.create(customer=customer)


# --- connecting -------------------------------------------------------------------


async def test_it_gives_a_new_visitor_a_token_and_a_conversation(chat):
    _, session = chat
    customer = await database_sync_to_async(Customer.from_token)(session["token"])
    assert customer is not None
    assert session["status"] == "bot"
    assert len(session["conversation"]) >= 20  # random, not a guessable number


async def test_it_recognises_a_returning_visitor_by_token(chat):
    _, first = chat
    ws, again = await open_session(token=first["token"])
    assert again["conversation"] == first["conversation"]
    await ws.disconnect()


async def test_it_gives_a_forged_token_a_fresh_identity(chat):
    _, first = chat
    ws, session = await open_session(token=first["token"] + "x")
    assert session["conversation"] != first["conversation"]
    await ws.disconnect()


async def test_it_rejects_a_foreign_conversation_like_a_missing_one(alice, charlie):
    alices = await customer_conversation(alice)
    answers = []
    for conversation_id in (alices.public_id, "no-such-conversation-id"):
        ws = await connect(token=charlie.token, conversation=conversation_id)
        answers.append(await ws.receive_json_from())
        assert (await ws.receive_output())["code"] == 4404
    assert answers[0] == answers[1]
    assert answers[0]["code"] == "conversation_not_found"


async def test_it_refuses_a_websocket_from_an_unknown_origin():
    ws = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_it_accepts_a_shop_listed_in_widget_allowed_origins(settings):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    ws = await connect(origin=(b"origin", b"https://shop.example"))
    assert (await ws.receive_json_from())["type"] == "session"
    await ws.disconnect()


# --- client frames ---------------------------------------------------------------


async def test_it_acks_a_message_after_storing_it_and_the_bot_answers(chat):
    ws, session = chat
    await ws.send_json_to(
        {"type": "message", "client_msg_id": "a1", "text": "  Hello there  "}
    )
    frames = await frames_until(ws, is_bot_message)
    ack = next(f for f in frames if f["type"] == "ack")
    assert ack == {"type": "ack", "client_msg_id": "a1", "seq": 1}
    own = next(f for f in frames if f["type"] == "message")
    assert (own["seq"], own["text"]) == (1, "Hello there")
    assert frames[-1]["seq"] == 2
    assert await messages(session["conversation"]) == [
        (1, "customer", "Hello there"),
        (2, "bot", frames[-1]["text"]),
    ]


async def test_it_stores_a_resent_client_msg_id_once_and_acks_it_again(chat):
    ws, session = chat
    frame = {"type": "message", "client_msg_id": "dup", "text": "Once"}
    await ws.send_json_to(frame)
    await frames_until(ws, is_bot_message)
    await ws.send_json_to(frame)
    again = await frames_until(ws, lambda f: f["type"] == "ack")
    assert again[-1] == {"type": "ack", "client_msg_id": "dup", "seq": 1}
    assert [m[1] for m in await messages(session["conversation"])] == [
        "customer",
        "bot",
    ]


async def test_it_replays_everything_after_since_seq_on_resync(chat):
    ws, _session = chat
    for n in range(2):
        await ws.send_json_to(
            {"type": "message", "client_msg_id": f"r{n}", "text": f"m{n}"}
        )
        await frames_until(ws, is_bot_message)
    await ws.send_json_to({"type": "resync", "since_seq": 1})
    frames = await frames_until(ws, lambda f: f.get("seq") == 4)
    replay = [f for f in frames if f["type"] == "message"]
    assert [f["seq"] for f in replay] == [2, 3, 4]


async def test_it_relays_typing_to_the_other_sockets_of_the_conversation(chat):
    ws, session = chat
    other, _ = await open_session(token=session["token"])
    await ws.send_json_to({"type": "typing"})
    assert await other.receive_json_from() == {"type": "typing", "sender": "customer"}
    assert await ws.receive_nothing()
    await other.disconnect()


async def test_it_stores_a_postback_with_its_payload(chat):
    ws, session = chat
    await ws.send_json_to(
        {
            "type": "postback",
            "client_msg_id": "p1",
            "title": "Track my order",
            "payload": {"intent": "order_status"},
        }
    )
    frames = await frames_until(ws, lambda f: f["type"] == "ack")
    assert frames[-1]["seq"] == 1
    stored = await database_sync_to_async(
        lambda: Message.objects.get(
            conversation__public_id=session["conversation"], seq=1
        )
    )()
    assert stored.text == "Track my order"
    assert stored.payload == {"postback": {"intent": "order_status"}}


async def test_it_takes_a_rating_only_once_the_conversation_is_resolved(chat):
    ws, session = chat
    rating = {"type": "csat", "score": 5, "comment": "Quick and kind"}
    await ws.send_json_to(rating)
    error = await ws.receive_json_from()
    assert error["code"] == "conversation_not_resolved"

    await database_sync_to_async(
        lambda: Conversation.objects.filter(public_id=session["conversation"]).update(
            status=Conversation.Status.RESOLVED
        )
    )()
    await ws.send_json_to(rating)
    assert await ws.receive_nothing()
    conversation = await database_sync_to_async(Conversation.objects.get)(
        public_id=session["conversation"]
    )
    assert (conversation.csat_score, conversation.csat_comment) == (5, "Quick and kind")


async def test_it_tells_a_client_that_sends_too_fast_when_to_retry(chat, settings):
    settings.CHAT_THROTTLE = (2, 60)
    ws, session = chat
    for n in range(3):
        await ws.send_json_to(
            {"type": "message", "client_msg_id": f"t{n}", "text": "hi"}
        )
    frames = await frames_until(ws, lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "throttled"
    assert 1 <= frames[-1]["retry_after"] <= 61
    assert (
        len([m for m in await messages(session["conversation"]) if m[1] == "customer"])
        == 2
    )


async def test_it_records_a_product_event_as_an_interaction(chat):
    from recommender.models import Interaction

    ws, _session = chat
    await database_sync_to_async(ProductFactory.create)(
        sku="SKU-1", name="Tent", category="Outdoor", price="99.00", stock=3
    )
    await ws.send_json_to({"type": "event", "kind": "chat_click", "sku": "SKU-1"})
    assert await ws.receive_nothing()
    await ws.send_json_to({"type": "event", "kind": "chat_click", "sku": "nope"})
    assert (await ws.receive_json_from())["code"] == "unknown_product"
    kinds = await database_sync_to_async(
        lambda: list(Interaction.objects.values_list("kind", "product__sku"))
    )()
    assert kinds == [("chat_click", "SKU-1")]


# --- bad input --------------------------------------------------------------------

BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_field"),
    (json.dumps({"text": "no type"}), "invalid_field"),
    (json.dumps({"type": "shout"}), "unknown_type"),
    (json.dumps({"type": "message", "text": "no id"}), "invalid_field"),
    (json.dumps({"type": "message", "client_msg_id": 7, "text": "x"}), "invalid_field"),
    (
        json.dumps({"type": "message", "client_msg_id": "", "text": "x"}),
        "invalid_field",
    ),
    (
        json.dumps({"type": "message", "client_msg_id": "x" * 65, "text": "x"}),
        "invalid_field",
    ),
    (
        json.dumps({"type": "message", "client_msg_id": "b", "text": 42}),
        "invalid_field",
    ),
    (
        json.dumps({"type": "message", "client_msg_id": "b", "text": "   "}),
        "empty_text",
    ),
    (
        json.dumps({"type": "message", "client_msg_id": "b", "text": "x" * 4001}),
        "text_too_long",
    ),
    (
        json.dumps(
            {"type": "postback", "client_msg_id": "b", "title": "x", "payload": "s"}
        ),
        "invalid_field",
    ),
    (json.dumps({"type": "resync", "since_seq": "3"}), "invalid_field"),
    (json.dumps({"type": "resync", "since_seq": -1}), "invalid_field"),
    (json.dumps({"type": "csat", "score": 6}), "invalid_field"),
    (json.dumps({"type": "csat", "score": True}), "invalid_field"),
    (json.dumps({"type": "event", "kind": "purchase", "sku": "x"}), "invalid_field"),
    (json.dumps({"type": "event", "kind": "view"}), "invalid_field"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_it_answers_bad_input_with_an_error_stores_nothing_and_stays_open(
    chat, raw, code
):
    ws, session = chat
    await ws.send_to(text_data=raw)
    error = await ws.receive_json_from()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    assert await messages(session["conversation"]) == []
    # Still open and serving:
    await ws.send_json_to({"type": "resync", "since_seq": 0})
    assert await ws.receive_nothing()


async def test_it_names_the_refused_message_so_the_client_can_drop_it(chat):
    ws, _ = chat
    await ws.send_json_to({"type": "message", "client_msg_id": "e1", "text": " "})
    error = await ws.receive_json_from()
    assert (error["code"], error["client_msg_id"]) == ("empty_text", "e1")


async def test_it_refuses_binary_frames_and_stays_open(chat):
    ws, _session = chat
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await ws.receive_json_from())["code"] == "binary_not_supported"
    await ws.send_json_to(
        {"type": "message", "client_msg_id": "ok", "text": "still here"}
    )
    frames = await frames_until(ws, lambda f: f["type"] == "ack")
    assert frames[-1]["seq"] == 1


async def test_it_accepts_exactly_4000_characters(chat):
    ws, _ = chat
    await ws.send_json_to(
        {"type": "message", "client_msg_id": "long", "text": "x" * 4000}
    )
    frames = await frames_until(ws, lambda f: f["type"] in ("ack", "error"))
    assert frames[-1]["type"] == "ack"
