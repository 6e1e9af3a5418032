"""The API's writes: bulk upserts and deletes, each request all or nothing.

An upsert is idempotent by its key (sku, order number, slug, intent name): sending
the same rows again changes nothing and reports them ``unchanged``. Rows are saved
through the model (``save``), so that a product's or an article's ``post_save``
queues its embedding after the commit, exactly as ``import_products`` does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from django.db import models, transaction

from chatbot.models import (
    Article,
    Conversation,
    Customer,
    Order,
    ShopSettings,
)
from chatbot.order_imports import orders_import
from classifier.models import Intent, TrainingExample
from recommender.imports.rows import ImportReport
from recommender.models import Interaction, Product
from recommender.services import products_import

M = TypeVar("M", bound=models.Model)


@dataclass
class Changes:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _upsert(
    model: type[M], *, key: str, rows: list[dict[str, Any]], changes: Changes
) -> dict[str, M]:
    """Create or update ``rows`` of ``model`` by ``key`` (inside the caller's
    transaction); the saved rows by key."""
    keys = [row[key] for row in rows]
    existing = {
        getattr(obj, key): obj
        for obj in model._default_manager.select_for_update().filter(
            **{f"{key}__in": keys}
        )
    }
    saved: dict[str, M] = {}
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            obj = model(**row)
            obj.save()
            changes.created.append(row[key])
        elif any(getattr(obj, name) != value for name, value in row.items()):
            for name, value in row.items():
                setattr(obj, name, value)
            obj.save()
            changes.updated.append(row[key])
        else:
            changes.unchanged.append(row[key])
        saved[row[key]] = obj
    return saved


def products_upsert(*, products: list[dict[str, Any]]) -> Changes:
    """Create or update products by sku; embeddings follow after the commit."""
    currency = ShopSettings.load().currency
    rows = [{**row, "currency": row.get("currency") or currency} for row in products]
    changes = Changes()
    with transaction.atomic():
        _upsert(Product, key="sku", rows=rows, changes=changes)
    return changes


def orders_upsert(*, orders: list[dict[str, Any]]) -> Changes:
    """Create or update orders by number; an order's items are replaced by those
    given (an order whose fields and items are as given is left alone)."""
    items = {order["number"]: order.pop("items") for order in orders}
    changes = Changes()
    with transaction.atomic():
        saved = _upsert(Order, key="number", rows=orders, changes=changes)
        for number, order in saved.items():
            if order.replace_items(items[number]) and number in changes.unchanged:
                changes.unchanged.remove(number)
                changes.updated.append(number)
    return changes


def articles_upsert(*, articles: list[dict[str, Any]]) -> Changes:
    """Create or update help-centre articles by slug; embeddings follow."""
    changes = Changes()
    with transaction.atomic():
        _upsert(Article, key="slug", rows=articles, changes=changes)
    return changes


def intents_upsert(*, intents: list[dict[str, Any]]) -> tuple[Changes, int]:
    """Create intents or update their descriptions by name, and add the examples
    not there yet. Returns the changes and how many examples were added."""
    examples = {intent["name"]: intent.pop("examples") for intent in intents}
    changes = Changes()
    added = 0
    with transaction.atomic():
        saved = _upsert(Intent, key="name", rows=intents, changes=changes)
        for name, intent in saved.items():
            have = set(intent.examples.values_list("text", flat=True))
            new = list(dict.fromkeys(t for t in examples[name] if t not in have))
            TrainingExample.objects.bulk_create(
                TrainingExample(
                    text=text, intent=intent, source=TrainingExample.Source.IMPORT
                )
                for text in new
            )
            added += len(new)
            if new and name in changes.unchanged:
                changes.unchanged.remove(name)
                changes.updated.append(name)
    return changes, added


def _from_text(text: str, read: Callable[[Path], ImportReport]) -> ImportReport:
    # The readers take a file (the commands' way in); a request's text becomes one
    # for the time of the import.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "import.csv"
        path.write_text(text, encoding="utf-8")
        return read(path)


def import_result(report: ImportReport) -> dict[str, Any]:
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": [asdict(error) for error in report.errors],
    }


def products_file_import(
    *, text: str, file_format: str, skip_bad: bool
) -> ImportReport:
    """Import products from a file's text, as import_products does (same readers)."""
    currency = ShopSettings.load().currency
    return _from_text(
        text,
        lambda path: products_import(
            path, file_format=file_format, currency=currency, skip_bad=skip_bad
        ),
    )


def orders_file_import(*, text: str, file_format: str, skip_bad: bool) -> ImportReport:
    """Import orders from a file's text, as import_orders does (same readers)."""
    return _from_text(
        text,
        lambda path: orders_import(path, file_format=file_format, skip_bad=skip_bad),
    )


def delete_by_key(
    model: type[models.Model], *, key: str, values: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Delete the rows whose ``key`` is in ``values``: (deleted, missing)."""
    wanted = list(dict.fromkeys(values))
    with transaction.atomic():
        rows = model._default_manager.filter(**{f"{key}__in": wanted})
        found = set(rows.values_list(key, flat=True))
        rows.delete()
    return (
        [value for value in wanted if value in found],
        [value for value in wanted if value not in found],
    )


@dataclass
class EventsRecorded:
    recorded: int
    skipped: list[tuple[int, str]]


def events_record(*, events: list[dict[str, Any]]) -> EventsRecorded:
    """Record tracking events from the shop's server (a purchase, a view): the
    recommender learns from them as from the widget's. Events naming an unknown
    product, customer or conversation are skipped and reported."""
    skus = {event["sku"] for event in events}
    products = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
    uuids = {event["customer"] for event in events if event["customer"]}
    customers: dict[UUID, int] = dict(
        Customer.objects.filter(uuid__in=uuids).values_list("uuid", "pk")
    )
    public_ids = {event["conversation"] for event in events if event["conversation"]}
    conversations = {
        public_id: (pk, customer_id)
        for public_id, pk, customer_id in Conversation.objects.filter(
            public_id__in=public_ids
        ).values_list("public_id", "pk", "customer_id")
    }
    rows, skipped = [], []
    for index, event in enumerate(events):
        conversation_id, customer_id = None, None
        if event["conversation"]:
            if event["conversation"] not in conversations:
                skipped.append((index, "unknown_conversation"))
                continue
            conversation_id, customer_id = conversations[event["conversation"]]
        if event["customer"]:
            named = customers.get(event["customer"])
            if named is None or (customer_id is not None and named != customer_id):
                skipped.append((index, "unknown_customer"))
                continue
            customer_id = named
        if event["sku"] not in products:
            skipped.append((index, "unknown_product"))
            continue
        # The schema requires a customer or a conversation, and both set it.
        assert customer_id is not None
        rows.append(
            Interaction(
                customer_id=customer_id,
                product_id=products[event["sku"]],
                kind=event["kind"],
                conversation_id=conversation_id,
            )
        )
    Interaction.objects.bulk_create(rows)
    return EventsRecorded(recorded=len(rows), skipped=skipped)
