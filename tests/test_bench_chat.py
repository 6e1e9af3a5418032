"""``bench_chat`` on tiny settings, and the echo socket it measures against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command

from benchmarks.chat import hold_idle, holds, ramp
from config.asgi import application
from tests.live import Process, child_env, start_web, web_process

ORIGIN = (b"origin", b"http://testserver")


async def echo_socket(origin: tuple[bytes, bytes] = ORIGIN) -> tuple[bool, Any]:
    ws = WebsocketCommunicator(application, "/ws/echo/", headers=[origin])
    connected, _ = await ws.connect()
    return connected, ws


async def test_the_echo_socket_is_closed_unless_a_benchmark_turns_it_on():
    connected, _ = await echo_socket()
    assert not connected


async def test_the_echo_socket_answers_like_the_chat_with_no_bot(settings):
    settings.BENCH_ECHO = True
    connected, ws = await echo_socket()
    assert connected
    await ws.send_json_to({"type": "hello", "token": None})
    assert (await ws.receive_json_from())["type"] == "session"
    assert (await ws.receive_json_from()) == {"type": "status", "status": "bot"}
    await ws.send_json_to({"type": "message", "client_msg_id": "m-1", "text": "hi"})
    assert await ws.receive_json_from() == {
        "type": "ack",
        "client_msg_id": "m-1",
        "seq": 1,
    }
    reply = await ws.receive_json_from()
    assert (reply["type"], reply["sender"], reply["text"]) == ("message", "bot", "hi")
    await ws.disconnect()


async def test_the_echo_socket_checks_the_origin_like_the_chat(settings):
    settings.BENCH_ECHO = True
    connected, _ = await echo_socket((b"origin", b"https://evil.example"))
    assert not connected


def phase(*, p95: float, errors: int = 0, lost: int = 0) -> dict[str, Any]:
    return {
        "reply_ms": {"p95": p95},
        "errors": errors,
        "lost": lost,
        "unanswered": 0,
    }


def test_the_ramp_finds_the_largest_n_that_holds_p95_under_two_seconds():
    measured: list[int] = []

    def measure(n: int) -> dict[str, Any]:
        measured.append(n)
        return phase(p95=500 if n <= 13 else 2500)

    found = ramp(measure, start=1, steps=5)
    assert found["max_customers_p95_under_2s"] == 13
    assert measured[:5] == [1, 2, 4, 8, 16]
    assert found["first_failing"] == 14


def test_a_phase_with_an_error_or_a_lost_message_does_not_hold():
    assert holds(phase(p95=100))
    assert not holds(phase(p95=100, errors=1))
    assert not holds(phase(p95=100, lost=1))
    assert not holds(phase(p95=2000))


@pytest.fixture
def bench_web(live_stack, tmp_path) -> Iterator[int]:
    """A web server with the echo socket on, the load generator exempt from the
    rate limits, beside the live stack's worker."""
    web: Process
    web, port = web_process(tmp_path)
    start_web(
        web, port, child_env() | {"BENCH_ECHO": "1", "RATE_LIMIT_EXEMPT": "127.0.0.1"}
    )
    yield port
    web.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_measures_the_bot_and_the_echo_with_figures_that_add_up(
    active_intent_model, bench_web, tmp_path
):
    out = tmp_path / "results" / "chat.json"
    call_command(
        "bench_chat",
        url=f"http://127.0.0.1:{bench_web}",
        customers=2,
        seconds=3,
        interval=1,
        json=str(out),
        verbosity=0,
    )
    result = json.loads(out.read_text())
    bot, echo = result["bot"], result["echo"]

    assert bot["path"] == "/ws/chat/" and echo["path"] == "/ws/echo/"
    assert bot["customers"] == echo["customers"] == 2
    assert bot["sent"] >= 2  # each customer writes at least once
    assert bot["errors"] == 0
    assert bot["replied"] <= bot["acked"] <= bot["sent"]
    assert bot["lost"] == bot["sent"] - bot["stored"] == 0
    assert bot["replied"] <= bot["replies_stored"] <= bot["stored"]
    assert bot["replied"] + bot["unanswered"] + bot["handed_over"] >= bot["sent"] - 2
    for figures in (bot, echo):
        for kind in ("ack_ms", "reply_ms"):
            p = figures[kind]
            assert 0 < p["p50"] <= p["p95"] <= p["p99"]
        assert figures["replies_per_s"] > 0
        assert figures["load_generator_cpu_s"] >= 0
        assert 0 <= figures["load_generator_cpu_share"] <= 2
    assert echo["sent"] == echo["acked"] == echo["replied"]
    assert "lost" not in echo  # nothing is stored: nothing to count
    assert result["ratios"]["reply_p50_over_echo"] == pytest.approx(
        bot["reply_ms"]["p50"] / echo["reply_ms"]["p50"], abs=0.01
    )
    assert result["warm_up_s"] > 0


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_it_holds_idle_connections_and_reports_memory_per_connection(tmp_path):
    web, port = web_process(tmp_path)
    start_web(web, port, child_env() | {"RATE_LIMIT_EXEMPT": "127.0.0.1"})
    try:
        assert web.process is not None
        held = hold_idle(
            f"http://127.0.0.1:{port}",
            connections=6,
            web_pid=web.process.pid,
            settle=0.5,
        )
    finally:
        web.stop()

    assert held["opened"] == held["still_open_after_idle"] == 6
    assert held["open_errors"] == {}
    assert held["web_rss_after_mb"] > 0 and held["web_rss_before_mb"] > 0
    per = held["memory_per_connection_kb"]
    assert per == pytest.approx(
        (held["web_rss_after_mb"] - held["web_rss_before_mb"]) * 1024 / 6, abs=20
    )


def test_it_refuses_a_number_of_idle_connections_below_one(tmp_path):
    with pytest.raises(CommandError, match="--idle"):
        call_command("bench_chat", idle=0, json=str(tmp_path / "x.json"))
