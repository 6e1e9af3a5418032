"""The demo shop's data: FAQ articles, orders and response defaults (YAML here)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import yaml
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from chatbot.models import Article, Order, OrderItem
from classifier.models import Intent
from recommender.models import Product

HERE = Path(__file__).resolve().parent


def articles_load(path: Path = HERE / "articles.yaml") -> int:
    """Load the help centre and link each article to the intents it answers (an
    intent not imported yet is created by name; ``import_intents`` fills it)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    with transaction.atomic():
        for row in data["articles"]:
            article, _ = Article.objects.update_or_create(
                slug=slugify(row["title"])[:200],
                defaults={
                    "title": row["title"],
                    "body": row["body"].strip(),
                    "tags": row.get("tags", []),
                },
            )
            article.intents.set(
                [
                    Intent.objects.get_or_create(name=name)[0]
                    for name in row.get("intents", [])
                ]
            )
    return len(data["articles"])


def orders_load(path: Path = HERE / "orders.yaml") -> int:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    now = timezone.now()
    prices = dict(Product.objects.values_list("sku", "price"))
    names = dict(Product.objects.values_list("sku", "name"))
    with transaction.atomic():
        for row in data["orders"]:
            delivered = row.get("delivered_days_ago")
            eta = row.get("eta_in_days")
            order, _ = Order.objects.update_or_create(
                number=row["number"],
                defaults={
                    "email": row["email"],
                    "customer_name": row["name"],
                    "status": row["status"],
                    "carrier": row.get("carrier", ""),
                    "tracking_number": row.get("tracking", ""),
                    "placed_at": now - timedelta(days=row["placed_days_ago"]),
                    "delivered_at": now - timedelta(days=delivered)
                    if delivered is not None
                    else None,
                    "eta": (now + timedelta(days=eta)).date() if eta else None,
                    "refund_status": row.get("refund", "none"),
                },
            )
            order.items.all().delete()
            items = [
                OrderItem(
                    order=order,
                    sku=sku,
                    name=names.get(sku, sku),
                    quantity=quantity,
                    price=prices.get(sku, Decimal("0")),
                )
                for sku, quantity in row["items"]
            ]
            OrderItem.objects.bulk_create(items)
            order.total = sum((i.price * i.quantity for i in items), Decimal("0"))
            order.save(update_fields=["total"])
    return len(data["orders"])
