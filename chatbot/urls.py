from __future__ import annotations

from django.urls import path

from chatbot import views

urlpatterns = [
    path("", views.shop_home, name="shop-home"),
    path("products/<str:sku>/", views.shop_product, name="shop-product"),
    path("help/<slug:slug>/", views.help_article, name="help-article"),
]
