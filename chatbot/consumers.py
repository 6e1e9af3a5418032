"""The customer's websocket: the protocol in docs/protocol.md, kept thin.

Every write goes through ``chatbot.services``; this module only validates frames,
answers with ``ack`` / ``error`` frames and relays group events to the socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from itertools import accumulate
from typing import Any, ClassVar

import redis.exceptions
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.db import DataError, InterfaceError, OperationalError

from chatbot import selectors, services
from chatbot.addresses import client_address, is_exempt, limit_key
from chatbot.models import Conversation, Customer, Message
from recommender.services import interaction_record

logger = logging.getLogger(__name__)

NOT_FOUND_CLOSE_CODE = 4404
TRACKED_KINDS = ("view", "chat_click", "add_to_cart")

# What a frame may hold. The protocol's frames nest three levels at most (a
# postback's payload); PostgreSQL refuses NUL and lone surrogates, and control
# characters other than tab and newline have no business in a chat bubble.
MAX_DEPTH = 8
# Deeper than this is refused before parsing (the parser recurses), without naming
# the frame's message; between the two, refused after, naming it.
MAX_PARSE_DEPTH = 64
MAX_NODES = 2000
MAX_KEY_LENGTH = 64
MAX_SAFE_INTEGER = 2**53  # what JavaScript (and so the widget) holds exactly
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
TEXT_FIELDS = frozenset({"text", "title", "comment"})
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NOT_A_BRACKET = re.compile(r"[^\[\]{}]")
# Trouble that passes: the frame was not processed; sending it again later works.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    *REDIS_ERRORS,
    ConnectionError,
    TimeoutError,
)
UNAVAILABLE_RETRY_AFTER = 5
# Throttle windows counted in this process while Redis is away: key → (ends, count).
_local_windows: dict[str, tuple[float, int]] = {}
# A connection over its connect limit is told `throttled`, then closed with this.
THROTTLED_CLOSE_CODE = 4429


def local_count(
    key: str,
    *,
    now: float,
    window: int,
    windows: dict[str, tuple[float, int]] = _local_windows,
) -> int:
    """Count one more in a fixed window kept in this process's memory (``windows``:
    this process's stand-in for Redis, or one connection's own counts)."""
    for stale in [k for k, (ends, _) in windows.items() if ends <= now]:
        del windows[stale]
    ends, count = windows.get(key, (now - now % window + window, 0))
    windows[key] = (ends, count + 1)
    return count + 1


async def shared_count(key: str, *, now: float, window: int) -> int:
    """Count one more in a fixed window in the shared cache, which every server sees;
    while Redis is away this process counts alone, so an outage throttles no less."""
    try:
        await cache.aadd(key, 0, timeout=window + 1)
        return int(await cache.aincr(key))
    except REDIS_ERRORS:
        return local_count(key, now=now, window=window)


def throttled(message: str, *, now: float, window: int) -> FrameError:
    retry_after = max(1, int(window - now % window) + 1)
    return FrameError("throttled", message, retry_after=retry_after)


class FrameError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.extra = extra


def refuse_constant(name: str) -> None:
    raise FrameError("invalid_json", f"{name} is not JSON")


def parse_frame(text: str) -> Any:
    """The frame's JSON, refused before parsing when it nests too deep.

    Counting brackets outside strings first means a 64 KiB ``[[[[…`` never
    reaches the recursive parser; ``RecursionError`` is caught all the same.
    """
    brackets = NOT_A_BRACKET.sub("", JSON_STRING.sub("", text))
    steps = (1 if bracket in "[{" else -1 for bracket in brackets)
    if max(accumulate(steps), default=0) > MAX_PARSE_DEPTH:
        raise FrameError("invalid_frame", f"Frames nest at most {MAX_DEPTH} deep")
    try:
        return json.loads(text, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise FrameError("invalid_json", "The frame is not valid JSON") from None


def check_frame(frame: dict[str, Any]) -> None:
    """Refuse anything in the frame that PostgreSQL or the widget can't hold.

    Dirty text in a field the customer typed is ``invalid_text``, anything else
    ``invalid_frame``.
    """
    stack: list[tuple[str, Any, int]] = [("", frame, 0)]
    nodes = 0
    while stack:
        field, value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            raise FrameError("invalid_frame", "The frame is too large or too deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_KEY_LENGTH or FORBIDDEN_CHARACTERS.search(key):
                    raise FrameError("invalid_frame", "A key is too long or not text")
                stack.append((field or key, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((field, item, depth + 1) for item in value)
        elif isinstance(value, str):
            if FORBIDDEN_CHARACTERS.search(value):
                code = "invalid_text" if field in TEXT_FIELDS else "invalid_frame"
                raise FrameError(code, f"'{field}' holds control characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise FrameError("invalid_frame", f"A number in '{field}' is too big")
        elif isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
            raise FrameError("invalid_frame", f"A number in '{field}' is too big")


def require_str(frame: dict[str, Any], key: str, *, max_length: int) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"'{key}' must be a string")
    if len(value) > max_length:
        raise FrameError("invalid_field", f"'{key}' is longer than {max_length}")
    return value


def optional_str(frame: dict[str, Any], key: str, *, max_length: int) -> str:
    """A string field that may be left out (or null); empty when it is."""
    if frame.get(key) is None:
        return ""
    return require_str(frame, key, max_length=max_length)


def require_text(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise FrameError("invalid_field", f"'{key}' must be a string")
    if FORBIDDEN_CHARACTERS.search(value):
        raise FrameError("invalid_text", f"'{key}' holds control characters")
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


def _type_of(frame: Any) -> Any:
    return frame.get("type") if isinstance(frame, dict) else None


class FrameConsumer(AsyncJsonWebsocketConsumer):
    """JSON frames with a ``type``, dispatched to ``HANDLERS[type](self, frame)``.

    A malformed frame or a ``FrameError`` from a handler is answered with an
    ``error`` frame; the connection stays open.
    """

    HANDLERS: ClassVar[dict[str, Callable[[Any, dict[str, Any]], Awaitable[None]]]]
    # The setting that holds this socket's rate limits (see config/settings.py).
    RATE_LIMITS: ClassVar[str] = "CHAT_RATE_LIMITS"

    address: str | None
    exempt: bool
    windows: dict[str, tuple[float, int]]

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.address = client_address(self.scope)
        self.exempt = is_exempt(self.address)
        self.windows = {}  # this connection's own counts, per frame type
        try:
            await self.limit("connect", per_connection=False)
        except FrameError as error:
            await self.accept()
            await self.send_error(error.code, str(error), **error.extra)
            await self.close(code=THROTTLED_CLOSE_CODE)
            return
        await super().websocket_connect(message)

    async def limit(self, bucket: str, *, per_connection: bool = True) -> None:
        """Count one ``bucket`` (a frame type, "frames", "connect", "customer") for
        this connection and for its client address; ``throttled`` past either."""
        if self.exempt:
            return
        limits = getattr(settings, self.RATE_LIMITS)
        limit = limits.get(bucket, limits["frames"])
        window = settings.RATE_LIMIT_WINDOW_SECONDS
        now = time.time()
        # The connection's own count first, in memory: a flooding socket costs no
        # Redis round trip.
        if per_connection and (
            local_count(bucket, now=now, window=window, windows=self.windows) > limit
        ):
            raise throttled(
                "Too many frames on this connection", now=now, window=window
            )
        if self.address is None:
            return
        key = (
            f"throttle:{self.RATE_LIMITS.lower()}:{bucket}:{limit_key(self.address)}"
            f":{int(now // window)}"
        )
        shared = limit * settings.RATE_LIMIT_SHOPPERS_PER_ADDRESS
        if await shared_count(key, now=now, window=window) > shared:
            raise throttled("Too many frames from this address", now=now, window=window)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        frame: Any = None
        try:
            # Every frame counts before it is read: garbage is not free either.
            await self.limit("frames")
            frame = parse_frame(text_data or "")
            kind = _type_of(frame)
            if not isinstance(kind, str):
                raise FrameError("invalid_field", "A frame is an object with a 'type'")
            check_frame(frame)
            handler = self.HANDLERS.get(kind)
            if handler is None:
                raise FrameError("unknown_type", f"Unknown type {kind[:64]!r}")
            await self.limit(kind)
            await self.run(handler, frame)
        except FrameError as error:
            await self.refuse(frame, error.code, str(error), **error.extra)
        except TRANSIENT_ERRORS as error:
            # Not an ack, and not a closed socket: the client keeps the frame and
            # sends it again after the wait.
            logger.warning("A frame met %s: %s", type(error).__name__, error)
            await self.refuse(
                frame,
                "unavailable",
                "The service is briefly unavailable; send it again later",
                retry_after=UNAVAILABLE_RETRY_AFTER,
            )
        except DataError:
            # PostgreSQL refused a value the checks above let through.
            logger.warning("PostgreSQL refused a frame's value", exc_info=True)
            await self.refuse(frame, "invalid_frame", "The frame holds a bad value")
        except Exception:
            # A bug, not the client's fault; the frame's content stays out of the log
            # (it may hold a token), and the socket stays open.
            logger.exception("A frame of type %.64r failed", _type_of(frame))
            await self.refuse(
                frame, "server_error", "The server failed on this frame; not stored"
            )

    async def refuse(self, frame: Any, code: str, message: str, **extra: Any) -> None:
        """An ``error`` frame naming the frame's message, so a client can drop it."""
        client_msg_id = frame.get("client_msg_id") if isinstance(frame, dict) else None
        if isinstance(client_msg_id, str) and len(client_msg_id) <= 64:
            extra.setdefault("client_msg_id", client_msg_id)
        await self.send_error(code, message, **extra)

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
        # The session opens with the client's first frame, ``hello``: the token
        # travels inside the socket, never in the URL that servers and proxies log.
        await self.accept()

    async def run(
        self,
        handler: Callable[[Any, dict[str, Any]], Awaitable[None]],
        frame: dict[str, Any],
    ) -> None:
        opened = hasattr(self, "conversation")
        if opened == (frame["type"] == "hello"):
            raise FrameError(
                "invalid_frame",
                "The session is open already" if opened else "Send hello first",
            )
        await handler(self, frame)

    async def on_hello(self, frame: dict[str, Any]) -> None:
        token = optional_str(frame, "token", max_length=500)
        public_id = optional_str(frame, "conversation", max_length=64) or None
        if resume := optional_str(frame, "resume", max_length=500):
            # A link from an emailed agent reply: it names the conversation and
            # stands for its customer; a tampered or expired one opens nothing.
            linked = await database_sync_to_async(Conversation.from_link_token)(resume)
            if linked is None:
                await self.send_error(
                    "link_invalid", "This link has expired or is not valid"
                )
                await self.close(code=NOT_FOUND_CLOSE_CODE)
                return
            token, public_id = linked.customer.token, linked.public_id
        known = (
            await database_sync_to_async(Customer.from_token)(token) if token else None
        )
        if known is None and public_id is None:
            # A new customer and conversation are rows: limited per address.
            await self.limit("customer", per_connection=False)
        customer, conversation, status = await self._open(known, public_id)
        if conversation is None:
            # Not theirs or not there: one answer for both, so ids can't be probed.
            await self.send_error("conversation_not_found", "No such conversation")
            await self.close(code=NOT_FOUND_CLOSE_CODE)
            return
        self.customer, self.conversation = customer, conversation
        try:
            await self.channel_layer.group_add(
                conversation.group_name, self.channel_name
            )
        except REDIS_ERRORS:
            # Messages are still stored and acked; live updates wait for Redis, and
            # the client's resync after its next reconnect fills the gap.
            logger.warning("no live updates for %s: Redis is away", conversation)
        await self.send_json(
            {
                "type": "session",
                # A fresh token on every use: the age counts from the last visit.
                "token": customer.token,
                "conversation": conversation.public_id,
                "status": conversation.status,
            }
        )
        await self.send_json(status)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "conversation"):
            with contextlib.suppress(*REDIS_ERRORS):  # a membership Redis lost anyway
                await self.channel_layer.group_discard(
                    self.conversation.group_name, self.channel_name
                )

    @database_sync_to_async
    def _open(
        self, customer: Customer | None, public_id: str | None
    ) -> tuple[Customer, Conversation | None, dict[str, Any]]:
        if customer is None:
            if public_id:
                # A new visitor owns no conversation yet: store nobody.
                return Customer(), None, {}
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
            try:
                await self.limit("frames")
            except FrameError as error:
                await self.send_error(error.code, str(error), **error.extra)
                return
            await self.send_error("binary_not_supported", "Send JSON text frames")
            return
        await super().receive(text_data=text_data)

    async def on_message(self, frame: dict[str, Any]) -> None:
        client_msg_id = require_client_msg_id(frame)
        text = require_text(frame, "text")
        await self.store_customer_message(client_msg_id=client_msg_id, text=text)

    async def on_postback(self, frame: dict[str, Any]) -> None:
        client_msg_id = require_client_msg_id(frame)
        title = require_text(frame, "title")
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
            # Order lookups are limited per address (chatbot.dialogue.limits).
            client_address=self.address,
        )
        # message_store has returned, so the message is committed: now it may be acked.
        ack: dict[str, Any] = {
            "type": "ack",
            "client_msg_id": client_msg_id,
            "seq": message.seq,
        }
        if message.text != text:
            # Stored masked (a card number): the customer sees what was kept, and why.
            ack["text"] = message.text
            ack["notice"] = message.payload.get("notice", "")
        await self.send_json(ack)

    async def throttle(self) -> None:
        """A fixed window per customer; over the limit, say when to retry.

        The count lives in the shared cache (Redis), so every server sees it; while
        Redis is away this process counts alone, so a Redis outage throttles no
        less and stops no message that PostgreSQL can store.
        """
        if self.exempt:
            return
        limit, window = settings.CHAT_THROTTLE
        now = time.time()
        key = f"throttle:chat:{self.customer.pk}:{int(now // window)}"
        if await shared_count(key, now=now, window=window) > limit:
            raise throttled("You're sending messages too fast", now=now, window=window)

    async def on_typing(self, frame: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            self.conversation.group_name,
            {"type": "chat.typing", "sender": "customer", "origin": self.channel_name},
        )

    async def on_resync(self, frame: dict[str, Any]) -> None:
        since = frame.get("since_seq", 0)
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise FrameError("invalid_field", "'since_seq' must be a whole number ≥ 0")
        page = settings.RESYNC_PAGE_SIZE
        frames = await self.messages_since(since, limit=page + 1)
        for message_frame in frames[:page]:
            await self.send_json(message_frame)
        if len(frames) > page:
            # One page per resync, so that a long conversation is not a cheap way to
            # make the server send megabytes; the client asks for the next.
            await self.send_json(
                {"type": "resync_more", "since_seq": frames[page - 1]["seq"]}
            )

    @database_sync_to_async
    def messages_since(self, since: int, *, limit: int) -> list[dict[str, Any]]:
        messages = self.conversation.messages.filter(seq__gt=since).order_by("seq")
        return [message.as_frame() for message in messages[:limit]]

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
        "hello": on_hello,
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
