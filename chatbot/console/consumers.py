"""The agent console's websocket (``ws/console/``), for staff who may view
conversations (``chatbot.console.permissions``).

Permissions are re-read from the database before every frame, whenever the user's
``console.user.<id>`` group says they changed (``chatbot.console.signals``), and on
a timer as a backstop; the socket closes with 4403 once the user may no longer use
the console (deactivated, no longer staff, the view permission taken away).

It joins the "console" group (list changes, notes) and the group of each
conversation the agent opens (messages, typing, status) — the same group the
customer's widget is in, so an agent's reply reaches the customer through it.
Every write goes through ``chatbot.console.services``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chatbot import events
from chatbot import services as chat_services
from chatbot.console import permissions, selectors, services
from chatbot.console.services import ConsoleError
from chatbot.consumers import (
    FrameConsumer,
    FrameError,
    require_client_msg_id,
    require_text,
)
from chatbot.models import Conversation, Message
from chatbot.origins import is_own_origin

FORBIDDEN_CLOSE_CODE = 4403
MAX_OPEN_CONVERSATIONS = 20
# The backstop re-check of the user's permissions, should a change signal be lost.
RECHECK_SECONDS = 30.0


def from_own_site(scope: dict[str, Any]) -> bool:
    """Whether the socket was opened by a page of this site itself.

    The shops in WIDGET_ALLOWED_ORIGINS may open the chat socket, but a shop's page
    is often on the same *site* as the console (shop.example / chat.example), so a
    browser would send the agent's session cookie along: only our own pages may,
    compared by scheme, host and port.
    """
    return is_own_origin(scope)


class AgentConsumer(FrameConsumer):
    user: Any
    granted: list[str]
    opened: dict[str, Conversation]
    watcher: asyncio.Task[None]

    # Rate limits: generous, per connection and address, for each frame type.
    RATE_LIMITS = "CONSOLE_RATE_LIMITS"

    async def connect(self) -> None:
        user = self.scope.get("user")
        granted = await database_sync_to_async(permissions.granted)(user)
        if not granted or not from_own_site(self.scope):
            # Refused during the handshake: a customer's token, an anonymous
            # visitor or staff without the view permission never get a socket.
            await self.close(code=FORBIDDEN_CLOSE_CODE)
            return
        self.user, self.granted = user, granted
        self.opened = {}
        await self.accept()
        await self.channel_layer.group_add(
            chat_services.CONSOLE_GROUP, self.channel_name
        )
        await self.channel_layer.group_add(
            permissions.user_group(user.pk), self.channel_name
        )
        self.watcher = asyncio.ensure_future(self.recheck_periodically())
        await database_sync_to_async(services.presence_touch)(agent=user)
        await self.send_json(
            {
                "type": "hello",
                "agent": {
                    "id": user.pk,
                    "name": user.get_username(),
                    "permissions": granted,
                },
                "conversations": await database_sync_to_async(
                    selectors.conversation_list
                )(),
            }
        )

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "opened"):
            return
        self.watcher.cancel()
        await self.channel_layer.group_discard(
            chat_services.CONSOLE_GROUP, self.channel_name
        )
        await self.channel_layer.group_discard(
            permissions.user_group(self.user.pk), self.channel_name
        )
        for conversation in self.opened.values():
            await self.channel_layer.group_discard(
                conversation.group_name, self.channel_name
            )

    # --- permissions ----------------------------------------------------------------

    @database_sync_to_async
    def reload_user(self) -> tuple[Any, list[str]]:
        # A fresh instance: a user object caches its permissions for its lifetime.
        user = get_user_model().objects.filter(pk=self.user.pk).first()
        return user, permissions.granted(user)

    async def recheck(self) -> bool:
        """Re-read the user's permissions; close the socket if the console is no
        longer theirs. Returns whether the socket stays open."""
        user, granted = await self.reload_user()
        if not granted:
            if asyncio.current_task() is not self.watcher:
                self.watcher.cancel()
            await self.close(code=FORBIDDEN_CLOSE_CODE)
            return False
        changed = granted != self.granted
        self.user, self.granted = user, granted
        if changed:
            await self.send_json({"type": "permissions", "permissions": granted})
        return True

    async def recheck_periodically(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            # A hiccup of the database is no reason to drop the agent; the next
            # round or the next frame checks again.
            with contextlib.suppress(Exception):
                if not await self.recheck():
                    return

    async def require(self, name: str) -> None:
        await database_sync_to_async(services.require_permission)(self.user, name)

    async def console_permissions(self, event: dict[str, Any]) -> None:
        await self.recheck()

    # --- client → server --------------------------------------------------------

    async def run(
        self,
        handler: Callable[[Any, dict[str, Any]], Awaitable[None]],
        frame: dict[str, Any],
    ) -> None:
        if not await self.recheck():
            return
        try:
            await handler(self, frame)
        except ConsoleError as error:
            await self.send_error(
                error.code, str(error), conversation=frame.get("conversation")
            )

    async def conversation(self, frame: dict[str, Any]) -> Conversation:
        public_id = frame.get("conversation")
        if not isinstance(public_id, str):
            raise FrameError("invalid_field", "'conversation' must be a string")
        found = await database_sync_to_async(
            Conversation.objects.filter(public_id=public_id).first
        )()
        if found is None:
            raise FrameError("conversation_not_found", "No such conversation")
        return found

    async def on_heartbeat(self, frame: dict[str, Any]) -> None:
        await database_sync_to_async(services.presence_touch)(agent=self.user)

    async def on_open(self, frame: dict[str, Any]) -> None:
        await self.require("view")
        conversation = await self.conversation(frame)
        if conversation.public_id not in self.opened:
            # One access-log row per opening: an ``open`` again on this socket is
            # a refresh; a new socket (a reconnect) within minutes is the same
            # opening too (``StaffAccess.SAME_OPENING``).
            await database_sync_to_async(events.announce_opened)(
                events.Place.CONSOLE, conversations=[conversation], user=self.user
            )
            if len(self.opened) >= MAX_OPEN_CONVERSATIONS:
                oldest = next(iter(self.opened))
                await self.channel_layer.group_discard(
                    self.opened.pop(oldest).group_name, self.channel_name
                )
            self.opened[conversation.public_id] = conversation
            # Join first, then read: a message stored in between arrives twice
            # (the client keys messages by seq), never not at all.
            await self.channel_layer.group_add(
                conversation.group_name, self.channel_name
            )
        detail = await database_sync_to_async(selectors.conversation_detail)(
            conversation
        )
        await self.send_json({"type": "detail", **detail})

    async def on_close(self, frame: dict[str, Any]) -> None:
        conversation = self.opened.pop(str(frame.get("conversation")), None)
        if conversation is not None:
            await self.channel_layer.group_discard(
                conversation.group_name, self.channel_name
            )

    async def on_take(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        await database_sync_to_async(services.conversation_take)(
            conversation_id=conversation.pk, agent=self.user
        )

    async def on_reply(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        client_msg_id = require_client_msg_id(frame)
        text = require_text(frame, "text")
        message = await database_sync_to_async(services.conversation_reply)(
            conversation_id=conversation.pk,
            agent=self.user,
            text=text,
            client_msg_id=f"agent:{self.user.pk}:{client_msg_id}",
        )
        await self.send_json(
            {
                "type": "ack",
                "conversation": conversation.public_id,
                "client_msg_id": client_msg_id,
                "seq": message.seq,
            }
        )

    async def on_typing(self, frame: dict[str, Any]) -> None:
        # Only an agent who may reply shows the customer "Agent is typing…".
        await self.require("reply")
        conversation = await self.conversation(frame)
        await self.channel_layer.group_send(
            conversation.group_name,
            {"type": "chat.typing", "sender": "agent", "origin": self.channel_name},
        )

    async def on_note(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        text = require_text(frame, "text")
        await database_sync_to_async(services.conversation_note)(
            conversation_id=conversation.pk, agent=self.user, text=text
        )

    async def on_hand_back(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        await database_sync_to_async(services.conversation_hand_back)(
            conversation_id=conversation.pk, agent=self.user
        )

    async def on_resolve(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        await database_sync_to_async(services.conversation_resolve)(
            conversation_id=conversation.pk, agent=self.user
        )

    async def on_assign(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame)
        to_agent = frame.get("agent")
        if not isinstance(to_agent, int) or isinstance(to_agent, bool):
            raise FrameError("invalid_field", "'agent' must be a user id")
        await database_sync_to_async(services.conversation_assign)(
            conversation_id=conversation.pk, agent=self.user, to_agent_id=to_agent
        )

    HANDLERS = {
        "heartbeat": on_heartbeat,
        "open": on_open,
        "close": on_close,
        "take": on_take,
        "reply": on_reply,
        "typing": on_typing,
        "note": on_note,
        "hand_back": on_hand_back,
        "resolve": on_resolve,
        "assign": on_assign,
    }

    # --- group events → client ----------------------------------------------------

    async def console_changed(self, event: dict[str, Any]) -> None:
        summary = await self.summary(event["conversation"])
        if summary is not None:
            await self.send_json({"type": "conversation", "conversation": summary})

    @database_sync_to_async
    def summary(self, public_id: str) -> dict[str, Any] | None:
        conversation = (
            Conversation.objects.select_related("customer", "assigned_agent")
            .filter(public_id=public_id)
            .first()
        )
        return selectors.conversation_summary(conversation) if conversation else None

    async def console_note(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "note",
                "conversation": event["conversation"],
                "note": event["note"],
            }
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        public_id = event.get("conversation")
        if public_id not in self.opened:
            return
        frame = await self.staff_message_frame(public_id, event["message"])
        await self.send_json({**frame, "conversation": public_id})

    @database_sync_to_async
    def staff_message_frame(
        self, public_id: str, frame: dict[str, Any]
    ) -> dict[str, Any]:
        message = (
            Message.objects.select_related("agent")
            .filter(conversation__public_id=public_id, seq=frame["seq"])
            .first()
        )
        return selectors.message_frame(message) if message else frame

    async def chat_status(self, event: dict[str, Any]) -> None:
        # The console learns status changes from console.changed, with the agent.
        pass

    async def chat_typing(self, event: dict[str, Any]) -> None:
        if event.get("origin") == self.channel_name:
            return
        # Typing events carry no conversation id; with several conversations open
        # the console can't tell whose it is, so it is shown only with one open.
        if len(self.opened) == 1:
            await self.send_json(
                {
                    "type": "typing",
                    "conversation": next(iter(self.opened)),
                    "sender": event["sender"],
                }
            )
