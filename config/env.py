"""Tiny helpers that read settings from the environment.

Each raises ``EnvError`` with one line naming the variable and what is wrong, so a
malformed value stops start-up with a message an operator can act on.
"""

from __future__ import annotations

import ipaddress
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


def env_hosts(name: str, default: list[str], *, wildcard: bool) -> list[str]:
    """A comma-separated list of host names, as Django's ``ALLOWED_HOSTS``.

    ``*`` (any host) is refused unless ``wildcard``: with it, any name pointed at
    the server is "our own site", which a rebinding DNS name turns into a page
    that may open our websockets. A leading dot (``.shop.example``) stays allowed:
    it names the subdomains of one domain the operator holds.
    """
    hosts = env_list(name, default)
    for host in hosts:
        if "*" in host and not wildcard:
            raise EnvError(
                f"{name}: {host!r} matches any host; list the site's host names "
                f"(wildcards are refused when DEBUG is off)"
            )
    return hosts


def env_origins(
    name: str, default: list[str] | None = None, *, wildcard: bool = False
) -> list[str]:
    """A comma-separated list of origins such as ``https://shop.example``.

    An origin with ``*`` (``https://*.shop.example``) is refused unless
    ``wildcard``: each site that may act on ours is named.
    """
    origins = env_list(name, default)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise EnvError(
                f"{name}: {origin!r} is not an origin like https://shop.example"
            )
        if "*" in parts.netloc and not wildcard:
            raise EnvError(
                f"{name}: {origin!r} is a wildcard; list each origin like "
                f"https://shop.example (wildcards are refused when DEBUG is off)"
            )
    return origins


def env_header(name: str) -> str | None:
    """An HTTP header name (``X-Forwarded-Proto``) as Django's ``META`` key
    (``HTTP_X_FORWARDED_PROTO``); ``None`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", raw):
        raise EnvError(
            f"{name}: expected a header name like X-Forwarded-Proto, got {raw!r}"
        )
    return "HTTP_" + raw.upper().replace("-", "_")


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


def env_networks(
    name: str,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of addresses or CIDR blocks (``10.0.0.0/8, ::1``)."""
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise EnvError(
                f"{name}: {item!r} is not an address or a CIDR block like 10.0.0.0/8"
            ) from None
    return networks
