"""A scripted customer for end-to-end conversations over a real websocket."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chatbot.dialogue.responses import defaults
from tests.live import receive_until, ws_connect


def said(key: str, text: str, *, within: bool = False) -> bool:
    """Whether ``text`` is one of the variations of the response ``key``.

    ``within``: the variation may be part of ``text`` (after a note, before more).
    """
    match = re.search if within else re.fullmatch
    for template in defaults()[key]:
        parts = re.split(r"\{\w+(?:\.\w+)?\}", template)
        pattern = ".*?".join(re.escape(part) for part in parts)
        if match(pattern, text, flags=re.DOTALL):
            return True
    return False


async def frames_until(ws: Any, predicate: Any) -> list[dict[str, Any]]:
    """Frames from a ``WebsocketCommunicator`` until one satisfies ``predicate``."""
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=10)
        frames.append(frame)
        if predicate(frame):
            return frames


class Customer:
    """One browser tab of the widget, reduced to what a test needs."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ws: Any = None
        self.session: dict[str, Any] = {}
        self.statuses: list[dict[str, Any]] = []

    async def __aenter__(self) -> Customer:
        self.ws = await ws_connect(self.port)
        frames = await receive_until(self.ws, lambda f: f["type"] == "status")
        self.session = frames[0]
        self.statuses.append(frames[-1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame and return the bot's (or system's) next message."""
        frame = {"client_msg_id": str(uuid.uuid4()), **frame}
        await self.ws.send(json.dumps(frame))
        frames = await receive_until(
            self.ws,
            lambda f: f["type"] == "message" and f["sender"] in ("bot", "system"),
        )
        self.statuses += [f for f in frames if f["type"] == "status"]
        return frames[-1]

    async def say(self, text: str) -> dict[str, Any]:
        return await self.send({"type": "message", "text": text})

    async def press(self, button: dict[str, Any]) -> dict[str, Any]:
        return await self.send(
            {"type": "postback", "title": button["title"], "payload": button["payload"]}
        )

    async def next_status(self) -> dict[str, Any]:
        frames = await receive_until(self.ws, lambda f: f["type"] == "status")
        self.statuses.append(frames[-1])
        return frames[-1]

    @property
    def status(self) -> str:
        return str(self.statuses[-1]["status"])
