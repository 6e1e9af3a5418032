"""`make run`'s runner serves the shop and the admin; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from devserver.processes import free_port
from tests.live import development_env

BASE_DIR = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_it_serves_the_shop_and_the_admin_and_ctrl_c_stops_every_process(tmp_path):
    port = free_port()
    env = development_env(
        tmp_path / "data", PORT=str(port), CONCIERGE_SKIP_TRAINING="1"
    )
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "devserver.run"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while "Concierge is running" not in log.read_text(errors="replace"):
            assert runner.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        output = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in output
        assert "Demo admin login: admin / " in output

        home = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        admin = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/admin/login/", timeout=10
        )
        assert home.status == 200
        assert b"widget.js" in home.read()
        assert admin.status == 200

        started = psutil.Process(runner.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        for expected in ("postgres", "redis-server", "uvicorn", "worker", "beat"):
            assert expected in names
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(60)

    assert runner.returncode == 0, log.read_text(errors="replace")
    assert not [p for p in started if p.is_running() and p.status() != "zombie"]
