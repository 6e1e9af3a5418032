"""A customer's widget reduced to its delivery guarantees, for the fault tests.

Like widget.js: every message waits in an outbox and is sent again (same
``client_msg_id``) after each reconnect until the server acknowledges it; after a
reconnect the transcript is completed with a resync from the last seq seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from websockets.exceptions import WebSocketException

from tests.live import ws_connect

# What a dropped connection, a refused handshake or a dead server raise.
GONE = (OSError, asyncio.TimeoutError, EOFError, WebSocketException)


class Shopper:
    def __init__(self, port: int) -> None:
        self.port = port
        self.token = ""
        self.conversation = ""
        self.outbox: dict[str, str] = {}  # client_msg_id → text, until acked
        self.acked: dict[str, int] = {}  # client_msg_id → seq
        self.transcript: dict[int, dict[str, Any]] = {}  # seq → message frame
        self.ws: Any = None
        self.errors: list[dict[str, Any]] = []
        self.resend_at: float | None = None  # after "throttled" or "unavailable"

    async def connect(self, *, timeout: float = 60.0) -> None:
        """(Re)connect until the server takes us; then resync and flush the outbox."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self._open()
                return
            except GONE:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _open(self) -> None:
        await self.close()
        self.ws = await ws_connect(
            self.port, token=self.token or None, conversation=self.conversation or None
        )
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if frame["type"] == "session":
                self.token, self.conversation = frame["token"], frame["conversation"]
            if frame["type"] == "status":
                break
        since = max(self.transcript, default=0)
        await self.ws.send(json.dumps({"type": "resync", "since_seq": since}))
        for client_msg_id, text in list(self.outbox.items()):
            await self._send(client_msg_id, text)

    async def _send(self, client_msg_id: str, text: str) -> None:
        frame = {"type": "message", "client_msg_id": client_msg_id, "text": text}
        await self.ws.send(json.dumps(frame))

    async def say(self, text: str) -> str:
        client_msg_id = uuid.uuid4().hex
        self.outbox[client_msg_id] = text
        with contextlib.suppress(*GONE):  # if not, it goes again after a reconnect
            await self._send(client_msg_id, text)
        return client_msg_id

    async def read(self, seconds: float) -> None:
        """Handle frames for ``seconds``; reconnect if the connection drops."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            if self.ws is None:
                await self.connect()
            if self.resend_at is not None and loop.time() >= self.resend_at:
                self.resend_at = None
                for client_msg_id, text in list(self.outbox.items()):
                    with contextlib.suppress(*GONE):
                        await self._send(client_msg_id, text)
            try:
                raw = await asyncio.wait_for(self.ws.recv(), min(left, 0.5))
            except TimeoutError:
                continue
            except GONE:
                await self.connect()
                continue
            self._handle(json.loads(raw))

    def _handle(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "ack":
            self.outbox.pop(frame["client_msg_id"], None)
            self.acked[frame["client_msg_id"]] = frame["seq"]
        elif frame["type"] == "message":
            self.transcript[frame["seq"]] = frame
        elif frame["type"] == "error":
            self.errors.append(frame)
            if frame["code"] in ("throttled", "unavailable"):
                # Like the widget: the message stays in the outbox, sent again later.
                delay = float(frame.get("retry_after") or 1)
                self.resend_at = asyncio.get_running_loop().time() + delay

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(*GONE):
                await self.ws.close()
            self.ws = None
