"""The customer's websocket: the protocol in docs/protocol.md, kept thin.

Every write goes through ``chatbot.services``; this module only validates frames,
answers with ``ack`` / ``error`` frames and relays group events to the socket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from chatbot import selectors, services
from chatbot.models import Conversation, Customer, Message
from recommender.services import interaction_record

NOT_FOUND_CLOSE_CODE = 4404
TRACKED_KINDS = ("view", "chat_click", "add_to_cart")


class FrameError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


def require_str(frame: dict[str, Any], key: str, *, max_length: int) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"'{key}' must be a string")
    if len(value) > max_length:
        raise FrameError("invalid_field", f"'{key}' is longer than {max_length}")
    return value


def require_text(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"'{key}' must be a string")
    text = value.strip()
    if not text:
        raise FrameError("empty_text", "The message is empty")
    if len(text) > services.MAX_TEXT_LENGTH:
        raise FrameError(
            "text_too_long",
            f"Messages are limited to {services.MAX_TEXT_LENGTH} characters",
        )
    return text


def require_client_msg_id(frame: dict[str, Any]) -> str:
    value = require_str(frame, "client_msg_id", max_length=64)
    if not value:
        raise FrameError("invalid_field", "'client_msg_id' must not be empty")
    return value


def with_id(check: Any, frame: dict[str, Any], key: str, client_msg_id: str) -> str:
    """Run ``check``; its error names the message, so a client can drop it."""
    try:
        return str(check(frame, key))
    except FrameError as error:
        error.extra["client_msg_id"] = client_msg_id
        raise


class FrameConsumer(AsyncJsonWebsocketConsumer):
    """JSON frames with a ``type``, dispatched to ``HANDLERS[type](self, frame)``.

    A malformed frame or a ``FrameError`` from a handler is answered with an
    ``error`` frame; the connection stays open.
    """

    HANDLERS: ClassVar[dict[str, Callable[[Any, dict[str, Any]], Awaitable[None]]]]

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            await self.send_error("invalid_json", "The frame is not valid JSON")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_error("invalid_field", "A frame is an object with a 'type'")
            return
        handler = self.HANDLERS.get(frame["type"])
        if handler is None:
            await self.send_error("unknown_type", f"Unknown type {frame['type']!r}")
            return
        try:
            await self.run(handler, frame)
        except FrameError as error:
            await self.send_error(error.code, str(error), **error.extra)

    async def run(
        self,
        handler: Callable[[Any, dict[str, Any]], Awaitable[None]],
        frame: dict[str, Any],
    ) -> None:
        await handler(self, frame)

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json(
            {"type": "error", "code": code, "message": message, **extra}
        )


class ChatConsumer(FrameConsumer):
    customer: Customer
    conversation: Conversation

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        token = query.get("token", [""])[0]
        public_id = query.get("conversation", [""])[0] or None
        customer, conversation, status = await self._open(token, public_id)
        await self.accept()
        if conversation is None:
            # Not theirs or not there: one answer for both, so ids can't be probed.
            await self.send_error("conversation_not_found", "No such conversation")
            await self.close(code=NOT_FOUND_CLOSE_CODE)
            return
        self.customer, self.conversation = customer, conversation
        await self.channel_layer.group_add(conversation.group_name, self.channel_name)
        await self.send_json(
            {
                "type": "session",
                "token": customer.token,
                "conversation": conversation.public_id,
                "status": conversation.status,
            }
        )
        await self.send_json(status)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "conversation"):
            await self.channel_layer.group_discard(
                self.conversation.group_name, self.channel_name
            )

    @database_sync_to_async
    def _open(
        self, token: str, public_id: str | None
    ) -> tuple[Customer, Conversation | None, dict[str, Any]]:
        customer = Customer.from_token(token) if token else None
        if customer is None:
            customer = Customer.objects.create()
        conversation = services.conversation_for_customer(
            customer=customer, public_id=public_id
        )
        status = selectors.status_frame(conversation) if conversation else {}
        return customer, conversation, status

    # --- client → server --------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        if text_data is None:
            await self.send_error("binary_not_supported", "Send JSON text frames")
            return
        await super().receive(text_data=text_data)

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_msg_id = require_client_msg_id(frame)
        text = with_id(require_text, frame, "text", client_msg_id)
        await self.store_customer_message(client_msg_id=client_msg_id, text=text)

    async def on_postback(self, frame: dict[str, Any]) -> None:
        client_msg_id = require_client_msg_id(frame)
        title = with_id(require_text, frame, "title", client_msg_id)
        payload = frame.get("payload")
        if not isinstance(payload, dict):
            raise FrameError("invalid_field", "'payload' must be an object")
        if len(json.dumps(payload)) > 2000:
            raise FrameError("invalid_field", "'payload' is too large")
        await self.store_customer_message(
            client_msg_id=client_msg_id, text=title, payload={"postback": payload}
        )

    async def store_customer_message(
        self, *, client_msg_id: str, text: str, payload: dict[str, Any] | None = None
    ) -> None:
        await self.throttle()
        message, _ = await database_sync_to_async(services.message_store)(
            conversation_id=self.conversation.pk,
            sender=Message.Sender.CUSTOMER,
            text=text,
            payload=payload,
            client_msg_id=client_msg_id,
        )
        # message_store has returned, so the message is committed: now it may be acked.
        await self.send_json(
            {"type": "ack", "client_msg_id": client_msg_id, "seq": message.seq}
        )

    async def throttle(self) -> None:
        """A fixed window per customer; over the limit, say when to retry."""
        limit, window = settings.CHAT_THROTTLE
        now = time.time()
        key = f"throttle:chat:{self.customer.pk}:{int(now // window)}"
        await cache.aadd(key, 0, timeout=window + 1)
        count = await cache.aincr(key)
        if count > limit:
            retry_after = max(1, int(window - now % window) + 1)
            raise FrameError(
                "throttled", "You're sending messages too fast", retry_after=retry_after
            )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            self.conversation.group_name,
            {"type": "chat.typing", "sender": "customer", "origin": self.channel_name},
        )

    async def on_resync(self, frame: dict[str, Any]) -> None:
        since = frame.get("since_seq", 0)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise FrameError("invalid_field", "'since_seq' must be a whole number ≥ 0")
        for message_frame in await self.messages_since(since):
            await self.send_json(message_frame)

    @database_sync_to_async
    def messages_since(self, since: int) -> list[dict[str, Any]]:
        messages = self.conversation.messages.filter(seq__gt=since).order_by("seq")
        return [message.as_frame() for message in messages]

    async def on_csat(self, frame: dict[str, Any]) -> None:
        score = frame.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise FrameError("invalid_field", "'score' must be a whole number 1 to 5")
        comment = frame.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 2000:
            raise FrameError("invalid_field", "'comment' must be text up to 2000 chars")
        await database_sync_to_async(self.conversation.refresh_from_db)()
        if self.conversation.status != Conversation.Status.RESOLVED:
            raise FrameError(
                "conversation_not_resolved", "Ratings open when the conversation ends"
            )
        await database_sync_to_async(services.csat_record)(
            conversation=self.conversation, score=score, comment=comment.strip()
        )

    async def on_event(self, frame: dict[str, Any]) -> None:
        """Tracking from the widget: a product viewed, clicked, added to cart."""
        kind = frame.get("kind")
        if kind not in TRACKED_KINDS:
            raise FrameError("invalid_field", f"'kind' must be one of {TRACKED_KINDS}")
        sku = require_str(frame, "sku", max_length=64)
        recorded = await database_sync_to_async(interaction_record)(
            customer_id=self.customer.pk,
            sku=sku,
            kind=kind,
            conversation_id=self.conversation.pk,
        )
        if not recorded:
            raise FrameError("unknown_product", f"No product {sku!r}")

    HANDLERS = {
        "message": on_message,
        "postback": on_postback,
        "typing": on_typing,
        "resync": on_resync,
        "csat": on_csat,
        "event": on_event,
    }

    # --- group events → client ----------------------------------------------------

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["message"])

    async def chat_status(self, event: dict[str, Any]) -> None:
        await self.send_json(event["status"])

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event.get("origin") != self.channel_name:
            await self.send_json({"type": "typing", "sender": event["sender"]})
