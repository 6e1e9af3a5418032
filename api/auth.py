"""Who calls: an API key in ``Authorization: Bearer <key>``, its scope, its rate.

Each router is guarded by ``ApiKeyAuth(scope)``. A request is refused, in this
order, without a key (``auth.missing``), with a key that is not ours
(``auth.invalid``), revoked or expired, over the key's rate (``rate.limited``), and
outside the key's scopes (``scope.forbidden``).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from api.errors import ApiError
from api.models import KEY_PREFIX, ApiKey
from chatbot.consumers import REDIS_ERRORS, local_count

MAX_KEY_LENGTH = 200


class ApiKeyAuth(HttpBearer):
    """An API key with ``scope``; the key's row becomes ``request.auth``."""

    def __init__(self, scope: ApiKey.Scope) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> ApiKey:
        header = request.headers.get(self.header, "")
        if not header.strip():
            raise ApiError(
                "auth.missing", "Send the API key: Authorization: Bearer <key>"
            )
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != self.openapi_scheme or not token.strip():
            raise ApiError(
                "auth.invalid", "Send the API key as: Authorization: Bearer <key>"
            )
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey:
        key = key_for(token)
        now = timezone.now()
        refusal = key.refusal(now=now)
        if refusal == "auth.revoked":
            raise ApiError("auth.revoked", "This API key was revoked")
        if refusal == "auth.expired":
            raise ApiError("auth.expired", "This API key has expired")
        rate_limit(key)
        key.touch(now=now)
        if not key.allows(self.scope):
            raise ApiError(
                "scope.forbidden",
                f"This API key lacks the {self.scope.value!r} scope",
                details={"required_scope": self.scope.value},
            )
        return key


def key_for(token: str) -> ApiKey:
    """The key ``token`` is, or ``auth.invalid``."""
    prefix = ApiKey.prefix_of(token) if len(token) <= MAX_KEY_LENGTH else None
    key = ApiKey.objects.filter(prefix=prefix).first() if prefix else None
    if key is None or not key.matches(token):
        raise ApiError(
            "auth.invalid", f"Not a valid API key (ours start with {KEY_PREFIX!r})"
        )
    return key


def rate_limit(key: ApiKey) -> None:
    """A fixed window per key in the shared cache, as the chat's limits count
    (``chatbot.consumers``): every server sees one count, and while Redis is away
    this process counts alone rather than not at all."""
    limit, window = settings.API_RATE_LIMIT
    now = time.time()
    name = f"throttle:api:{key.pk}:{int(now // window)}"
    try:
        cache.add(name, 0, timeout=window + 1)
        count = int(cache.incr(name))
    except REDIS_ERRORS:
        count = local_count(name, now=now, window=window)
    if count > limit:
        retry_after = max(1, int(window - now % window) + 1)
        raise ApiError(
            "rate.limited",
            f"At most {limit} requests per {window} s with one key",
            details={"limit": limit, "window_seconds": window},
            headers={"Retry-After": str(retry_after)},
        )
