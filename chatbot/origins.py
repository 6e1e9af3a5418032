"""The origin check in front of every websocket.

A browser sends the page's origin (scheme, host and port) with every websocket
handshake, and the session cookie of our host whatever page opens the socket. So
an origin is compared whole: ``http://chat.example`` is not
``https://chat.example``, nor ``https://chat.example:8443``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

Origin = tuple[str, str, int]
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of an origin such as ``https://shop.example``, with
    the scheme's default port filled in; ``None`` for anything else (``null``)."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin1")
    return ""


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # as Django's own Host check in development
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin of our own pages on the host this socket was opened to.

    The scheme is the socket's (``wss`` is ``https``; uvicorn sets it from a trusted
    proxy's X-Forwarded-Proto), host and port are the Host header's, which must be
    one of ALLOWED_HOSTS. Without a Host header (in-process ASGI tests: every
    HTTP/1.1 client sends one) it is the allowed host of the origin on the
    scheme's default port.
    """
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    host_header = _header(scope, b"host").lower()
    if not host_header:
        origin = parse_origin(_header(scope, b"origin"))
        if origin is None or not validate_host(origin[1], _allowed_hosts()):
            return None
        return scheme, origin[1], DEFAULT_PORTS[scheme]
    domain, port = split_domain_port(host_header)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    if not port:
        return scheme, domain, DEFAULT_PORTS[scheme]
    if not port.isdigit():
        return None
    return scheme, domain, int(port)


def is_own_origin(scope: dict[str, Any]) -> bool:
    """Whether the socket was opened by a page of this site itself: the origin is
    our own (``own_origin``) or one of CSRF_TRUSTED_ORIGINS, compared whole, as
    Django compares the Origin of a form post."""
    origin = parse_origin(_header(scope, b"origin"))
    if origin is None:
        return False
    if origin == own_origin(scope):
        return True
    return origin in {parse_origin(o) for o in settings.CSRF_TRUSTED_ORIGINS}


def is_allowed_origin(scope: dict[str, Any]) -> bool:
    """Our own pages, or a shop in WIDGET_ALLOWED_ORIGINS (compared whole)."""
    if is_own_origin(scope):
        return True
    origin = parse_origin(_header(scope, b"origin"))
    return origin is not None and origin in {
        parse_origin(o) for o in settings.WIDGET_ALLOWED_ORIGINS
    }


class WebsocketOriginValidator:
    """Accept a websocket only from the site's own pages or the widget's shops.

    Settings are read on each connection, not at import, so tests can override
    them.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not is_allowed_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
