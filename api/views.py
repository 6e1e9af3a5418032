"""The shop API (``/api/v1/``), its OpenAPI schema and its interactive docs.

django-ninja: the schemas are pydantic models, the OpenAPI document is generated
from the code (so it cannot drift from it), and the Swagger UI is served from the
package's own static files (``ninja`` is an installed app), never from a CDN, so
the page passes our Content-Security-Policy.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.openapi.views import openapi_view
from ninja.operation import Operation

from api import errors
from api.routers import catalog, conversations, knowledge, orders

DESCRIPTION = """\
Connect your shop: push products, orders, help-centre articles and intents; read
conversations; record what shoppers do. Every request carries an API key (created
in the admin, under *Shop connection → API keys*) as `Authorization: Bearer <key>`,
and each key has scopes. Every error is a JSON body
`{"error": {"code": "...", "message": "...", "details": ...}}` with a stable `code`:
see docs/api.md.
"""


class ShopAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # The view's name (products_upsert), not ninja's module-path default.
        return operation.view_func.__name__


api = ShopAPI(
    title="Concierge shop API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    # The docs live at /api/docs (see api/urls.py), beside the versions.
    docs_url=None,
)
errors.install(api)
api.add_router("", catalog.router)
api.add_router("", orders.router)
api.add_router("", knowledge.router)
api.add_router("", conversations.router)


def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI for the current version."""
    return openapi_view(request, api)


def not_found(request: HttpRequest, path: str) -> HttpResponse:
    """A path under /api/v1/ that no endpoint has: the API's JSON 404."""
    return errors.error_response(
        errors.ApiError("not_found", f"No endpoint {request.path}")
    )
