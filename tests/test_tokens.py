"""Customer tokens: they expire, slide with each use, travel in the ``hello`` frame
and never reach a log line."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing

from chatbot.models import Customer
from chatbot.models.conversations import TOKEN_SALT
from config.asgi import application
from tests.factories import ConversationFactory, CustomerFactory
from tests.live import Process, child_env, receive_until, start_web, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://testserver")


class IssuedAgo(signing.TimestampSigner):
    """Signs as ``Customer.token`` does, with a clock ``seconds`` in the past."""

    def __init__(self, seconds: int) -> None:
        super().__init__(salt=TOKEN_SALT)
        self.seconds = seconds

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time()) - self.seconds)


def token_issued_ago(customer: Customer, seconds: int) -> str:
    return IssuedAgo(seconds).sign_object(str(customer.uuid))


async def hello(**fields: Any) -> tuple[Any, dict[str, Any]]:
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "hello", **fields})
    return ws, await ws.receive_json_from()


async def test_it_treats_an_expired_token_as_a_new_visitor(settings, alice):
    settings.CUSTOMER_TOKEN_MAX_AGE = 3600
    conversation = await database_sync_to_async(ConversationFactory.create)(
        customer=alice
    )
    expired = token_issued_ago(alice, 3601)

    ws, session = await hello(token=expired)
    assert session["type"] == "session"
    assert session["conversation"] != conversation.public_id
    assert await database_sync_to_async(Customer.from_token)(session["token"]) != alice
    await ws.disconnect()

    ws, refused = await hello(token=expired, conversation=conversation.public_id)
    assert refused["code"] == "conversation_not_found"
    assert (await ws.receive_output())["code"] == 4404


async def test_it_slides_the_expiry_with_a_fresh_token_on_each_use(settings, alice):
    settings.CUSTOMER_TOKEN_MAX_AGE = 3600
    conversation = await database_sync_to_async(ConversationFactory.create)(
        customer=alice
    )
    old = token_issued_ago(alice, 3500)

    ws, session = await hello(token=old, conversation=conversation.public_id)
    assert session["conversation"] == conversation.public_id
    # The new token counts its age from now; the old one is nearly spent.
    signing.loads(session["token"], salt=TOKEN_SALT, max_age=60)
    with pytest.raises(signing.SignatureExpired):
        signing.loads(old, salt=TOKEN_SALT, max_age=60)
    await ws.disconnect()


async def test_it_opens_no_session_before_hello():
    ws = WebsocketCommunicator(application, "/ws/chat/?token=x", headers=[ORIGIN])
    assert (await ws.connect())[0]
    assert await ws.receive_nothing()
    await ws.send_json_to({"type": "message", "client_msg_id": "m", "text": "Hi"})
    error = await ws.receive_json_from()
    assert (error["code"], error["client_msg_id"]) == ("invalid_frame", "m")
    await ws.disconnect()


def test_the_token_never_reaches_the_server_log(tmp_path: Path) -> None:
    """uvicorn as production runs it (access log on), plus DEBUG application logs."""
    from asgiref.sync import async_to_sync

    from devserver.processes import free_port, web_command

    port = free_port()
    args = [a for a in web_command(port) if a != "--no-access-log"]
    process = Process("web", args, tmp_path / "web.log")
    start_web(process, port, {**child_env(), "LOG_LEVEL": "DEBUG"})
    customer = CustomerFactory.create()
    conversation = ConversationFactory.create(customer=customer)
    tokens = [customer.token]

    async def chat() -> None:
        async with ws_connect(
            port, token=tokens[0], conversation=conversation.public_id
        ) as ws:
            frames = await receive_until(ws, lambda f: f["type"] == "status")
            # The token was used: it resumed the customer's conversation.
            assert frames[0]["conversation"] == conversation.public_id
            tokens.append(frames[0]["token"])
            frame = {"type": "message", "client_msg_id": str(uuid.uuid4())}
            await ws.send(json.dumps({**frame, "text": f"token {tokens[0][:4]}"}))
            await receive_until(ws, lambda f: f["type"] == "ack")

    try:
        async_to_sync(chat)()
    finally:
        process.stop()
    log = process.output()
    assert "/ws/chat/" in log  # the access log is on: the test can see a leak
    for token in tokens:
        for part in token.split(":"):  # value, timestamp, signature
            if len(part) > 8:
                assert part not in log
