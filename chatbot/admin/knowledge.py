"""Staff admin for what the bot answers from: articles, response templates and the
shop's settings (hours, return window, currency, order numbers)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from chatbot.admin.help_text import HelpTextMixin
from chatbot.models import Article, ResponseTemplate, ShopSettings


@admin.register(Article)
class ArticleAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "title": "The bot matches questions mostly against the title.",
        "slug": "The article's address: /help/<slug>/.",
        "body": "Plain text; the bot quotes the start of it.",
        "published": "Only published articles are searched and shown.",
    }
    list_display = ["title", "slug", "published", "has_embedding", "updated"]
    list_filter = ["published", "updated"]
    search_fields = ["title", "body", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    fields = ["title", "slug", "body", "tags", "published"]

    @admin.display(boolean=True, description="embedded")
    def has_embedding(self, obj: Article) -> bool:
        return obj.embedding is not None


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {"active": "Inactive templates are never said."}
    list_display = ["key", "text", "active"]
    list_filter = ["active", "key"]
    list_editable = ["active"]
    search_fields = ["key", "text"]


@admin.register(ShopSettings)
class ShopSettingsAdmin(admin.ModelAdmin):
    """One row per installation: the list opens it, nobody adds or deletes one."""

    fieldsets = [
        (None, {"fields": ["name", "currency", "order_number_pattern"]}),
        ("When people answer", {"fields": ["timezone", "opening_hours"]}),
        (
            "Returns and shipping",
            {"fields": ["return_window_days", "free_shipping_threshold"]},
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        settings = ShopSettings.load()
        return redirect(
            reverse("admin:chatbot_shopsettings_change", args=[settings.pk])
        )
