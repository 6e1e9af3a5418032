"""The chat under load: ``bench_chat``'s whole run.

N customers, each on a real websocket, send a shop question every few seconds and
wait for the bot's reply. Measured per phase: how long the ``ack`` (the message is
committed) and the reply take (p50/p95/p99), replies per second, errors, and what
was lost — sent versus stored in the database versus replied. In the same run, the
same N against the echo socket (``chatbot.echo``: same server, no bot work) gives
the bare baseline, and the ratios of the two.

The load generator shares the machine with the stack, so its own CPU time is
reported beside the figures (and the stack's, when this run started it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

# Written the way shoppers type; none of them asks for a person or complains, so a
# conversation stays with the bot (one that is handed over anyway starts afresh).
QUESTIONS = (
    "how much is delivery to my place",
    "do you ship to canada?",
    "how long does standard shipping take",
    "can i return shoes i already wore outside once",
    "whats your returns window",
    "is the stormline jacket waterproof",
    "any good running shoes for wide feet?",
    "do you have a gift card i can email",
    "what payment options do you have",
    "can i pay with paypal",
    "is there free shipping over some amount",
    "what are your opening hours on saturday",
    "does the backpack come with a warranty",
    "how do i reset my password",
    "can i get an invoice for my company",
    "what size jacket should i get if i'm 180cm",
    "have you got any discount codes right now",
    "recommend me a present for someone who likes hiking",
    "is the trail runner available in size 9",
    "how long does a refund take to show up",
    "do you sell water bottles",
    "what can you help me with",
    "do you deliver on weekends",
    "how do i change the email on my account",
    "do the headphones have noise cancelling",
)
REPLY_SENDERS = ("bot", "system", "agent")
P95_TARGET_MS = 2000.0


@dataclass
class Load:
    """How hard and how long one phase pushes."""

    customers: int
    seconds: float
    interval: float = 5.0  # seconds between one customer's messages
    reply_timeout: float = 30.0  # a reply later than this counts as unanswered
    connect_timeout: float = 30.0


@dataclass
class Tally:
    """What the customers of one phase saw."""

    sent: int = 0
    acked: int = 0
    replied: int = 0
    unanswered: int = 0
    ack_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    handed_over: int = 0
    busy: int = 0  # "busy" frames: replies later than REPLY_BUSY_AFTER_SECONDS
    client_msg_ids: list[str] = field(default_factory=list)
    first_send: float | None = None
    last_reply: float | None = None


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


def ws_url(url: str, path: str) -> tuple[str, str]:
    """The websocket URL of ``path`` on the server at ``url``, and its origin."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    origin = f"{parts.scheme}://{parts.netloc}"
    return f"{scheme}://{parts.netloc}/{path.strip('/')}/", origin


class _Handover(Exception):
    """The conversation left the bot (a person was asked for): start a new one."""


async def _frames(
    ws: Any, until: Callable[[dict[str, Any]], bool], timeout: float
) -> list[dict[str, Any]]:
    """Frames until one satisfies ``until``; ``TimeoutError`` after ``timeout`` s."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        frames.append(frame)
        if until(frame):
            return frames


async def _open(url: str, origin: str, load: Load) -> Any:
    import websockets
    from websockets.typing import Origin

    ws = await websockets.connect(
        url, origin=Origin(origin), open_timeout=load.connect_timeout, max_size=2**20
    )
    await ws.send(json.dumps({"type": "hello", "token": None, "conversation": None}))
    await _frames(ws, lambda f: f["type"] == "status", load.connect_timeout)
    return ws


async def _one_message(ws: Any, tally: Tally, text: str, load: Load, tag: str) -> None:
    """Send one message; wait for its ack and the reply that follows."""
    client_msg_id = f"{tag}-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    tally.first_send = tally.first_send or started
    await ws.send(
        json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text})
    )
    tally.sent += 1
    tally.client_msg_ids.append(client_msg_id)
    acked = replied = False
    deadline = time.monotonic() + load.reply_timeout
    while not (acked and replied):
        left = deadline - time.monotonic()
        if left <= 0:
            tally.unanswered += 1
            raise TimeoutError
        frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        kind = frame.get("type")
        now = time.perf_counter()
        if kind == "ack" and frame.get("client_msg_id") == client_msg_id:
            acked = True
            tally.acked += 1
            tally.ack_ms.append((now - started) * 1000)
        elif kind == "message" and frame.get("sender") in REPLY_SENDERS:
            if not replied:
                replied = True
                tally.replied += 1
                tally.reply_ms.append((now - started) * 1000)
                tally.last_reply = now
        elif kind == "busy" and frame.get("client_msg_id") == client_msg_id:
            tally.busy += 1
        elif kind == "error":
            tally.errors[str(frame.get("code", "error"))] += 1
            if frame.get("client_msg_id") == client_msg_id:
                return  # refused: no ack and no reply will come
        elif kind == "status" and frame.get("status") not in (None, "bot"):
            tally.handed_over += 1
            raise _Handover


async def customer(
    *,
    url: str,
    origin: str,
    load: Load,
    tally: Tally,
    tag: str,
    rng: random.Random,
    stop_at: float,
) -> None:
    """One shopper: a question every ``load.interval`` s (jittered) until ``stop_at``,
    each time waiting for the reply first."""
    ws = None
    # Customers start spread over the first interval; each sends at least once.
    next_send = time.monotonic() + rng.uniform(0, min(load.interval, load.seconds))
    first = True
    try:
        while first or next_send < stop_at:
            first = False
            if ws is None:
                try:
                    ws = await _open(url, origin, load)
                except (OSError, TimeoutError) as error:
                    tally.errors[f"connect: {type(error).__name__}"] += 1
                    return
                except Exception as error:  # the handshake was refused
                    tally.errors[f"connect: {type(error).__name__}"] += 1
                    return
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))
            try:
                await _one_message(ws, tally, rng.choice(QUESTIONS), load, tag)
            except _Handover:
                await ws.close()
                ws = None
            except TimeoutError:
                tally.errors["reply timeout"] += 1
                return  # a late reply would be taken for the next one's
            except Exception as error:  # the connection dropped
                tally.errors[f"connection: {type(error).__name__}"] += 1
                return
            gap = load.interval * rng.uniform(0.8, 1.2)
            next_send = max(next_send + gap, time.monotonic())
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def _drive(url: str, path: str, load: Load, tag: str, seed: int) -> Tally:
    address, origin = ws_url(url, path)
    tally = Tally()
    stop_at = time.monotonic() + load.seconds
    await asyncio.gather(
        *(
            customer(
                url=address,
                origin=origin,
                load=load,
                tally=tally,
                tag=f"{tag}-{i}",
                rng=random.Random(seed * 100_003 + i),
                stop_at=stop_at,
            )
            for i in range(load.customers)
        )
    )
    return tally


def stored_counts(client_msg_ids: list[str]) -> tuple[int, int]:
    """How many of these customer messages, and of the bot's replies to them, the
    database holds."""
    from chatbot.models import Message
    from chatbot.services import reply_id

    ids: list[int] = []
    for start in range(0, len(client_msg_ids), 1000):
        ids += Message.objects.filter(
            sender=Message.Sender.CUSTOMER,
            client_msg_id__in=client_msg_ids[start : start + 1000],
        ).values_list("pk", flat=True)
    replies = 0
    for start in range(0, len(ids), 1000):
        replies += Message.objects.filter(
            client_msg_id__in=[reply_id(pk) for pk in ids[start : start + 1000]]
        ).count()
    return len(ids), replies


def run_phase(
    *,
    url: str,
    path: str,
    load: Load,
    seed: int = 0,
    count_stored: bool = True,
    stack_cpu: Callable[[], float] | None = None,
    drain_timeout: float = 120.0,
) -> dict[str, Any]:
    """Drive ``load.customers`` customers on ``path`` for ``load.seconds``.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000``.
        path: ``ws/chat`` (the bot) or ``ws/echo`` (the bare baseline).
        load: how many, how often, how long.
        seed: the customers' questions and timing.
        count_stored: look the sent messages up in the database (the chat only).
        stack_cpu: the CPU seconds the stack's processes have used so far.
        drain_timeout: how long to wait, after the load, for the last reply owed.

    Returns:
        The phase's figures.
    """
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    cpu_before, stack_before = time.process_time(), stack_cpu() if stack_cpu else 0
    started = time.perf_counter()
    tally = asyncio.run(_drive(url, path, load, tag, seed))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    span = (
        (tally.last_reply - tally.first_send)
        if tally.first_send is not None and tally.last_reply is not None
        else 0.0
    )
    figures: dict[str, Any] = {
        "path": f"/{path.strip('/')}/",
        "customers": load.customers,
        "seconds": load.seconds,
        "interval_s": load.interval,
        "sent": tally.sent,
        "acked": tally.acked,
        "replied": tally.replied,
        "unanswered": tally.unanswered,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "handed_over": tally.handed_over,
        "told_busy": tally.busy,
        "ack_ms": percentiles(tally.ack_ms),
        "reply_ms": percentiles(tally.reply_ms),
        "replies_per_s": round(tally.replied / span, 2) if span > 0 else 0.0,
        "wall_s": round(wall, 2),
        "load_generator_cpu_s": round(cpu, 2),
        "load_generator_cpu_share": round(cpu / wall, 3) if wall else 0.0,
    }
    if stack_cpu is not None:
        figures["stack_cpu_s"] = round(stack_cpu() - stack_before, 2)
    if count_stored:
        stored, replies_stored = stored_counts(tally.client_msg_ids)
        figures.update(
            stored=stored,
            replies_stored=replies_stored,
            lost=tally.sent - stored,
        )
        # Every stored message is owed one reply: how long until the last one is
        # stored once the load stopped (a collapsed stack took minutes), and
        # whether every message then has its reply.
        drained = drain(timeout=drain_timeout)
        _, replies_after = stored_counts(tally.client_msg_ids)
        figures.update(
            drained_after_s=drained,
            replies_stored_after_drain=replies_after,
        )
    return figures


def drain(*, timeout: float) -> float | None:
    """Seconds until the bot owes no reply (``None``: still owing after
    ``timeout``)."""
    from chatbot.models import PendingReply

    started = time.perf_counter()
    while PendingReply.objects.exists():
        if time.perf_counter() - started > timeout:
            return None
        time.sleep(0.5)
    return round(time.perf_counter() - started, 2)


def warm_up(url: str, *, timeout: float = 300.0) -> float:
    """One message through the bot, so that the measured phases find the worker's
    model loaded; the seconds it took."""
    load = Load(customers=1, seconds=0.001, interval=1.0, reply_timeout=timeout)
    started = time.perf_counter()
    figures = run_phase(url=url, path="ws/chat", load=load, count_stored=False)
    if figures["replied"] != 1:
        raise RuntimeError(f"the warm-up message got no reply: {figures}")
    return time.perf_counter() - started


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def compare(bot: dict[str, Any], echo: dict[str, Any]) -> dict[str, Any]:
    """The bot's figures over the echo's, for the same customers."""
    return {
        f"{kind}_{q}_over_echo": ratio(bot[f"{kind}_ms"][q], echo[f"{kind}_ms"][q])
        for kind in ("ack", "reply")
        for q in ("p50", "p95")
    } | {"replies_per_s_over_echo": ratio(bot["replies_per_s"], echo["replies_per_s"])}


def holds(phase: dict[str, Any]) -> bool:
    """Whether a phase meets the ramp's bar: every message answered, p95 < 2 s."""
    p95 = phase["reply_ms"]["p95"]
    return (
        phase["errors"] == 0
        and phase.get("lost", 0) == 0
        and phase["unanswered"] == 0
        and p95 is not None
        and p95 < P95_TARGET_MS
    )


def ramp(
    measure: Callable[[int], dict[str, Any]], *, start: int, steps: int
) -> dict[str, Any]:
    """The largest N whose phase :func:`holds`: doubling from ``start`` until one
    fails, then ``steps`` bisections between the last that held and the first that
    failed."""
    phases: list[dict[str, Any]] = []
    good, bad = 0, None
    n = max(1, start)
    while bad is None:
        phase = measure(n)
        phases.append(phase)
        if holds(phase):
            good, n = n, n * 2
        else:
            bad = n
    for _ in range(steps):
        if bad - good <= 1:
            break
        n = (good + bad) // 2
        phase = measure(n)
        phases.append(phase)
        if holds(phase):
            good = n
        else:
            bad = n
    return {"max_customers_p95_under_2s": good, "first_failing": bad, "phases": phases}


def rss_bytes(pid: int | None) -> int | None:
    """The resident memory of process ``pid`` (``None``: not ours to measure)."""
    import psutil

    if pid is None:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


async def _hold_idle(
    url: str, *, connections: int, web_pid: int | None, settle: float
) -> dict[str, Any]:
    address, origin = ws_url(url, "ws/chat")
    load = Load(customers=1, seconds=1.0)
    before = rss_bytes(web_pid)
    # Opened a few dozen at a time, as visitors arrive, not in one SYN flood.
    gate = asyncio.Semaphore(50)

    async def one() -> Any:
        async with gate:
            return await _open(address, origin, load)

    started = time.perf_counter()
    results = await asyncio.gather(
        *(one() for _ in range(connections)), return_exceptions=True
    )
    opened_s = time.perf_counter() - started
    sockets = [r for r in results if not isinstance(r, BaseException)]
    failures = Counter(
        type(r).__name__ for r in results if isinstance(r, BaseException)
    )
    await asyncio.sleep(settle)  # idle: nobody writes
    after = rss_bytes(web_pid)

    async def alive(ws: Any) -> bool:
        try:
            await asyncio.wait_for(await ws.ping(), load.connect_timeout)
            return True
        except Exception:
            return False

    answering = sum(await asyncio.gather(*(alive(ws) for ws in sockets)))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    per = (
        round((after - before) / len(sockets) / 1024, 1)
        if before is not None and after is not None and sockets
        else None
    )
    return {
        "connections": connections,
        "opened": len(sockets),
        "open_errors": dict(failures),
        "still_open_after_idle": answering,
        "idle_s": settle,
        "open_all_s": round(opened_s, 2),
        "web_rss_before_mb": round(before / 2**20, 1) if before else None,
        "web_rss_after_mb": round(after / 2**20, 1) if after else None,
        "memory_per_connection_kb": per,
    }


def hold_idle(
    url: str, *, connections: int, web_pid: int | None, settle: float = 10.0
) -> dict[str, Any]:
    """Open ``connections`` chat sockets (each says ``hello``: a customer and a
    conversation, a group membership), leave them idle, and report how many the
    server holds and its memory per connection (only for a server this run
    started: ``web_pid``)."""
    return asyncio.run(
        _hold_idle(url, connections=connections, web_pid=web_pid, settle=settle)
    )


# --- the stack this run starts -------------------------------------------------


@dataclass
class LocalStack:
    url: str
    processes: dict[str, subprocess.Popen[bytes]]

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the stack's processes and their children."""
        import psutil

        total = 0.0
        for process in self.processes.values():
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(process.pid)
                for p in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = p.cpu_times()
                        total += times.user + times.system
        return total


@contextlib.contextmanager
def local_stack(*, log_dir: Path) -> Iterator[LocalStack]:
    """``make run``'s processes (web, worker, beat) on the databases this command
    uses, with the echo socket on and the load generator's address exempt from the
    rate limits."""
    from django.core.management import call_command

    from devserver.processes import HOST, free_port, stop_process, wait_for_port
    from devserver.run import processes

    call_command("migrate", "--no-input", verbosity=0)
    call_command("setup_demo", verbosity=0)
    port = free_port()
    env = dict(
        os.environ,
        BENCH_ECHO="1",
        RATE_LIMIT_EXEMPT=HOST,
        PYTHONUNBUFFERED="1",
    )
    commands = processes(port)
    log_dir.mkdir(parents=True, exist_ok=True)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with open(log_dir / f"{name}.log", "ab") as log:
                children[name] = subprocess.Popen(
                    command,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_for_port(
            port,
            process=children["web"],
            name="web server",
            log=log_dir / "web.log",
            timeout=120,
        )
        yield LocalStack(url=f"http://{HOST}:{port}", processes=children)
    finally:
        for child in children.values():
            stop_process(child, sig=signal.SIGTERM, timeout=20)


def run(
    *,
    url: str | None,
    customers: int,
    seconds: float,
    interval: float = 5.0,
    reply_timeout: float = 30.0,
    ramp_steps: int | None = None,
    log_dir: Path,
    seed: int = 0,
    echo: bool = True,
    idle: int | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, Any]:
    """The whole benchmark: start the stack (or attach to ``url``), warm up, then
    the echo baseline and the bot for ``customers``, or a ramp.

    Args:
        url: a running server (its database must be the one this process uses);
            ``None`` starts ``make run``'s stack here.
        customers: N, or the ramp's first N.
        seconds: how long each phase sends.
        interval: seconds between one customer's messages.
        reply_timeout: a reply later than this counts as unanswered.
        ramp_steps: bisection steps of ``--ramp``; ``None`` runs N only.
        log_dir: where a started stack logs.
        seed: the customers' questions and timing.
        echo: measure the echo baseline too.
        idle: hold this many idle connections instead of the phases.
        progress: one line per phase.

    Returns:
        The figures, for the JSON file.
    """
    with contextlib.ExitStack() as stack:
        stack_cpu: Callable[[], float] | None = None
        web_pid: int | None = None
        if url is None:
            progress("starting the stack (PostgreSQL, Redis, web, worker, beat)…")
            local = stack.enter_context(local_stack(log_dir=log_dir))
            url, stack_cpu = local.url, local.cpu_seconds
            web_pid = local.processes["web"].pid
        if idle is not None:
            progress(f"holding {idle} idle connections on {url}…")
            held = hold_idle(url, connections=idle, web_pid=web_pid)
            progress(
                f"held {held['opened']}/{idle}, {held['still_open_after_idle']} still "
                f"open after {held['idle_s']} s idle, "
                f"{held['memory_per_connection_kb']} KiB per connection"
            )
            return {"url": url, "idle": held, "cpu_count": os.cpu_count()}
        progress(f"warming up on {url}…")
        # Replies owed from before this run (an earlier run's backlog) would be
        # answered during this one's phases: they go first.
        drain(timeout=300.0)
        warm = warm_up(url, timeout=max(reply_timeout, 300.0))

        def measure(path: str, n: int) -> dict[str, Any]:
            load = Load(
                customers=n,
                seconds=seconds,
                interval=interval,
                reply_timeout=reply_timeout,
            )
            phase = run_phase(
                url=str(url),
                path=path,
                load=load,
                seed=seed,
                count_stored=path == "ws/chat",
                stack_cpu=stack_cpu,
            )
            progress(
                f"{phase['path']} N={n}: sent {phase['sent']}, replied "
                f"{phase['replied']}, errors {phase['errors']}, reply p50/p95 "
                f"{phase['reply_ms']['p50']}/{phase['reply_ms']['p95']} ms, ack p95 "
                f"{phase['ack_ms']['p95']} ms, {phase['replies_per_s']} replies/s"
            )
            return phase

        result: dict[str, Any] = {
            "url": url,
            "started_stack": stack_cpu is not None,
            "warm_up_s": round(warm, 2),
            "cpu_count": os.cpu_count(),
        }
        if ramp_steps is not None:
            result["ramp"] = ramp(
                lambda n: measure("ws/chat", n), start=customers, steps=ramp_steps
            )
        else:
            bot = measure("ws/chat", customers)
            result["bot"] = bot
            if echo:
                baseline = measure("ws/echo", customers)
                result["echo"] = baseline
                result["ratios"] = compare(bot, baseline)
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
    return result
