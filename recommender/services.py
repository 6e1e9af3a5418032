"""Writes to the catalog."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from ml.models import ModelVersion
from recommender.models import Interaction, Product

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.jsonl"


class ProductImportError(ValueError):
    """A row of an import file is malformed; the message names the file and line."""


REQUIRED = ("sku", "name", "category", "price")


def _product_row(row: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in REQUIRED if not str(row.get(key) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    sku = str(row["sku"]).strip()
    price = Decimal(str(row["price"]).strip().lstrip("$"))
    if price < 0:
        raise ValueError(f"negative price {price}")
    stock = int(str(row.get("stock") or 0))
    if stock < 0:
        raise ValueError(f"negative stock {stock}")
    active = str(row.get("active", "true")).strip().lower() not in ("0", "false", "no")
    return {
        "sku": sku,
        "name": str(row["name"]).strip(),
        "description": str(row.get("description") or ""),
        "category": str(row["category"]).strip(),
        "brand": str(row.get("brand") or ""),
        "price": price,
        "currency": str(row.get("currency") or "USD").upper()[:3],
        "stock": stock,
        "image": str(row.get("image") or f"/static/recommender/products/{sku}.svg"),
        "url": str(row.get("url") or f"/products/{sku}/"),
        "active": active,
    }


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProductImportError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = set(REQUIRED) - set(reader.fieldnames or [])
        if missing:
            raise ProductImportError(f"{path}:1: the header lacks {sorted(missing)}")
        return [(reader.line_num, row) for row in reader]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                raise ProductImportError(f"{path}:{number}: not valid JSON") from None
            if not isinstance(row, dict):
                raise ProductImportError(f"{path}:{number}: not a JSON object")
            rows.append((number, row))
    return rows


def products_import(path: Path) -> int:
    """Create or update products from CSV or JSONL (by extension); all rows or none.

    Returns:
        The number of products written.
    """
    products = []
    for number, row in _rows(path):
        try:
            products.append(_product_row(row))
        except (ValueError, TypeError, InvalidOperation) as error:
            raise ProductImportError(f"{path}:{number}: {error}") from None
    with transaction.atomic():
        # update_or_create sends post_save, which queues the embeddings (one batch;
        # the task skips products whose text did not change).
        for product in products:
            Product.objects.update_or_create(sku=product.pop("sku"), defaults=product)
    return len(products)


def interaction_record(
    *, customer_id: int, sku: str, kind: str, conversation_id: int | None = None
) -> bool:
    """Record what a customer did with a product; False for an unknown product."""
    product = Product.objects.filter(sku=sku).only("pk").first()
    if product is None:
        return False
    Interaction.objects.create(
        customer_id=customer_id,
        product=product,
        kind=kind,
        conversation_id=conversation_id,
    )
    return True


# --- Recommender training (appended by the recommender work) ------------------------

RECOMMENDER_MIN_CASES = 20


def _interaction_sequences() -> tuple[dict[int, list[str]], int]:
    """Each customer's products in time order (every kind), repeats in a row merged.

    A view, an add-to-cart and a purchase of one product in a row are one step of the
    sequence: the sequence model learns what comes *next*, not how strongly.
    """
    sequences: dict[int, list[str]] = {}
    rows = Interaction.objects.order_by("created", "pk").values_list(
        "customer_id", "product__sku"
    )
    count = 0
    for customer_id, sku in rows.iterator(chunk_size=5000):
        count += 1
        sequence = sequences.setdefault(customer_id, [])
        if not sequence or sequence[-1] != sku:
            sequence.append(sku)
    return sequences, count


def recommender_train(*, activate: bool) -> ModelVersion:
    """Train the collaborative recommender on the Interaction table and register it.

    A quick leave-one-out first (each customer's last product = test, the one before
    = early stopping) gives the metrics and the epoch count; the registered model is
    then trained on everything for that many epochs.

    Args:
        activate: make the new version active, when it does no worse on NDCG@10
            than the active one (by their own leave-one-out; with too few test
            cases to measure, it is activated when nothing else is active).

    Returns:
        The registered version (active, candidate, or rejected when it was worse).
    """
    import dataclasses
    import tempfile

    from ml import registry
    from recommender import collaborative
    from recommender.embeddings import product_text
    from recommender.evaluation import leave_one_out, rank_metrics

    sequences, interactions = _interaction_sequences()
    products = list(Product.objects.order_by("pk"))
    texts = {p.sku: product_text(p) for p in products}
    vectors = _product_vectors(products)
    config = collaborative.TrainConfig(time_budget_s=300.0, epochs=100, patience=5)

    index = {sku: i for i, sku in enumerate(texts)}
    split = leave_one_out(
        {c: [index[s] for s in seq if s in index] for c, seq in sequences.items()}
    )
    skus = list(texts)
    metrics: dict[str, Any] = {"cases": len(split.test)}
    epochs = config.epochs
    if len(split.test) >= RECOMMENDER_MIN_CASES and split.valid:
        held_out = collaborative.train(
            {c: [skus[i] for i in seq] for c, seq in split.train.items()},
            item_texts=texts,
            item_vectors=vectors,
            validation=[
                ([skus[i] for i in case.history], skus[case.target])
                for case in split.valid
            ],
            config=config,
        )
        if held_out.item_ids != skus:
            raise AssertionError("the model's item order differs from the catalog's")
        metrics.update(rank_metrics(held_out.scores, split.test))
        epochs = max(1, int(held_out.meta["best_epoch"]))
        config.content_weight = held_out.config.content_weight
        config.cold_content_weight = held_out.config.cold_content_weight
        config.cold_bias = held_out.config.cold_bias
    # Without validation cases the final run keeps the blend chosen above.
    final_config = dataclasses.replace(config, epochs=epochs)
    model = collaborative.train(
        sequences, item_texts=texts, item_vectors=vectors, config=final_config
    )
    trained_on = {
        "interactions": interactions,
        "customers": len(sequences),
        "products": len(products),
        "epochs": epochs,
        "train_seconds": model.meta.get("train_seconds"),
    }
    with tempfile.TemporaryDirectory() as directory:
        model.save(directory)
        version = registry.register(
            kind=ModelVersion.Kind.RECOMMENDER,
            source_dir=Path(directory),
            metrics=metrics,
            trained_on=trained_on,
        )
    if activate:
        current = ModelVersion.objects.filter(
            kind=ModelVersion.Kind.RECOMMENDER, status=ModelVersion.Status.ACTIVE
        ).first()
        if current is None or _no_worse(version.metrics, current.metrics):
            registry.activate(version)
        else:
            registry.reject(version)
    return version


def _no_worse(new: dict[str, Any], active: dict[str, Any]) -> bool:
    """NDCG@10 at least the active one's; unmeasured models never replace measured."""
    if "ndcg@10" not in active:
        return True
    return "ndcg@10" in new and float(new["ndcg@10"]) >= float(active["ndcg@10"])


def _product_vectors(products: list[Product]) -> Any:
    """The stored product embeddings; products without one are embedded now."""
    import numpy as np

    from ml.encoder import get_encoder
    from recommender.embeddings import product_text

    missing = [p for p in products if p.embedding is None]
    fresh = (
        get_encoder().encode([product_text(p) for p in missing])
        if missing
        else np.zeros((0, 0), dtype=np.float32)
    )
    by_pk = {p.pk: v for p, v in zip(missing, fresh, strict=True)}
    if not products:
        return np.zeros((0, 384), dtype=np.float32)
    return np.stack(
        [
            np.asarray(by_pk[p.pk] if p.embedding is None else p.embedding, np.float32)
            for p in products
        ]
    )
