from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from chatbot.models import Article
from recommender.models import Product


def shop_home(request: HttpRequest) -> HttpResponse:
    """The demo storefront, with the chat widget embedded as a shop would."""
    products = Product.objects.filter(active=True).order_by("category", "name")
    return render(request, "chatbot/shop_home.html", {"products": products})


def shop_product(request: HttpRequest, sku: str) -> HttpResponse:
    if "\x00" in sku:  # PostgreSQL refuses NUL in a query: no product has one
        raise Http404
    product = get_object_or_404(Product, sku=sku, active=True)
    return render(request, "chatbot/shop_product.html", {"product": product})


def help_article(request: HttpRequest, slug: str) -> HttpResponse:
    article = get_object_or_404(Article, slug=slug, published=True)
    return render(request, "chatbot/help_article.html", {"article": article})
