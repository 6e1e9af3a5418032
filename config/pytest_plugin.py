"""Pytest plugin (loaded with ``-p config.pytest_plugin``): real services for tests.

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
    os.environ["CONCIERGE_SERVICES"] = "test"
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    from config.services import embedded_services

    urls = _stack.enter_context(embedded_services(temporary=True))
    for key, value in urls.items():
        os.environ.setdefault(key, value)


def pytest_unconfigure(config: Any) -> None:
    _stack.close()
