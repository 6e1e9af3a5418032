"""Play dialogue stories over real websockets, as new customers, one at a time.

Each story opens a new connection without a token (a new customer, a new
conversation), types or clicks its turns and checks every bot reply. What the shop
should look like before a story (agents online, no order-lookup lockouts left by an
earlier story) is set through :class:`Controls`, which the caller provides: a
stack of its own for ``evaluate_dialogue``, the test database in the test suite.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets

from benchmarks.dialogue.stories import FIRST_CLARIFICATION, Seen, Shop, Story, check

REPLY_TIMEOUT = 30.0
WARM_UP_TIMEOUT = 300.0
# How long to wait, after the reply, for the status frame a check asks about (the
# server sends it after the reply).
STATUS_GRACE = 5.0


@dataclass
class Controls:
    """What the runner may set in the shop before each story."""

    agents_online: Callable[[int], None] = lambda n: None
    before_story: Callable[[], None] = lambda: None


@dataclass
class Result:
    story: Story
    passed: bool = True
    failures: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self, *, transcript: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.story.id,
            "file": self.story.file,
            "category": self.story.category,
            "class": self.story.failure_class,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
        }
        if self.failures:
            out["failures"] = self.failures
        if transcript:
            out["transcript"] = self.transcript
        return out


def ws_url(url: str) -> tuple[str, str]:
    """The chat socket's URL and the Origin the server accepts, from its http URL."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/")
    return (
        f"{scheme}://{parts.netloc}{path}/ws/chat/",
        f"{parts.scheme}://{parts.netloc}",
    )


class Customer:
    """One new customer on the chat socket."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self.url, self.origin = ws_url(url)
        self.timeout = timeout
        self.ws: Any = None
        self.status: dict[str, Any] | None = None
        self.last_reply: dict[str, Any] | None = None

    async def __aenter__(self) -> Customer:
        self.ws = await websockets.connect(self.url, origin=self.origin)  # type: ignore[arg-type]
        await self.ws.send(json.dumps({"type": "hello"}))
        await self._until(lambda f: f.get("type") == "status", what="a status frame")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def _frame(self, timeout: float) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if frame.get("type") == "status":
            self.status = frame
        if frame.get("type") == "error":
            raise TurnError(f"the server refused a frame: {frame}")
        return dict(frame)

    async def _until(
        self, done: Callable[[dict[str, Any]], bool], *, what: str
    ) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                frame = await self._frame(max(0.01, left))
            except TimeoutError:
                raise TurnError(f"no {what} within {self.timeout:.0f} s") from None
            frames.append(frame)
            if done(frame):
                return frames

    async def send(self, frame: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Send a message or postback; the bot's reply, and whether a status frame
        during the turn put the conversation in the queue for a person."""
        frame = {"client_msg_id": str(uuid.uuid4()), **frame}
        await self.ws.send(json.dumps(frame))
        frames = await self._until(
            lambda f: (
                f.get("type") == "message" and f.get("sender") in ("bot", "system")
            ),
            what="reply",
        )
        handed = any(
            f.get("type") == "status" and f.get("status") == "waiting_for_agent"
            for f in frames
        )
        self.last_reply = frames[-1]
        return frames[-1], handed

    async def wait_for_status(self, wanted: Mapping[str, Any]) -> bool:
        """Read frames for a moment until a status frame arrives that has the
        status a check wants; True if one came during the wait."""
        target = wanted.get("status")
        deadline = time.monotonic() + STATUS_GRACE
        came = False
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await self._frame(left)
            except TimeoutError:
                break
            if frame.get("type") == "status":
                came = came or frame.get("status") == "waiting_for_agent"
                if target is None or frame.get("status") == target:
                    # Status frames for a queue change come in bursts: take the
                    # last of those already sent.
                    await self._drain(0.2)
                    return came
        return came

    async def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                await self._frame(left)
            except TimeoutError:
                return

    def button(self, title: str) -> dict[str, Any]:
        """The quick reply of the last bot message with this title (or the first
        clarification button)."""
        buttons = (self.last_reply or {}).get("payload", {}).get("quick_replies") or []
        if title == FIRST_CLARIFICATION:
            for button in buttons:
                if (button.get("payload") or {}).get("action") != "handoff":
                    return dict(button)
        else:
            for button in buttons:
                if str(button.get("title", "")).casefold() == title.casefold():
                    return dict(button)
        titles = [b.get("title") for b in buttons]
        raise TurnError(f"no button {title!r} to click (the buttons: {titles})")


class TurnError(Exception):
    """The story could not go on: no reply, no such button, a refused frame."""


async def play(story: Story, *, url: str, shop: Shop, timeout: float) -> Result:
    """Play ``story`` as a new customer and check every reply."""
    result = Result(story)
    started = time.monotonic()
    before: Sequence[Mapping[str, Any]] = ()
    try:
        async with Customer(url, timeout=timeout) as customer:
            for n, turn in enumerate(story.turns, start=1):
                entry: dict[str, Any] = {"turn": n}
                frame: dict[str, Any]
                result.transcript.append(entry)
                if turn.customer is not None:
                    entry["customer"] = turn.customer
                    frame = {"type": "message", "text": turn.customer}
                else:
                    assert turn.click is not None
                    button = customer.button(turn.click)
                    entry["click"] = button["title"]
                    frame = {
                        "type": "postback",
                        "title": button["title"],
                        "payload": button.get("payload") or {},
                    }
                reply, handed = await customer.send(frame)
                tagged = bool((reply.get("payload") or {}).get("action"))
                wants = _wants_status(turn.expect) and not tagged
                if "status" in turn.expect or wants:
                    handed = (
                        await customer.wait_for_status(turn.expect.get("status") or {})
                        or handed
                    )
                seen = Seen(
                    text=str(reply.get("text", "")),
                    payload=reply.get("payload") or {},
                    status=customer.status,
                    handed_over=handed,
                )
                entry.update(
                    bot=seen.text,
                    action=seen.action,
                    payload=dict(seen.payload),
                    status=customer.status,
                )
                for failure in check(turn.expect, seen, shop=shop, before=before):
                    result.failures.append({"turn": n, "check": failure})
                if seen.cards:
                    before = seen.cards
    except TurnError as error:
        result.failures.append({"turn": len(result.transcript), "check": str(error)})
    except (OSError, websockets.WebSocketException) as error:
        result.failures.append(
            {"turn": len(result.transcript), "check": f"connection failed: {error!r}"}
        )
    result.passed = not result.failures
    result.seconds = time.monotonic() - started
    return result


def _wants_status(expect: Mapping[str, Any]) -> bool:
    """Whether a check depends on a status frame (an action of handoff included)."""
    options = expect.get("one_of") or []
    return "handoff" in str(expect.get("action", "")) or any(
        _wants_status(o) or "status" in o for o in options
    )


async def warm_up(url: str, *, timeout: float = WARM_UP_TIMEOUT) -> None:
    """One conversation nobody checks: a fresh worker loads its models on its
    first message, which must not count against the first story's reply time."""
    async with Customer(url, timeout=timeout) as customer:
        await customer.send({"type": "message", "text": "hello"})


def run(
    stories: Sequence[Story],
    *,
    url: str,
    shop: Shop,
    controls: Controls | None = None,
    timeout: float = REPLY_TIMEOUT,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Play every story in turn against the chat at ``url``."""
    controls = controls or Controls()
    asyncio.run(warm_up(url))
    results = []
    for story in stories:
        controls.before_story()
        # Nobody online unless the story says: the same shop for every run.
        controls.agents_online(story.agents_online or 0)
        result = asyncio.run(play(story, url=url, shop=shop, timeout=timeout))
        results.append(result)
        if progress is not None:
            progress(result)
    return results
