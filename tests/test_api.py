"""The shop API (/api/v1/): keys, scopes, rate limits, errors, and every endpoint."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from api.models import ApiKey
from api.views import api
from chatbot.models import Article, Conversation, Message, Order
from classifier.models import Intent, TrainingExample
from recommender.models import Interaction, Product
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    IntentFactory,
    MessageFactory,
    OrderFactory,
    ProductFactory,
    TrainingExampleFactory,
    api_key,
)

pytestmark = pytest.mark.django_db

ALL_SCOPES = [scope.value for scope in ApiKey.Scope]

# Every endpoint, with the scope it needs and a valid body (or None for a GET). The
# schema test below fails when the API gains an endpoint this table lacks, and so
# every endpoint passes through the authentication and scope tests.
ENDPOINTS: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("PUT", "/api/v1/products"): (
        "catalog",
        {"products": [{"sku": "TEE-1", "name": "Tee", "category": "Tops", "price": 9}]},
    ),
    ("POST", "/api/v1/products/import"): (
        "catalog",
        {
            "format": "shopify",
            "csv": "Handle,Title,Type,Variant Price\ntee,Tee,Tops,9.00\n",
        },
    ),
    ("POST", "/api/v1/products/delete"): ("catalog", {"skus": ["TEE-1"]}),
    ("POST", "/api/v1/events"): (
        "catalog",
        {"events": [{"kind": "view", "sku": "TEE-1", "conversation": "nope"}]},
    ),
    ("PUT", "/api/v1/orders"): (
        "orders",
        {
            "orders": [
                {
                    "number": "#1001",
                    "email": "alice@example.com",
                    "status": "placed",
                    "placed_at": "2026-05-01T09:30:00Z",
                }
            ]
        },
    ),
    ("POST", "/api/v1/orders/import"): (
        "orders",
        {
            "csv": "number,email,status,placed_at,item_name\n"
            "#1001,alice@example.com,placed,2026-05-01T09:30:00Z,Tee\n"
        },
    ),
    ("POST", "/api/v1/orders/delete"): ("orders", {"numbers": ["#1001"]}),
    ("PUT", "/api/v1/articles"): (
        "knowledge",
        {"articles": [{"slug": "returns", "title": "Returns", "body": "30 days."}]},
    ),
    ("POST", "/api/v1/articles/delete"): ("knowledge", {"slugs": ["returns"]}),
    ("PUT", "/api/v1/intents"): (
        "knowledge",
        {"intents": [{"name": "gift_wrap", "examples": ["can u gift wrap it"]}]},
    ),
    ("POST", "/api/v1/intents/delete"): ("knowledge", {"names": ["gift_wrap"]}),
    ("GET", "/api/v1/conversations"): ("conversations:read", None),
    ("GET", "/api/v1/conversations/{conversation_id}"): ("conversations:read", None),
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): (
        "conversations:read",
        None,
    ),
}


def call(
    client: Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    **headers: str,
) -> Any:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body) if body is not None else None
    return client.generic(
        method, path, data or "", content_type="application/json", headers=headers
    )


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


@pytest.fixture(autouse=True)
def plain_http(settings: Any) -> None:
    """The test client speaks http; production redirects it to https first."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def full_key() -> str:
    return api_key(scopes=ALL_SCOPES)


# --- The schema -------------------------------------------------------------------


def test_it_lists_exactly_the_routers_endpoints_in_the_openapi_schema(client):
    schema = client.get("/api/v1/openapi.json").json()
    in_schema = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    in_routers = {
        (method, f"/api/v1{prefix}{path}".replace("//", "/").rstrip("/"))
        for prefix, router in api._routers
        for path, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
    }
    assert in_schema == in_routers
    assert in_schema == set(ENDPOINTS)
    # Every endpoint names the key it needs, and its error bodies.
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"ApiKeyAuth": []}]
            assert {"401", "403", "422", "429"} <= set(operation["responses"])


def test_it_serves_the_interactive_docs_from_our_own_static_files(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "/api/v1/openapi.json" in page
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy


# --- Authentication, scopes, rate limits ------------------------------------------


def _path(path: str) -> str:
    conversation = ConversationFactory.create()
    return path.replace("{conversation_id}", conversation.public_id)


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_it_refuses_every_endpoint_without_a_key(client, method, path):
    response = call(client, method, _path(path), ENDPOINTS[method, path][1])
    assert response.status_code == 401
    assert error_code(response) == "auth.missing"


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_it_refuses_every_endpoint_to_a_key_without_its_scope(client, method, path):
    scope, body = ENDPOINTS[method, path]
    others = api_key(scopes=[s for s in ALL_SCOPES if s != scope])
    response = call(client, method, _path(path), body, key=others)
    assert response.status_code == 403
    assert error_code(response) == "scope.forbidden"
    assert response.json()["error"]["details"] == {"required_scope": scope}


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_it_answers_every_endpoint_to_a_key_with_its_scope(client, method, path):
    scope, body = ENDPOINTS[method, path]
    response = call(client, method, _path(path), body, key=api_key(scopes=[scope]))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "header",
    [
        "Bearer ck_0123abcd_not-the-real-secret",
        "Bearer sk_live_somebody_elses_key",
        "Bearer ",
        "Token ck_0123abcd_whatever",
        f"Bearer ck_{'a' * 300}",
    ],
)
def test_it_refuses_a_key_that_is_not_ours(client, full_key, header):
    response = client.get("/api/v1/conversations", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_code(response) == "auth.invalid"


def test_it_refuses_a_real_prefix_with_a_wrong_secret(client, full_key):
    forged = full_key[: len("ck_") + 8] + "_" + "x" * 43
    response = call(client, "GET", "/api/v1/conversations", key=forged)
    assert error_code(response) == "auth.invalid"
    assert call(client, "GET", "/api/v1/conversations", key=full_key).status_code == 200


def test_it_stores_only_a_hash_of_the_key(full_key):
    row = ApiKey.objects.get()
    stored = json.dumps(
        {field.name: str(getattr(row, field.attname)) for field in ApiKey._meta.fields}
    )
    assert full_key not in stored
    assert full_key.split("_", 2)[2] not in stored
    assert row.prefix in full_key


def test_it_refuses_a_revoked_key(client, full_key):
    assert call(client, "GET", "/api/v1/conversations", key=full_key).status_code == 200
    ApiKey.objects.get().revoke(now=timezone.now())
    response = call(client, "GET", "/api/v1/conversations", key=full_key)
    assert response.status_code == 401
    assert error_code(response) == "auth.revoked"


def test_it_refuses_an_expired_key_and_accepts_one_not_yet_expired(client):
    now = timezone.now()
    expired = api_key(scopes=ALL_SCOPES, expires=now - timedelta(minutes=1))
    fresh = api_key(scopes=ALL_SCOPES, expires=now + timedelta(days=1))
    response = call(client, "GET", "/api/v1/conversations", key=expired)
    assert response.status_code == 401
    assert error_code(response) == "auth.expired"
    assert call(client, "GET", "/api/v1/conversations", key=fresh).status_code == 200


def test_it_limits_the_rate_per_key(client, settings):
    settings.API_RATE_LIMIT = (3, 60)
    busy, other = api_key(scopes=ALL_SCOPES), api_key(scopes=ALL_SCOPES)
    for _ in range(3):
        assert call(client, "GET", "/api/v1/conversations", key=busy).status_code == 200
    response = call(client, "GET", "/api/v1/conversations", key=busy)
    assert response.status_code == 429
    assert error_code(response) == "rate.limited"
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["error"]["details"] == {"limit": 3, "window_seconds": 60}
    # Another key of the same shop has its own count.
    assert call(client, "GET", "/api/v1/conversations", key=other).status_code == 200


def test_it_records_when_a_key_was_last_used_at_most_once_a_minute(client, full_key):
    assert ApiKey.objects.get().last_used is None
    call(client, "GET", "/api/v1/conversations", key=full_key)
    first = ApiKey.objects.get().last_used
    assert first is not None
    call(client, "GET", "/api/v1/conversations", key=full_key)
    assert ApiKey.objects.get().last_used == first
    ApiKey.objects.update(last_used=first - timedelta(minutes=2))
    call(client, "GET", "/api/v1/conversations", key=full_key)
    last_used = ApiKey.objects.get().last_used
    assert last_used is not None and last_used > first


def test_it_needs_no_csrf_token_with_a_key(full_key):
    # A key in a header is no ambient credential (unlike a cookie): the CSRF check,
    # which a shop's server could not pass, does not apply.
    strict = Client(enforce_csrf_checks=True)
    row = {"sku": "TEE-1", "name": "Tee", "category": "Tops", "price": 9}
    response = call(
        strict, "PUT", "/api/v1/products", {"products": [row]}, key=full_key
    )
    assert response.status_code == 200
    assert Product.objects.filter(sku="TEE-1").exists()


# --- Errors are JSON with a code ----------------------------------------------------


def test_it_answers_an_unknown_path_and_a_wrong_method_with_json(client, full_key):
    response = call(client, "GET", "/api/v1/refunds", key=full_key)
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    response = call(client, "DELETE", "/api/v1/products", key=full_key)
    assert response.status_code == 405
    assert error_code(response) == "method.not_allowed"
    assert "PUT" in response["Allow"]


def test_it_answers_a_body_that_is_not_json_with_validation_failed(client, full_key):
    response = client.put(
        "/api/v1/products",
        "sku,name\nTEE-1,Tee",
        content_type="application/json",
        headers={"Authorization": f"Bearer {full_key}"},
    )
    assert response.status_code == 422
    assert error_code(response) == "validation.failed"


@pytest.mark.parametrize(
    ("product", "field"),
    [
        ({"name": "Tee", "category": "Tops", "price": 9}, "sku"),
        ({"sku": "T", "name": "Tee", "category": "Tops", "price": -1}, "price"),
        ({"sku": "T", "name": "Tee", "category": "Tops", "price": "9.999"}, "price"),
        (
            {"sku": "T", "name": "Tee", "category": "Tops", "price": 9, "stock": -2},
            "stock",
        ),
        (
            {
                "sku": "T",
                "name": "Tee",
                "category": "Tops",
                "price": 9,
                "colour": "red",
            },
            "colour",
        ),
        ({"sku": "T", "name": "  ", "category": "Tops", "price": 9}, "name"),
        (
            {
                "sku": "T",
                "name": "Tee",
                "category": "Tops",
                "price": 9,
                "currency": "euro",
            },
            "currency",
        ),
    ],
)
def test_it_names_the_field_of_a_validation_error(client, full_key, product, field):
    response = call(
        client, "PUT", "/api/v1/products", {"products": [product]}, key=full_key
    )
    assert response.status_code == 422
    assert error_code(response) == "validation.failed"
    locations = [error["loc"] for error in response.json()["error"]["details"]]
    assert ["body", "body", "products", 0, field] in locations
    assert not Product.objects.exists()


def test_it_writes_nothing_from_a_batch_with_one_bad_row(client, full_key):
    good = {"sku": "TEE-1", "name": "Tee", "category": "Tops", "price": 9}
    bad = {**good, "sku": "TEE-2", "price": "nine"}
    response = call(
        client, "PUT", "/api/v1/products", {"products": [good, bad]}, key=full_key
    )
    assert error_code(response) == "validation.failed"
    assert not Product.objects.exists()


def test_it_refuses_the_same_sku_twice_in_one_batch(client, full_key):
    row = {"sku": "TEE-1", "name": "Tee", "category": "Tops", "price": 9}
    response = call(
        client, "PUT", "/api/v1/products", {"products": [row, row]}, key=full_key
    )
    assert error_code(response) == "validation.failed"
    assert "TEE-1" in response.json()["error"]["details"][0]["msg"]


# --- Catalog ----------------------------------------------------------------------


def test_it_upserts_products_idempotently_by_sku(client, full_key):
    rows = [
        {
            "sku": "TEE-1",
            "name": "Linen tee",
            "category": "Tops",
            "price": "24.50",
            "stock": 3,
            "brand": "Northwind",
        },
        {
            "sku": "CAP-2",
            "name": "Wool cap",
            "category": "Hats",
            "price": 15,
            "currency": "EUR",
        },
    ]
    first = call(client, "PUT", "/api/v1/products", {"products": rows}, key=full_key)
    assert first.json() == {
        "created": ["TEE-1", "CAP-2"],
        "updated": [],
        "unchanged": [],
    }
    tee = Product.objects.get(sku="TEE-1")
    assert (tee.name, tee.price, tee.stock, tee.currency) == (
        "Linen tee",
        Decimal("24.50"),
        3,
        "USD",
    )
    assert Product.objects.get(sku="CAP-2").currency == "EUR"

    again = call(client, "PUT", "/api/v1/products", {"products": rows}, key=full_key)
    assert again.json() == {
        "created": [],
        "updated": [],
        "unchanged": ["TEE-1", "CAP-2"],
    }
    assert Product.objects.get(sku="TEE-1").updated == tee.updated
    assert Product.objects.count() == 2

    rows[0]["stock"] = 0
    changed = call(client, "PUT", "/api/v1/products", {"products": rows}, key=full_key)
    assert changed.json() == {
        "created": [],
        "updated": ["TEE-1"],
        "unchanged": ["CAP-2"],
    }
    assert not Product.objects.get(sku="TEE-1").in_stock


def test_it_embeds_upserted_products_in_the_background(
    client, full_key, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from recommender import tasks

    settings.EMBED_ON_SAVE = True
    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_products, "delay", batches.append)
    rows = [
        {"sku": "TEE-1", "name": "Linen tee", "category": "Tops", "price": 24},
        {"sku": "CAP-2", "name": "Wool cap", "category": "Hats", "price": 15},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        call(client, "PUT", "/api/v1/products", {"products": rows}, key=full_key)
    assert batches == [sorted(Product.objects.values_list("pk", flat=True))]


def test_it_embeds_upserted_articles_in_the_background(
    client, full_key, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from chatbot import tasks

    settings.EMBED_ON_SAVE = True
    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_articles, "delay", batches.append)
    rows = [{"slug": "returns", "title": "Returns", "body": "Within 30 days."}]
    with django_capture_on_commit_callbacks(execute=True):
        call(client, "PUT", "/api/v1/articles", {"articles": rows}, key=full_key)
    assert batches == [[Article.objects.get().pk]]


def test_it_deletes_products_by_sku_idempotently(client, full_key):
    ProductFactory.create(sku="TEE-1")
    ProductFactory.create(sku="CAP-2")
    body = {"skus": ["TEE-1", "GONE-9"]}
    response = call(client, "POST", "/api/v1/products/delete", body, key=full_key)
    assert response.json() == {"deleted": ["TEE-1"], "missing": ["GONE-9"]}
    assert list(Product.objects.values_list("sku", flat=True)) == ["CAP-2"]
    again = call(client, "POST", "/api/v1/products/delete", body, key=full_key)
    assert again.json() == {"deleted": [], "missing": ["TEE-1", "GONE-9"]}


def test_it_records_tracking_events_by_customer_or_conversation(
    client, full_key, alice
):
    ProductFactory.create(sku="TEE-1")
    conversation = ConversationFactory.create(customer=alice)
    someone_else = ConversationFactory.create(
        customer=CustomerFactory.create(name="Charlie")
    )
    events = [
        {"kind": "purchase", "sku": "TEE-1", "customer": str(alice.uuid)},
        {"kind": "add_to_cart", "sku": "TEE-1", "conversation": conversation.public_id},
        {"kind": "view", "sku": "NO-SUCH", "customer": str(alice.uuid)},
        {"kind": "view", "sku": "TEE-1", "conversation": "c_not_there"},
        {
            "kind": "view",
            "sku": "TEE-1",
            "customer": "6f1c1d5e-1111-4c4c-9999-000000000000",
        },
        # A conversation of someone else than the customer named: refused.
        {
            "kind": "view",
            "sku": "TEE-1",
            "customer": str(alice.uuid),
            "conversation": someone_else.public_id,
        },
    ]
    response = call(client, "POST", "/api/v1/events", {"events": events}, key=full_key)
    assert response.json() == {
        "recorded": 2,
        "skipped": [
            {"index": 2, "reason": "unknown_product"},
            {"index": 3, "reason": "unknown_conversation"},
            {"index": 4, "reason": "unknown_customer"},
            {"index": 5, "reason": "unknown_customer"},
        ],
    }
    recorded = Interaction.objects.order_by("pk")
    assert [(i.kind, i.customer_id, i.conversation_id) for i in recorded] == [
        ("purchase", alice.pk, None),
        ("add_to_cart", alice.pk, conversation.pk),
    ]


def test_it_refuses_an_event_that_names_nobody(client, full_key):
    events = [{"kind": "purchase", "sku": "TEE-1"}]
    response = call(client, "POST", "/api/v1/events", {"events": events}, key=full_key)
    assert error_code(response) == "validation.failed"
    response = call(
        client,
        "POST",
        "/api/v1/events",
        {"events": [{"kind": "refund", "sku": "T", "conversation": "c"}]},
        key=full_key,
    )
    assert error_code(response) == "validation.failed"


# --- Orders -----------------------------------------------------------------------


def order_row(**fields: Any) -> dict[str, Any]:
    return {
        "number": "#1001",
        "email": "alice@example.com",
        "customer_name": "Alice",
        "status": "shipped",
        "carrier": "DHL",
        "tracking_number": "JD0142",
        "eta": "2026-05-06",
        "placed_at": "2026-05-01T09:30:00+02:00",
        "total": "54.00",
        "items": [
            {"sku": "TEE-1", "name": "Linen tee", "quantity": 2, "price": "24.50"},
            {"sku": "SOCK-3", "name": "Socks", "price": 5},
        ],
        **fields,
    }


def test_it_upserts_orders_with_their_items_idempotently(client, full_key):
    body = {"orders": [order_row()]}
    first = call(client, "PUT", "/api/v1/orders", body, key=full_key)
    assert first.json() == {"created": ["#1001"], "updated": [], "unchanged": []}
    order = Order.objects.get(number="#1001")
    assert (order.status, order.carrier, order.tracking_number, str(order.eta)) == (
        "shipped",
        "DHL",
        "JD0142",
        "2026-05-06",
    )
    assert order.placed_at.isoformat() == "2026-05-01T07:30:00+00:00"
    assert [(i.sku, i.quantity) for i in order.items.order_by("pk")] == [
        ("TEE-1", 2),
        ("SOCK-3", 1),
    ]
    items_before = list(order.items.values_list("pk", flat=True))

    again = call(client, "PUT", "/api/v1/orders", body, key=full_key)
    assert again.json() == {"created": [], "updated": [], "unchanged": ["#1001"]}
    assert list(order.items.values_list("pk", flat=True)) == items_before

    delivered = order_row(
        status="delivered",
        delivered_at="2026-05-05T15:00:00Z",
        items=[{"sku": "TEE-1", "name": "Linen tee", "quantity": 1, "price": "24.50"}],
    )
    changed = call(
        client, "PUT", "/api/v1/orders", {"orders": [delivered]}, key=full_key
    )
    assert changed.json() == {"created": [], "updated": ["#1001"], "unchanged": []}
    order.refresh_from_db()
    assert order.status == "delivered"
    assert [(i.sku, i.quantity) for i in order.items.all()] == [("TEE-1", 1)]


def test_it_marks_an_order_updated_when_only_its_items_changed(client, full_key):
    call(client, "PUT", "/api/v1/orders", {"orders": [order_row()]}, key=full_key)
    fewer = order_row(items=[])
    response = call(client, "PUT", "/api/v1/orders", {"orders": [fewer]}, key=full_key)
    assert response.json()["updated"] == ["#1001"]
    assert not Order.objects.get().items.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "alice at example"}, "email"),
        ({"status": "lost"}, "status"),
        ({"placed_at": "2026-05-01T09:30:00"}, "placed_at"),
        ({"number": "#" + "1" * 25}, "number"),
        ({"items": [{"sku": "T", "name": "Tee", "price": 1, "quantity": 0}]}, "items"),
    ],
)
def test_it_refuses_an_invalid_order(client, full_key, fields, field):
    response = call(
        client, "PUT", "/api/v1/orders", {"orders": [order_row(**fields)]}, key=full_key
    )
    assert error_code(response) == "validation.failed"
    locations = [error["loc"] for error in response.json()["error"]["details"]]
    assert any(loc[:5] == ["body", "body", "orders", 0, field] for loc in locations)
    assert not Order.objects.exists()


def test_it_deletes_orders_by_number(client, full_key):
    OrderFactory.create(number="#1001")
    body = {"numbers": ["#1001", "#1002"]}
    response = call(client, "POST", "/api/v1/orders/delete", body, key=full_key)
    assert response.json() == {"deleted": ["#1001"], "missing": ["#1002"]}
    assert not Order.objects.exists()


# --- Knowledge --------------------------------------------------------------------


def test_it_upserts_and_deletes_articles_by_slug(client, full_key):
    rows: list[dict[str, Any]] = [
        {
            "slug": "returns",
            "title": "Returns",
            "body": "Within 30 days.",
            "tags": ["returns"],
        },
        {
            "slug": "shipping",
            "title": "Shipping",
            "body": "3 to 5 days.",
            "published": False,
        },
    ]
    first = call(client, "PUT", "/api/v1/articles", {"articles": rows}, key=full_key)
    assert first.json()["created"] == ["returns", "shipping"]
    assert not Article.objects.get(slug="shipping").published
    again = call(client, "PUT", "/api/v1/articles", {"articles": rows}, key=full_key)
    assert again.json()["unchanged"] == ["returns", "shipping"]
    rows[0]["body"] = "Within 60 days."
    changed = call(client, "PUT", "/api/v1/articles", {"articles": rows}, key=full_key)
    assert changed.json()["updated"] == ["returns"]
    assert Article.objects.get(slug="returns").body == "Within 60 days."

    body = {"slugs": ["shipping", "faq"]}
    response = call(client, "POST", "/api/v1/articles/delete", body, key=full_key)
    assert response.json() == {"deleted": ["shipping"], "missing": ["faq"]}
    bad = call(
        client,
        "PUT",
        "/api/v1/articles",
        {"articles": [{**rows[0], "slug": "a b"}]},
        key=full_key,
    )
    assert error_code(bad) == "validation.failed"


def test_it_upserts_intents_and_adds_only_new_examples(client, full_key):
    intent = IntentFactory.create(name="gift_wrap", description="")
    TrainingExampleFactory.create(intent=intent, text="do you gift wrap")
    rows = [
        {
            "name": "gift_wrap",
            "description": "Gift wrapping",
            "examples": ["do you gift wrap", "can u wrap it as a present"],
        },
        {"name": "price_match", "examples": ["u match prices?", "u match prices?"]},
    ]
    first = call(client, "PUT", "/api/v1/intents", {"intents": rows}, key=full_key)
    assert first.json() == {
        "created": ["price_match"],
        "updated": ["gift_wrap"],
        "unchanged": [],
        "examples_added": 2,
    }
    assert sorted(TrainingExample.objects.labelled()) == [
        ("can u wrap it as a present", "gift_wrap"),
        ("do you gift wrap", "gift_wrap"),
        ("u match prices?", "price_match"),
    ]
    assert TrainingExample.objects.get(text="u match prices?").source == "import"
    again = call(client, "PUT", "/api/v1/intents", {"intents": rows}, key=full_key)
    assert again.json() == {
        "created": [],
        "updated": [],
        "unchanged": ["gift_wrap", "price_match"],
        "examples_added": 0,
    }

    body = {"names": ["price_match", "nope"]}
    response = call(client, "POST", "/api/v1/intents/delete", body, key=full_key)
    assert response.json() == {"deleted": ["price_match"], "missing": ["nope"]}
    assert list(Intent.objects.values_list("name", flat=True)) == ["gift_wrap"]
    bad = call(
        client,
        "PUT",
        "/api/v1/intents",
        {"intents": [{"name": "Gift Wrap"}]},
        key=full_key,
    )
    assert error_code(bad) == "validation.failed"


# --- Conversations ----------------------------------------------------------------


def test_it_lists_conversations_newest_first_with_filters(
    client, full_key, alice, charlie
):
    older = ConversationFactory.create(customer=alice)
    waiting = ConversationFactory.create(customer=charlie)
    waiting.queue_for_agent()
    response = call(client, "GET", "/api/v1/conversations", key=full_key)
    body = response.json()
    assert body["count"] == 2
    assert [item["id"] for item in body["items"]] == [
        waiting.public_id,
        older.public_id,
    ]
    assert body["items"][1]["customer"] == {
        "id": str(alice.uuid),
        "name": "Alice",
        "email": "alice@example.com",
    }
    only = call(
        client, "GET", "/api/v1/conversations?status=waiting_for_agent", key=full_key
    )
    assert [item["id"] for item in only.json()["items"]] == [waiting.public_id]
    page = call(client, "GET", "/api/v1/conversations?limit=1&offset=1", key=full_key)
    assert [item["id"] for item in page.json()["items"]] == [older.public_id]
    since = (timezone.now() + timedelta(minutes=1)).isoformat()
    later = client.get(
        "/api/v1/conversations",
        {"updated_after": since},
        headers={"Authorization": f"Bearer {full_key}"},
    )
    assert later.json() == {"items": [], "count": 0}
    # A message stored since counts as a change of its conversation.
    since = timezone.now().isoformat()
    MessageFactory.create(conversation=older, text="any news on my refund?")
    changed = client.get(
        "/api/v1/conversations",
        {"updated_after": since},
        headers={"Authorization": f"Bearer {full_key}"},
    )
    assert [item["id"] for item in changed.json()["items"]] == [older.public_id]
    bad = call(client, "GET", "/api/v1/conversations?status=closed", key=full_key)
    assert error_code(bad) == "validation.failed"


def test_it_shows_one_conversation_and_its_transcript_in_pages(client, full_key, alice):
    conversation = ConversationFactory.create(customer=alice)
    for text in [
        "where is my order",
        "Which order number?",
        "#1001",
        "It ships today.",
    ]:
        sender = (
            Message.Sender.CUSTOMER
            if text[0].islower() or text[0] == "#"
            else Message.Sender.BOT
        )
        MessageFactory.create(conversation=conversation, text=text, sender=sender)
    detail = call(
        client, "GET", f"/api/v1/conversations/{conversation.public_id}", key=full_key
    )
    assert detail.json()["status"] == Conversation.Status.BOT
    path = f"/api/v1/conversations/{conversation.public_id}/messages"
    first = call(client, "GET", f"{path}?limit=3", key=full_key).json()
    assert [m["text"] for m in first["items"]] == [
        "where is my order",
        "Which order number?",
        "#1001",
    ]
    assert first["items"][1]["sender"] == "bot"
    assert first["next_since_seq"] == 3
    rest = call(client, "GET", f"{path}?since_seq=3", key=full_key).json()
    assert [m["seq"] for m in rest["items"]] == [4]
    assert rest["next_since_seq"] is None


def test_it_answers_an_unknown_conversation_with_not_found(client, full_key):
    for path in [
        "/api/v1/conversations/c_nope",
        "/api/v1/conversations/c_nope/messages",
    ]:
        response = call(client, "GET", path, key=full_key)
        assert response.status_code == 404
        assert error_code(response) == "not_found"


# --- The admin --------------------------------------------------------------------


@pytest.fixture
def superbob(bob: Any) -> Any:
    bob.is_superuser = True
    bob.save()
    return bob


def test_it_shows_a_new_key_once_in_the_admin_and_the_key_works(client, superbob):
    client.force_login(superbob)
    response = client.post(
        "/admin/api/apikey/add/",
        {"name": "Shopify sync", "scopes": ["catalog", "orders"], "expires": ""},
    )
    assert response.status_code == 200
    row = ApiKey.objects.get()
    assert row.created_by == superbob
    page = response.content.decode()
    start = page.index('<code id="api-key">') + len('<code id="api-key">')
    key = page[start : page.index("</code>", start)]
    assert key.startswith(f"ck_{row.prefix}_")
    assert (
        "no-store" in response["Cache-Control"]
        or "no-cache" in response["Cache-Control"]
    )

    api_client = Client()
    ok = call(api_client, "POST", "/api/v1/products/delete", {"skus": ["X"]}, key=key)
    assert ok.status_code == 200
    refused = call(api_client, "GET", "/api/v1/conversations", key=key)
    assert error_code(refused) == "scope.forbidden"

    change = client.get(f"/admin/api/apikey/{row.pk}/change/").content.decode()
    assert key not in change
    assert f"ck_{row.prefix}" in change

    client.post(
        "/admin/api/apikey/",
        {"action": "revoke", "_selected_action": [row.pk]},
    )
    assert (
        error_code(
            call(
                api_client, "POST", "/api/v1/products/delete", {"skus": ["X"]}, key=key
            )
        )
        == "auth.revoked"
    )
