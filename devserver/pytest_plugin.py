"""Pytest plugin (loaded with ``-p devserver.pytest_plugin``): real servers for tests.

Runs before pytest-django reads the settings: when ``DATABASE_URL`` / ``REDIS_URL``
are unset it starts a throw-away PostgreSQL and Redis on free ports, points the
environment at them, and stops them when the session ends.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest

_stack = contextlib.ExitStack()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: Any) -> None:
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdefghijkl")
    os.environ["CONCIERGE_DEVSERVER"] = "test"
    # One connection per request, as Django's default: a connection kept open on
    # a thread Channels reuses would outlive the test that opened it, and the next
    # test (maybe one without database access) would be blamed for closing it.
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
    # Only when the servers are needed: a run with both URLs set imports nothing.
    from devserver.embedded import servers_in_environment

    _stack.enter_context(servers_in_environment(temporary=True))


def pytest_unconfigure(config: Any) -> None:
    _stack.close()
