"""The bare baseline of ``bench_chat``: an echo socket on the chat's own server.

It answers ``hello`` and each ``message`` with the frames the chat would send
(``session`` and ``status``; ``ack`` and a bot ``message``), but with no database,
no channel layer and no bot, so the benchmark can set what the reply path costs
beside what the server and the websocket alone cost. Served only while the
``BENCH_ECHO`` setting is on (off by default); the origin check in front of every
websocket applies to it as to the chat.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chatbot.consumers import NOT_FOUND_CLOSE_CODE


class EchoConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not settings.BENCH_ECHO:
            await self.close(code=NOT_FOUND_CLOSE_CODE)
            return
        self.seq = 0
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            await self.send_json({"type": "session", "token": "", "conversation": ""})
            await self.send_json({"type": "status", "status": "bot"})
        elif kind == "message":
            self.seq += 1
            client_msg_id = content.get("client_msg_id")
            await self.send_json(
                {"type": "ack", "client_msg_id": client_msg_id, "seq": self.seq}
            )
            self.seq += 1
            await self.send_json(
                {
                    "type": "message",
                    "seq": self.seq,
                    "sender": "bot",
                    "text": str(content.get("text", "")),
                    "payload": {},
                }
            )
