from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chatbot.models import Conversation, Customer, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("seq", "sender", "text", "intent", "confidence", "created")
    readonly_fields = fields
    ordering = ["seq"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "customer",
        "status",
        "assigned_agent",
        "created",
        "csat_score",
    ]
    list_filter = ["status", "created", "csat_score"]
    search_fields = ["public_id", "customer__email", "messages__text"]
    readonly_fields = ["public_id", "customer", "last_seq", "created", "updated"]
    inlines = [MessageInline]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "created", "last_seen"]
    search_fields = ["name", "email"]
