"""Tiny helpers that read settings from the environment.

Each raises ``EnvError`` with one line naming the variable and what is wrong, so a
malformed value stops start-up with a message an operator can act on.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}


class EnvError(ImproperlyConfigured):
    """A setting from the environment is missing or malformed."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise EnvError(
        f"{name}: expected one of 1/0, true/false, yes/no, on/off, got {raw!r}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EnvError(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise EnvError(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_origins(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list of origins such as ``https://shop.example``."""
    origins = env_list(name, default)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise EnvError(
                f"{name}: {origin!r} is not an origin like https://shop.example"
            )
    return origins


def env_url(name: str, *, schemes: tuple[str, ...], required: bool) -> str | None:
    """A URL with one of ``schemes``; ``None`` when unset and not required."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        if required:
            raise EnvError(
                f"{name}: required when DEBUG is off (e.g. {schemes[0]}://…)"
            )
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        wanted = ", ".join(f"{s}://" for s in schemes)
        raise EnvError(
            f"{name}: the scheme must be one of {wanted}, got {_redact(raw)!r}"
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise EnvError(f"{name}: no host in {_redact(raw)!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise EnvError(
            f"{name}: the port is not a number in {_redact(raw)!r}"
        ) from None
    return raw


def _redact(url: str) -> str:
    """Hide a password so that an error message never leaks it."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
