"""Staff admin for what the bot answers from: articles and the intents they answer,
response templates and the shop's settings (hours, return window, currency, order
numbers)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.shortcuts import get_object_or_404, redirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join

from chatbot.admin.help_text import HelpTextMixin
from chatbot.dialogue.knowledge import suggest_articles, suggest_intents
from chatbot.models import Article, ResponseTemplate, ShopSettings
from classifier.admin import IntentAdmin
from classifier.models import Intent


class LinkedFilter(admin.SimpleListFilter):
    title = "linked to an intent"
    parameter_name = "linked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Article]
    ) -> QuerySet[Article]:
        if self.value() == "yes":
            return queryset.filter(intents__isnull=False).distinct()
        if self.value() == "no":
            return queryset.filter(intents__isnull=True)
        return queryset


def link_buttons(suggestions: list[tuple[Any, float]], *, pair: Any, back: str) -> str:
    """One "Link" button per suggestion, posting to the link view.

    The buttons sit inside the change form (forms can't nest): ``formaction`` sends
    the form, CSRF token included, to the link view, which reads only ``link``.
    """
    if not suggestions:
        return "No suggestion: nothing is similar enough."
    url = reverse("admin:chatbot_article_link") + f"?back={back}"
    return format_html_join(
        "",
        '<p>{} <span class="quiet">(similarity {})</span> '
        '<button type="submit" class="button" formaction="{}" name="link" '
        'value="{}">Link</button></p>',
        (
            (str(other), f"{similarity:.2f}", url, pair(other))
            for other, similarity in suggestions
        ),
    )


@admin.register(Article)
class ArticleAdmin(HelpTextMixin, admin.ModelAdmin):
    help_texts = {
        "title": "The bot matches questions mostly against the title.",
        "slug": "The article's address: /help/<slug>/.",
        "body": "Plain text; paragraphs are separated by a blank line, and the bot "
        "quotes the one nearest the question. {shop.return_window_days}, "
        "{shop.free_shipping_threshold} and {shop.hours} are filled in from the "
        "shop settings.",
        "published": "Only published articles are searched and shown.",
    }
    list_display = ["title", "slug", "intent_names", "published", "has_embedding"]
    list_filter = ["published", LinkedFilter, "intents", "updated"]
    search_fields = ["title", "body", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    fields = ["title", "slug", "body", "tags", "intents", "suggested_intents"]
    fields += ["published"]
    filter_horizontal = ["intents"]
    readonly_fields = ["suggested_intents"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Article]:
        return super().get_queryset(request).prefetch_related("intents")

    @admin.display(boolean=True, description="embedded")
    def has_embedding(self, obj: Article) -> bool:
        return obj.embedding is not None

    @admin.display(description="intents")
    def intent_names(self, obj: Article) -> str:
        return ", ".join(intent.name for intent in obj.intents.all()) or "—"

    @admin.display(description="suggested intents")
    def suggested_intents(self, obj: Article) -> str:
        """For an article no intent links to: the nearest intents by meaning."""
        if obj.pk is None or obj.intents.exists():
            return "—"
        return link_buttons(
            suggest_intents(obj), pair=lambda i: f"{obj.pk}:{i.pk}", back="article"
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "link/",
                self.admin_site.admin_view(self.link_view),
                name="chatbot_article_link",
            ),
            *super().get_urls(),
        ]

    def link_view(self, request: HttpRequest) -> HttpResponse:
        """Link one article and one intent (``link=<article id>:<intent id>``)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        article_pk, _, intent_pk = request.POST.get("link", "").partition(":")
        if not (article_pk.isdigit() and intent_pk.isdigit()):
            return HttpResponseBadRequest("Which article and intent to link?")
        article = get_object_or_404(Article, pk=article_pk)
        intent = get_object_or_404(Intent, pk=intent_pk)
        article.intents.add(intent)
        self.message_user(
            request, f"Linked “{article}” to the intent {intent}.", messages.SUCCESS
        )
        if request.GET.get("back") == "intent":
            return redirect(reverse("admin:classifier_intent_change", args=[intent.pk]))
        return redirect(reverse("admin:chatbot_article_change", args=[article.pk]))


class ArticleLinkInline(admin.TabularInline):
    """The articles an intent is answered from, on the intent's page."""

    model = Article.intents.through
    extra = 1
    verbose_name = "article answering it"
    verbose_name_plural = "articles answering it"
    autocomplete_fields = ["article"]


class IntentWithArticlesAdmin(IntentAdmin):
    """The classifier's intent admin, with the articles each intent links to.

    The classifier knows nothing of the chat (imports run one way), so the chat
    extends its admin here rather than the classifier naming articles.
    """

    inlines = [*IntentAdmin.inlines, ArticleLinkInline]
    readonly_fields = [*IntentAdmin.readonly_fields, "suggested_articles"]

    @admin.display(description="suggested articles")
    def suggested_articles(self, obj: Intent) -> str:
        """For an intent no article answers: the nearest articles by meaning."""
        if obj.pk is None or Article.objects.filter(intents=obj).exists():
            return "—"
        return link_buttons(
            suggest_articles(obj), pair=lambda a: f"{a.pk}:{obj.pk}", back="intent"
        )


admin.site.unregister(Intent)
admin.site.register(Intent, IntentWithArticlesAdmin)


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
        (None, {"fields": ["name", "currency"]}),
        (
            "Orders",
            {
                "description": "Where the bot finds orders and sends cancellations "
                "and returns (docs/order-lookup.md).",
                "fields": [
                    "order_number_pattern",
                    "order_source",
                    "order_endpoint_url",
                    "order_endpoint_secret",
                ],
            },
        ),
        ("When people answer", {"fields": ["timezone", "opening_hours"]}),
        (
            "Returns and shipping",
            {"fields": ["return_window_days", "free_shipping_threshold"]},
        ),
        (
            "Privacy",
            {
                "description": "Card numbers, IBANs and ID numbers are always masked "
                "in training data, exports, analytics, the API and webhooks; order "
                "numbers never are. Try these settings on your own sample lines with "
                "<code>manage.py redact --training</code> (or --export, --store).",
                "fields": [
                    "redact_cards_on_store",
                    "redact_contacts_in_training",
                    "redact_contacts_in_exports",
                    "erasure_deletes_orders",
                ],
            },
        ),
        (
            "Retention",
            {
                "description": "How long each kind of record is kept; the nightly "
                "purge-expired task deletes or anonymises what is older.",
                "fields": [
                    "retention_conversations_days",
                    "retention_tracking_days",
                    "retention_webhook_deliveries_days",
                    "retention_codes_days",
                    "retention_rate_limit_days",
                    "retention_anonymous_customers_days",
                    "retention_access_log_days",
                ],
            },
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
