"""Staff admin for the shop's orders and the returns customers asked for."""

from __future__ import annotations

from django.contrib import admin

from chatbot.admin.help_text import HelpTextMixin
from chatbot.models import Order, OrderItem, ReturnRequest


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
    list_filter = ["status", "refund_status", "carrier", "placed_at"]
    search_fields = ["number", "email", "customer_name", "tracking_number"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline]


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = ["order", "conversation", "created"]
    search_fields = ["order__number", "order__email"]
    raw_id_fields = ["order", "conversation"]
