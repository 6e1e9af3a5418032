"""Staff admin for the catalog and what customers do with it."""

from __future__ import annotations

from django.contrib import admin

from recommender.models import Interaction, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "name",
        "category",
        "brand",
        "price",
        "stock",
        "attributes_shown",
        "active",
    ]
    list_filter = ["active", "category", "brand"]
    # attributes__icontains: the JSON as text, so "navy" or "merino" finds them.
    search_fields = ["sku", "name", "description", "brand", "attributes__icontains"]
    list_editable = ["active"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description", "category", "brand"]}),
        ("Price and stock", {"fields": ["price", "currency", "stock", "active"]}),
        (
            "Attributes",
            {
                "fields": ["attributes"],
                "description": "What customers filter by in the chat: colours, "
                "sizes, material, and any other facts.",
            },
        ),
        ("Links", {"fields": ["image", "url"]}),
    ]

    @admin.display(description="attributes")
    def attributes_shown(self, product: Product) -> str:
        return product.attributes_text()


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["created", "kind", "product", "customer_id", "conversation_id"]
    list_filter = ["kind", "created"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product"]
    raw_id_fields = ["product"]
    date_hierarchy = "created"
