"""``/healthz`` and ``/readyz``, answered before any other middleware.

Why a middleware first in MIDDLEWARE rather than two routes in ``config/urls.py``:
a container healthcheck or a load balancer probes the process by its own address
(``Host: 127.0.0.1:8000``, a pod IP), which is not in ALLOWED_HOSTS, over plain
HTTP, which SECURE_SSL_REDIRECT would redirect; CommonMiddleware would answer 400
and SecurityMiddleware 301 before a view ran. Skipping both is safe here: these
responses build no URL from the Host header and carry nothing but check states.
Only GET and HEAD are answered; any other method falls through to the site, which
has no such page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from ops import health

PATHS = {"/healthz", "/readyz"}


def probe_response(path: str) -> JsonResponse:
    """The answer to a probe of ``path`` (one of ``PATHS``)."""
    if path == "/healthz":
        # The process is alive and serving requests: no database, no Redis.
        response = JsonResponse({"status": "ok"})
    else:
        ready, checks = health.readiness()
        response = JsonResponse(
            {"status": "ok" if ready else "failing", "checks": checks},
            status=200 if ready else 503,
        )
    response["Cache-Control"] = "no-store"
    return response


def is_probe(request: HttpRequest) -> bool:
    return request.path in PATHS and request.method in ("GET", "HEAD")


class ProbeMiddleware:
    # Both, so that under ASGI the rest of the stack is not pushed into a thread.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        if is_probe(request):
            return probe_response(request.path)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if is_probe(request):
            return await sync_to_async(probe_response)(request.path)
        response: Awaitable[HttpResponse] = self.get_response(request)
        return await response
