"""The API's errors: every one a JSON body with a stable code (docs/api.md lists them).

``{"error": {"code": "auth.invalid", "message": "…", "details": …}}`` — ``code`` is
for programs and never changes meaning; ``message`` is for people and may change.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import wraps
from typing import TYPE_CHECKING, Any

import redis.exceptions
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ninja import NinjaAPI

    from recommender.imports.rows import ImportFailed

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
UNAVAILABLE_RETRY_AFTER = 5

# code → (HTTP status, what it means); docs/api.md shows this table.
CODES: dict[str, tuple[int, str]] = {
    "auth.missing": (401, "No API key: send `Authorization: Bearer <key>`."),
    "auth.invalid": (401, "The key is not one of ours (mistyped, or deleted)."),
    "auth.revoked": (401, "The key was revoked in the admin."),
    "auth.expired": (401, "The key is past its expiry date."),
    "scope.forbidden": (403, "The key lacks the scope this endpoint needs."),
    "rate.limited": (429, "Too many requests with this key; wait `Retry-After`."),
    "validation.failed": (422, "The request's body or parameters are invalid."),
    "request.too_large": (413, "The body is larger than the server takes."),
    "import.bad_rows": (
        422,
        "The file has bad rows (each in `details`); nothing was imported.",
    ),
    "not_found": (404, "No such object, or no such endpoint."),
    "method.not_allowed": (405, "The endpoint exists, but not with this method."),
    "unavailable": (503, "Briefly unavailable (database or Redis); retry later."),
    "server.error": (500, "A bug on our side; it is logged."),
}


class ApiError(Exception):
    """An error answered with its code's status and a JSON body."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in CODES:  # pragma: no cover - a bug
            raise ValueError(f"unknown API error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return CODES[self.code][0]


def bad_rows(failed: ImportFailed) -> ApiError:
    """An import refused for its bad rows, each with its line and column."""
    return ApiError(
        "import.bad_rows",
        f"{len(failed.errors)} bad rows; nothing was imported (or send skip_bad).",
        details=[asdict(error) for error in failed.errors],
    )


def error_response(error: ApiError) -> HttpResponse:
    response = JsonResponse(
        {
            "error": {
                "code": error.code,
                "message": error.message,
                "details": error.details,
            }
        },
        status=error.status,
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


def install(api: NinjaAPI) -> None:
    """Answer every exception an operation (or its auth) raises with our body."""

    def api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(exc)

    def validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        details = [
            {
                "loc": list(error.get("loc", ())),
                "msg": error.get("msg", ""),
                "type": error.get("type", ""),
            }
            for error in exc.errors
        ]
        return error_response(
            ApiError("validation.failed", "The request is invalid", details=details)
        )

    def authentication_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(
            ApiError("auth.missing", "Send the API key: Authorization: Bearer <key>")
        )

    def not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ApiError("not_found", str(exc) or "Not found"))

    def http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        # Ninja's own (e.g. a body that is not JSON at all): ours by status.
        code = {
            404: "not_found",
            405: "method.not_allowed",
            429: "rate.limited",
        }.get(exc.status_code, "validation.failed")
        return error_response(ApiError(code, str(exc)))

    def too_large(request: HttpRequest, exc: Any) -> HttpResponse:
        # Over DATA_UPLOAD_MAX_MEMORY_SIZE: the client's doing, not a bug of ours.
        return error_response(
            ApiError(
                "request.too_large",
                f"The body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes: send "
                "fewer rows a request (or import the file with manage.py).",
            )
        )

    def server_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc, TRANSIENT_ERRORS):
            logger.warning("API request met %s: %s", type(exc).__name__, exc)
            return error_response(
                ApiError(
                    "unavailable",
                    "Briefly unavailable; retry later",
                    headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
                )
            )
        logger.exception("API request %s %s failed", request.method, request.path)
        return error_response(ApiError("server.error", "Server error; it is logged"))

    api.add_exception_handler(Exception, server_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(AuthenticationError, authentication_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(RequestDataTooBig, too_large)


def json_method_errors(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Ninja answers a wrong method with a bare 405 of its own (outside the
    exception handlers): give it our JSON body too."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get(
            "Content-Type", ""
        ):
            error = error_response(
                ApiError(
                    "method.not_allowed",
                    f"{request.method} is not allowed here",
                    details={"allowed": response.get("Allow", "").split(", ")},
                )
            )
            error["Allow"] = response.get("Allow", "")
            return error
        return response

    return wrapped
