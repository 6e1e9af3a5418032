"""Staff admin for the model registry."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ml import registry
from ml.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "version",
        "status",
        "rollback",
        "created",
        "activated",
        "artifact_deleted",
        "load_problem",
    ]
    list_filter = ["kind", "status", "created"]
    search_fields = ["artifact_path", "sha256"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are registered by training runs

    @admin.display(
        description="can roll back to",
        boolean=True,
    )
    def rollback(self, version: ModelVersion) -> bool:
        """Was live before, kept its artifact, never failed to load: activate it."""
        return version.can_roll_back_to

    @admin.display(description="load problem", ordering="load_failed")
    def load_problem(self, version: ModelVersion) -> str:
        if not version.load_error:
            return ""
        when = f"{version.load_failed:%Y-%m-%d %H:%M}: " if version.load_failed else ""
        return f"{when}{version.load_error[:120]}"

    @admin.action(
        description="Activate the selected version (one per kind; on a version "
        "that can be rolled back to, a rollback)",
        permissions=["change"],
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        chosen = list(queryset)
        kinds = [v.kind for v in chosen]
        if len(set(kinds)) != len(kinds):
            self.message_user(
                request,
                "Select at most one version of each kind: only one can be active.",
                messages.ERROR,
            )
            return
        activated = []
        for version in chosen:
            try:
                registry.activate(version)
            except registry.ArtifactError as error:
                self.message_user(request, f"Not activated: {error}.", messages.ERROR)
            else:
                activated.append(version)
        if activated:
            self.message_user(
                request,
                "Activated "
                + ", ".join(f"{v.kind} v{v.version}" for v in activated)
                + ".",
                messages.SUCCESS,
            )
