"""Staff admin for the shop's orders, the returns customers asked for and the
order lookups the bot made."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chatbot.admin.help_text import HelpTextMixin
from chatbot.models import Order, OrderItem, OrderLookup, ReturnRequest


class OrderItemInline(HelpTextMixin, admin.TabularInline):
    help_texts = {"sku": "The product's SKU in the catalog.", "price": "Unit price."}

    model = OrderItem
    extra = 0
    fields = ("sku", "name", "quantity", "price")


@admin.register(Order)
class OrderAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "number": "What the customer quotes, e.g. NW-1001.",
        "customer_name": "As on the order.",
        "status": "The bot tells the customer this status.",
        "carrier": "Shipping company, shown with the tracking number.",
        "eta": "Expected delivery date.",
        "placed_at": "When the order was placed.",
        "delivered_at": "Starts the return window.",
        "refund_status": "Where a refund stands.",
        "total": "Order total in the shop's currency.",
    }
    list_display = [
        "number",
        "email",
        "customer_name",
        "status",
        "refund_status",
        "total",
        "placed_at",
    ]
    list_filter = ["status", "refund_status", "carrier", "placed_at", "fetched_at"]
    search_fields = [
        "number",
        "email",
        "customer_name",
        "tracking_number",
        "shopper_id",
    ]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline]


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ["order", "conversation", "created"]
    search_fields = ["order__number", "order__email"]
    raw_id_fields = ["order", "conversation"]


@admin.register(OrderLookup)
class OrderLookupAdmin(admin.ModelAdmin):
    """What the bot looked up, read-only: is the shop's order endpoint slow or
    failing, which conversation asked for which number."""

    list_display = ["created", "number", "outcome", "source", "duration_ms"]
    list_filter = ["outcome", "source", "created"]
    search_fields = ["number", "conversation__public_id"]
    date_hierarchy = "created"
    raw_id_fields = ["conversation"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
