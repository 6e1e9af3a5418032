"""Staff admin for what the agent console keeps: canned responses, notes, presence."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chatbot.models import AgentPresence, CannedResponse, ConversationNote
from classifier.admin import SignedByStaffMixin


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    fields = ["shortcut", "title", "text"]
    list_display = ["shortcut", "title", "updated"]
    search_fields = ["shortcut", "title", "text"]


@admin.register(ConversationNote)
class ConversationNoteAdmin(SignedByStaffMixin, admin.ModelAdmin):
    signed_by = "author"
    list_display = ["__str__", "conversation", "author", "created"]
    list_filter = ["created"]
    search_fields = ["text", "conversation__public_id"]
    readonly_fields = ["author", "created"]
    raw_id_fields = ["conversation"]


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ["user", "last_seen"]
    readonly_fields = ["user", "last_seen"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
