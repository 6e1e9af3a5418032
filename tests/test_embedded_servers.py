"""The embedded PostgreSQL and Redis start, serve, and stop cleanly."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys

import psycopg
import pytest
import redis

from devserver import embedded
from devserver.processes import free_port
from tests.live import development_env

pytestmark = pytest.mark.timeout(120)


def test_it_starts_real_postgres_with_pgvector_and_real_redis_then_stops_both():
    with embedded.embedded_servers(temporary=True) as urls:
        with psycopg.connect(urls["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            distance = conn.execute(
                "SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector"
            ).fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        client = redis.Redis.from_url(urls["REDIS_URL"])
        assert client.ping()
        client.close()

    assert distance == (1.0,)
    assert version is not None and version[0].startswith("18")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(urls["DATABASE_URL"], connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(urls["REDIS_URL"]).ping()


def test_it_takes_a_free_port_and_says_so_when_the_preferred_one_is_in_use(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = embedded.choose_port(taken, service="Redis")

    assert port != taken
    assert f"Redis: port {taken} is in use, using free port {port}" in (
        capsys.readouterr().err
    )


def test_it_names_the_port_when_a_fixed_one_is_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(embedded.StartError, match=f"port {taken} .* in use"):
            embedded.choose_port(taken, service="PostgreSQL", strict=True)


def test_it_refuses_a_second_server_on_the_same_data(tmp_path):
    first = embedded.EmbeddedPostgres(tmp_path / "pg", free_port())
    first.start()
    try:
        second = embedded.EmbeddedPostgres(tmp_path / "pg", free_port())
        with pytest.raises(embedded.StartError, match="already running"):
            second.start()
    finally:
        first.stop()
    assert first.process is None


def manage_shell(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_starts_and_stops_the_servers_itself_in_development(tmp_path):
    result = manage_shell(
        "from django.db import connection; connection.ensure_connection();"
        "print('connected', connection.settings_dict['NAME'])",
        development_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "connected concierge" in result.stdout
    assert "PostgreSQL on 127.0.0.1:" in result.stderr
    assert "PostgreSQL and Redis stopped" in result.stderr


def test_manage_py_reuses_the_servers_of_a_running_make_run(tmp_path, monkeypatch):
    env = development_env(tmp_path)
    for key in ("CONCIERGE_DATA_DIR", "CONCIERGE_PG_PORT", "CONCIERGE_REDIS_PORT"):
        monkeypatch.setenv(key, env[key])
    with embedded.embedded_servers() as urls:  # what `make run` starts
        result = manage_shell(
            "from django.conf import settings; print(settings.DATABASE_URL)", env
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == urls["DATABASE_URL"]
    assert "PostgreSQL on 127.0.0.1:" not in result.stderr


def manage_py_with_servers_up(env: dict[str, str]) -> subprocess.Popen[str]:
    """A ``manage.py`` that idles once it has started its PostgreSQL and Redis."""
    command = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", "import time; time.sleep(120)"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stderr is not None
    for line in command.stderr:  # wait until both servers are up
        if "PostgreSQL on 127.0.0.1:" in line:
            return command
    raise AssertionError(f"manage.py ended before its servers were up: {line}")


def test_a_terminated_manage_py_stops_the_servers_it_started(tmp_path):
    import psutil

    env = development_env(tmp_path)
    command = manage_py_with_servers_up(env)
    children = psutil.Process(command.pid).children(recursive=True)
    assert {"postgres", "redis-server"} <= {p.name() for p in children}
    command.terminate()
    command.wait(60)
    psutil.wait_procs(children, timeout=30)
    assert not [p for p in children if p.is_running() and p.status() != "zombie"]


def test_a_killed_manage_py_leaves_nothing_that_stops_the_next_start(tmp_path):
    import psutil

    env = development_env(tmp_path)
    command = manage_py_with_servers_up(env)
    owner = psutil.Process(command.pid)
    started = {p.name(): p.pid for p in owner.children()}  # the two servers
    servers = owner.children(recursive=True)  # with PostgreSQL's own children
    command.kill()  # no chance to stop anything
    command.wait(60)
    assert command.stderr is not None
    command.stderr.close()
    try:
        assert {p.name() for p in servers if p.is_running()} == {
            "postgres",
            "redis-server",
        }

        result = manage_shell(
            "from django.db import connection; connection.ensure_connection();"
            "print('connected', connection.settings_dict['NAME'])",
            env,
        )

        assert result.returncode == 0, result.stderr
        assert "connected concierge" in result.stdout
        said = [line for line in result.stderr.splitlines() if "left running" in line]
        assert said == [
            f"[devserver] stopped PostgreSQL (pid {started['postgres']}) and Redis "
            f"(pid {started['redis-server']}), left running by a process that is "
            f"gone (pid {command.pid})"
        ]
        psutil.wait_procs(servers, timeout=30)
        assert not [p for p in servers if p.is_running() and p.status() != "zombie"]
    finally:
        for server in servers:  # whatever this test's failure left behind
            with contextlib.suppress(psutil.Error):
                server.kill()


def test_a_second_live_owner_is_still_refused(tmp_path, monkeypatch):
    env = development_env(tmp_path)
    for key in ("CONCIERGE_DATA_DIR", "CONCIERGE_PG_PORT", "CONCIERGE_REDIS_PORT"):
        monkeypatch.setenv(key, env[key])
    second_make_run = (
        "from devserver.embedded import embedded_servers\n"
        "with embedded_servers():\n"
        "    pass\n"
    )
    with embedded.embedded_servers() as urls:  # a running `make run`
        result = subprocess.run(
            [sys.executable, "-c", second_make_run],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # The first owner's servers and its record are untouched.
        assert embedded.running_dev_urls() == urls
        with psycopg.connect(urls["DATABASE_URL"], autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

    assert result.returncode != 0
    assert "belong to a running process" in result.stderr
    assert "is another `make run` active?" in result.stderr
