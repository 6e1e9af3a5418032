from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path

from api import errors, views


def _with_json_method_errors(
    patterns: list[URLPattern | URLResolver],
) -> list[URLPattern | URLResolver]:
    wrapped: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = errors.json_method_errors(pattern.callback)
        wrapped.append(pattern)
    return wrapped


v1_patterns, v1_app_name, v1_namespace = views.api.urls
urlpatterns = [
    path(
        "v1/",
        (_with_json_method_errors(list(v1_patterns)), v1_app_name, v1_namespace),
    ),
    re_path(r"^v1/(?P<path>.*)$", views.not_found),
    path("docs", views.docs, name="api-docs"),
]
