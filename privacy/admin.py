"""Admin pages of the privacy app."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from privacy.models import StaffAccess


@admin.register(StaffAccess)
class StaffAccessAdmin(admin.ModelAdmin):
    """Read only: an access log nobody can edit, add to or prune by hand (the
    nightly purge removes lines older than the shop's retention)."""

    list_display = [
        "opened_at",
        "username",
        "place",
        "api_key_name",
        "conversation_public_id",
        "conversation",
    ]
    list_filter = ["place", "user", "opened_at"]
    list_select_related = ["conversation"]
    search_fields = ["conversation_public_id", "username", "api_key_name"]
    search_help_text = "Conversation id, user name or API key name."
    date_hierarchy = "opened_at"
    fields = (
        "opened_at",
        "username",
        "user",
        "place",
        "api_key_name",
        "conversation_public_id",
        "conversation",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
