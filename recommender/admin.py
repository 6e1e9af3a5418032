"""Staff admin for the catalog and what customers do with it."""

from __future__ import annotations

from django.contrib import admin

from recommender.models import Interaction, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "category", "brand", "price", "stock", "active"]
    list_filter = ["active", "category", "brand"]
    search_fields = ["sku", "name", "description", "brand"]
    list_editable = ["active"]
    exclude = ["embedding"]


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["created", "kind", "product", "customer_id", "conversation_id"]
    list_filter = ["kind", "created"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    date_hierarchy = "created"
