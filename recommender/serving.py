"""Recommendations for a customer in the chat: collaborative first, content to fill.

The active collaborative model (ml.registry) ranks what usually comes next after the
customer's history, their cart and the product they are looking at. Where it has
nothing to say — no active model, a new customer, a product newer than the model —
the product embeddings (pgvector cosine) find similar products, and popularity fills
whatever is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.db.models import Count, Q
from django.utils import timezone
from pgvector.django import CosineDistance

from ml.hotswap import HotModel
from ml.models import ModelVersion
from recommender.models import Interaction, Product

if TYPE_CHECKING:
    from recommender.model import Reason, RecommenderModel

__all__ = ["Recommendations", "live_model", "recommend_for", "warm"]

HISTORY_LIMIT = 50
POPULAR_DAYS = 30


def _load(path: Path) -> RecommenderModel:
    # torch loads on first use, never when a view or consumer imports this module.
    from recommender.model import RecommenderModel

    return RecommenderModel.load(path)


def _probe(model: RecommenderModel) -> object:
    return model.recommend(model.item_ids[:1], k=1)


live_model: HotModel[RecommenderModel] = HotModel(
    ModelVersion.Kind.RECOMMENDER, _load, _probe
)


def warm() -> None:
    """Load the active recommender now (process start), not on the first request."""
    live_model.warm()


class Recommendations(list[tuple[Product, str]]):
    """``(product, why)`` pairs, and the recommender version that ranked them
    (``None`` when no trained model contributed: embeddings and popularity only)."""

    model_version_id: int | None = None


def _history(customer_id: int | None) -> list[str]:
    """The customer's products, oldest first, repeats of one product collapsed."""
    if customer_id is None:
        return []
    skus = list(
        Interaction.objects.filter(customer_id=customer_id)
        .order_by("-created", "-pk")
        .values_list("product__sku", flat=True)[: HISTORY_LIMIT * 3]
    )
    ordered: list[str] = []
    for sku in reversed(skus):
        if not ordered or ordered[-1] != sku:
            ordered.append(sku)
    return ordered[-HISTORY_LIMIT:]


def _why(reason: Reason, names: dict[str, str], anchor: str | None) -> str:
    kind, item = reason
    if kind == "bought_with" and item in names:
        return f"Often bought with {names[item]}"
    if kind == "similar_to" and item in names:
        return f"Similar to {names[item]}"
    if kind == "content" and anchor in names:
        return f"New, and similar to {names[anchor]}"
    if kind == "popular":
        return "Popular right now"
    return "Recommended for you"


def _similar(
    anchor: Product, *, exclude: set[str], limit: int
) -> list[tuple[Product, str]]:
    if anchor.embedding is None or limit <= 0:
        return []
    products = (
        Product.objects.filter(active=True, embedding__isnull=False)
        .exclude(sku__in=exclude)
        .annotate(distance=CosineDistance("embedding", anchor.embedding))
        .order_by("distance")[:limit]
    )
    return [(p, f"Similar to {anchor.name}") for p in products]


def _popular(*, exclude: set[str], limit: int) -> list[tuple[Product, str]]:
    if limit <= 0:
        return []
    since = timezone.now() - timedelta(days=POPULAR_DAYS)
    products = (
        Product.objects.filter(active=True)
        .exclude(sku__in=exclude)
        .annotate(
            recent=Count("interactions", filter=Q(interactions__created__gte=since))
        )
        .order_by("-recent", "-stock", "name")[:limit]
    )
    return [(p, "Popular right now") for p in products]


def recommend_for(
    *,
    customer_id: int | None,
    viewing_sku: str | None,
    cart_skus: list[str],
    limit: int,
) -> Recommendations:
    """Products to suggest, each with a short "why" for the card.

    Args:
        customer_id: the chat customer (``None`` for an anonymous visitor).
        viewing_sku: the product on screen, if any.
        cart_skus: what is in the cart.
        limit: how many products at most.

    Returns:
        ``(product, why)`` pairs, best first, only active products, never one that is
        in the cart or on screen, e.g. ``(<Product>, "Often bought with Cloudstep
        Running Shoes")``; ``model_version_id`` says which recommender version
        ranked them, if one did.
    """
    picked = Recommendations()
    if limit <= 0:
        return picked
    context = [*cart_skus, *([viewing_sku] if viewing_sku else [])]
    history = [s for s in _history(customer_id) if s not in context] + context
    exclude = set(context)

    def add(found: Iterable[tuple[Product, str]]) -> None:
        for product, why in found:
            if len(picked) < limit and product.sku not in exclude:
                picked.append((product, why))
                exclude.add(product.sku)

    anchors = {p.sku: p for p in Product.objects.filter(sku__in=history[-10:])}
    viewing = anchors.get(viewing_sku) if viewing_sku else None
    served = live_model.served() if history else None
    model = served.model if served is not None else None
    # A product newer than the model: the model cannot see it, its text can.
    if viewing is not None and (model is None or viewing_sku not in model.index):
        add(_similar(viewing, exclude=exclude, limit=limit))
    if model is not None:
        # The model never returns the history either (past purchases included).
        recommended = model.recommend(history, k=limit * 3, exclude=exclude)
        products = Product.objects.in_bulk(
            [str(item) for item, _, _ in recommended], field_name="sku"
        )
        names = {sku: p.name for sku, p in anchors.items()}
        before = len(picked)
        add(
            (products[str(item)], _why(reason, names, history[-1]))
            for item, _, reason in recommended
            if str(item) in products and products[str(item)].active
        )
        if len(picked) > before and served is not None:
            picked.model_version_id = served.version.pk
    for sku in reversed(history[-10:]):
        if len(picked) >= limit:
            break
        if sku in anchors:
            add(_similar(anchors[sku], exclude=exclude, limit=limit - len(picked)))
    add(_popular(exclude=exclude, limit=limit - len(picked)))
    return picked
