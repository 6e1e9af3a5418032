from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from chatbot.dialogue.articles import fill_shop
from chatbot.models import Article, current_shop
from recommender.models import Product


def demo_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page of the demo shop: there in development or with DEMO=1, else 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.DEMO:
            raise Http404("The demo shop is off (DEMO=1 turns it on).")
        return view(request, *args, **kwargs)

    return wrapper


@demo_only
def shop_home(request: HttpRequest) -> HttpResponse:
    """The demo storefront, with the chat widget embedded as a shop would."""
    products = Product.objects.filter(active=True).order_by("category", "name")
    return render(request, "chatbot/shop_home.html", {"products": products})


@demo_only
def shop_product(request: HttpRequest, sku: str) -> HttpResponse:
    if "\x00" in sku:  # PostgreSQL refuses NUL in a query: no product has one
        raise Http404
    product = get_object_or_404(Product, sku=sku, active=True)
    return render(request, "chatbot/shop_product.html", {"product": product})


def help_article(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article, slug=slug, published=True)
    # The body names the shop's settings ({shop.return_window_days}…): the page
    # says them as the chat does.
    body = fill_shop(article.body, current_shop())
    return render(
        request, "chatbot/help_article.html", {"article": article, "body": body}
    )
