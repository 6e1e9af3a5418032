"""Staff admin for what the intent model learns from."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from classifier.models import Intent, TrainingExample


class SignedByStaffMixin:
    """A row added in the admin is signed by the staff member who added it.

    The chat's admin signs its notes the same way (it may import this app; the
    reverse would run imports the wrong way).
    """

    # The foreign key to the user who added the row.
    signed_by = "added_by"

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        field = obj._meta.get_field(self.signed_by).attname
        if getattr(obj, field) is None:
            setattr(obj, field, request.user.pk)
        super().save_model(request, obj, form, change)  # type: ignore[misc]


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "example_count", "created"]
    search_fields = ["name", "description"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intent]:
        return super().get_queryset(request).annotate(n_examples=Count("examples"))

    @admin.display(description="examples", ordering="n_examples")
    def example_count(self, obj: Any) -> int:
        return int(obj.n_examples)


class OutOfScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("in", "An intent"), ("out", "Out of scope")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[TrainingExample]
    ) -> QuerySet[TrainingExample]:
        if self.value() == "in":
            return queryset.filter(intent__isnull=False)
        if self.value() == "out":
            return queryset.filter(intent__isnull=True)
        return queryset


@admin.register(TrainingExample)
class TrainingExampleAdmin(SignedByStaffMixin, admin.ModelAdmin):
    list_display = [
        "text",
        "label",
        "source",
        "original_intent",
        "original_confidence",
        "added_by",
        "created",
    ]
    list_filter = ["source", OutOfScopeFilter, "intent", "created"]
    list_select_related = ["intent", "added_by"]
    search_fields = ["text", "original_intent"]
    autocomplete_fields = ["intent"]
    readonly_fields = [
        "added_by",
        "created",
        "original_intent",
        "original_confidence",
        "message_id",
    ]

    @admin.display(description="intent", ordering="intent__name")
    def label(self, obj: TrainingExample) -> str:
        return obj.label
