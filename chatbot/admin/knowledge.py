"""Staff admin for what the bot answers from: articles and response templates."""

from __future__ import annotations

from django.contrib import admin

from chatbot.admin.help_text import HelpTextMixin
from chatbot.models import Article, ResponseTemplate


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
