"""Staff admin for what the intent model learns from."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from classifier.models import Intent, TrainingExample
from classifier.services import examples_golden_change, golden_set_version


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


class ConflictFilter(admin.SimpleListFilter):
    title = "conflict"
    parameter_name = "conflict"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "In conflict (not trained on)"), ("no", "No conflict")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[TrainingExample]
    ) -> QuerySet[TrainingExample]:
        if self.value() == "yes":
            return queryset.filter(conflict__isnull=False)
        if self.value() == "no":
            return queryset.filter(conflict__isnull=True)
        return queryset


@admin.register(TrainingExample)
class TrainingExampleAdmin(SignedByStaffMixin, admin.ModelAdmin):
    list_display = [
        "text",
        "label",
        "source",
        "golden",
        "conflict_with",
        "original_intent",
        "original_confidence",
        "added_by",
        "created",
    ]
    list_filter = [
        "source",
        "golden",
        ConflictFilter,
        OutOfScopeFilter,
        "intent",
        "created",
    ]
    list_select_related = ["intent", "added_by", "conflict__intent"]
    search_fields = ["text", "original_intent"]
    autocomplete_fields = ["intent"]
    readonly_fields = [
        "added_by",
        "created",
        "original_intent",
        "original_confidence",
        "message_id",
        "conversation_id",
        "golden",
        "conflict_with",
    ]
    actions = ["add_to_golden_set", "remove_from_golden_set"]

    @admin.display(description="intent", ordering="intent__name")
    def label(self, obj: TrainingExample) -> str:
        return obj.label

    @admin.display(description="conflicts with")
    def conflict_with(self, obj: TrainingExample) -> str:
        other = obj.conflict
        if other is None:
            return "—"
        return f"“{other.text[:60]}” → {other.label}"

    def _change_golden(
        self, request: HttpRequest, queryset: QuerySet[TrainingExample], *, golden: bool
    ) -> None:
        changed = examples_golden_change(
            examples=queryset, golden=golden, by=request.user
        )
        if not changed:
            self.message_user(request, "No example changed.", messages.WARNING)
            return
        self.message_user(
            request,
            f"{'Added' if golden else 'Removed'} {changed} example(s) "
            f"{'to' if golden else 'from'} the golden set, now version "
            f"{golden_set_version()}. Golden examples are never trained on.",
            messages.SUCCESS,
        )

    @admin.action(description="Add to the golden set", permissions=["change"])
    def add_to_golden_set(
        self, request: HttpRequest, queryset: QuerySet[TrainingExample]
    ) -> None:
        self._change_golden(request, queryset, golden=True)

    @admin.action(description="Remove from the golden set", permissions=["change"])
    def remove_from_golden_set(
        self, request: HttpRequest, queryset: QuerySet[TrainingExample]
    ) -> None:
        self._change_golden(request, queryset, golden=False)
