"""Staff admin for the shop connection: API keys, webhook subscriptions, deliveries."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from api import webhooks
from api.models import KEY_PREFIX, ApiKey, WebhookDelivery, WebhookSubscription
from chatbot.events import Event

# Set on the request by save_model, read by response_add: the key in clear lives
# in this one response and is stored nowhere (not even in a session message).
SHOWN_KEY = "_api_key_in_clear"


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do; give each system only what it needs.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expires"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "shown_prefix", "scopes", "state", "last_used", "expires"]
    list_filter = ["created", "revoked"]
    search_fields = ["name", "prefix"]
    readonly_fields = ("shown_prefix", "created", "created_by", "last_used", "revoked")
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "scopes", "expires")
        return ("name", "shown_prefix", "scopes", "expires", *self.readonly_fields[1:])

    @admin.display(description="key")
    def shown_prefix(self, obj: ApiKey) -> str:
        return f"{KEY_PREFIX}{obj.prefix}…" if obj.prefix else "—"

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> str:
        refusal = obj.refusal(now=timezone.now())
        return {"auth.revoked": "revoked", "auth.expired": "expired"}.get(
            refusal or "", "active"
        )

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: Any, change: bool
    ) -> None:
        if not change:
            setattr(request, SHOWN_KEY, obj.assign_new_key())
            obj.created_by_id = request.user.pk
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """The new key, shown this once."""
        return TemplateResponse(
            request,
            "admin/api/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": "Copy the new API key",
                "api_key": obj,
                "key": getattr(request, SHOWN_KEY),
            },
        )

    @admin.action(description="Revoke the selected keys (they stop working at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        now = timezone.now()
        count = 0
        for key in queryset.filter(revoked=None):
            key.revoke(now=now)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="Where the events are POSTed (https in production).",
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events POSTed to this URL (payloads: docs/webhooks.md).",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "description", "events", "active", "secret"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "description", "event_labels", "active", "created"]
    list_filter = ["active"]
    search_fields = ["url", "description"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created",
        "event",
        "subscription",
        "status",
        "response_code",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event", "subscription"]
    search_fields = ["event_id", "subscription__url"]
    list_select_related = ["subscription"]
    date_hierarchy = "created"
    actions = ["resend"]
    fields = readonly_fields = (
        "subscription",
        "event",
        "event_id",
        "status",
        "attempts",
        "created",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "response_code",
        "error",
        "response_body",
        "shown_payload",
    )

    @admin.display(description="payload")
    def shown_payload(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        # Whoever may change the subscriptions may send their events again.
        return request.user.has_perm("api.change_webhooksubscription")

    @admin.action(
        description="Resend the selected events (as new deliveries)",
        permissions=["resend"],
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("subscription"):
            webhooks.delivery_resend(delivery)
            count += 1
        self.message_user(request, f"Resending {count} event(s).", messages.SUCCESS)
