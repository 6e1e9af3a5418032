"""Staff admin for the model registry, the training runs and the golden sets."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from ml import registry
from ml.charts import metric_over_time
from ml.models import GoldenSet, ModelVersion, TrainingRun
from ml.runs import run_enqueue


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "version",
        "status",
        "created",
        "activated",
        "artifact_deleted",
    ]
    list_filter = ["kind", "status", "created"]
    search_fields = ["artifact_path", "sha256"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions are registered by training runs

    @admin.action(
        description="Activate the selected version (one per kind)",
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


def _primary_value(run: TrainingRun) -> float | None:
    """The candidate's primary metric on the golden set, as the run recorded it."""
    primary = run.metrics.get("primary")
    golden = (run.metrics.get("candidate") or {}).get("golden") or {}
    value = golden.get(primary) if primary else None
    return float(value) if isinstance(value, int | float) else None


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "trigger",
        "stage",
        "percent_done",
        "outcome",
        "reason",
        "started",
        "took",
        "version",
    ]
    list_filter = ["kind", "outcome", "trigger", "created"]
    search_fields = ["reason", "error", "log"]
    list_select_related = ["version", "requested_by"]
    readonly_fields = [
        "kind",
        "trigger",
        "requested_by",
        "stage",
        "percent",
        "outcome",
        "reason",
        "error",
        "version",
        "created",
        "started",
        "finished",
        "took",
        "log_tail",
        "data_snapshot",
        "scores",
    ]
    fieldsets = [
        (None, {"fields": ["kind", "trigger", "requested_by", "version"]}),
        (
            "Progress",
            {"fields": ["stage", "percent", "created", "started", "finished", "took"]},
        ),
        ("Outcome", {"fields": ["outcome", "reason", "error"]}),
        ("Data", {"fields": ["data_snapshot"]}),
        ("Scores", {"fields": ["scores"]}),
        ("Log", {"fields": ["log_tail"]}),
    ]
    actions = ["retrain_now"]
    change_list_template = "admin/ml/trainingrun/change_list.html"
    change_form_template = "admin/ml/trainingrun/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are started by "retrain now", the schedule, a command

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a record of what happened: read only

    @admin.display(description="done")
    def percent_done(self, run: TrainingRun) -> str:
        return f"{run.percent} %"

    @admin.display(description="duration")
    def took(self, run: TrainingRun) -> str:
        duration = run.duration
        if duration is None:
            return "—"
        seconds = int(duration.total_seconds())
        return f"{seconds // 60} min {seconds % 60:02d} s"

    @admin.display(description="log")
    def log_tail(self, run: TrainingRun) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", run.log)

    @admin.display(description="snapshot")
    def data_snapshot(self, run: TrainingRun) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(run.snapshot, indent=2, ensure_ascii=False)
        )

    @admin.display(description="candidate and active version")
    def scores(self, run: TrainingRun) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(run.metrics, indent=2, ensure_ascii=False)
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "retrain/<str:kind>/",
                self.admin_site.admin_view(self.retrain_view),
                name="ml_trainingrun_retrain",
            ),
            *super().get_urls(),
        ]

    def _may_retrain(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("ml.add_trainingrun"))

    def retrain_view(self, request: HttpRequest, kind: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._may_retrain(request):
            raise PermissionDenied
        if kind not in ModelVersion.Kind.values:
            raise Http404(f"no model kind {kind!r}")
        run = run_enqueue(kind=kind, requested_by=request.user)
        self.message_user(
            request,
            f"Queued {run} on the training queue; this page follows it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:ml_trainingrun_change", args=[run.pk])
        )

    @admin.action(description="Retrain the selected runs' models now")
    def retrain_now(
        self, request: HttpRequest, queryset: QuerySet[TrainingRun]
    ) -> None:
        if not self._may_retrain(request):
            raise PermissionDenied
        kinds = sorted(set(queryset.values_list("kind", flat=True)))
        for kind in kinds:
            run_enqueue(kind=kind, requested_by=request.user)
        self.message_user(
            request,
            f"Queued {len(kinds)} run(s) on the training queue: {', '.join(kinds)}.",
            messages.SUCCESS,
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        charts = []
        for kind, label in ModelVersion.Kind.choices:
            runs = (
                TrainingRun.objects.filter(
                    kind=kind, outcome=TrainingRun.Outcome.PROMOTED
                )
                .select_related("version")
                .order_by("finished")
            )
            points = [
                (
                    run.finished or run.created,
                    value,
                    f"{run.version or run} ({run.metrics.get('primary')})",
                )
                for run in runs
                if (value := _primary_value(run)) is not None
            ]
            charts.append(
                (
                    label,
                    mark_safe(  # noqa: S308 - escaped by metric_over_time
                        metric_over_time(
                            points,
                            label=f"{label}: promoted versions' golden-set score",
                        )
                    ),
                )
            )
        context = {
            "charts": charts,
            "kinds": ModelVersion.Kind.choices,
            "may_retrain": self._may_retrain(request),
            # Queued or running (a queued run lost with its task stops the
            # refresh after a day).
            "running": TrainingRun.objects.filter(
                finished__isnull=True, created__gte=timezone.now() - timedelta(days=1)
            ).exists(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)


@admin.register(GoldenSet)
class GoldenSetAdmin(admin.ModelAdmin):
    list_display = ["kind", "version", "size", "changed", "note"]
    readonly_fields = ["kind", "version", "size", "created", "changed", "note"]
    exclude = ["cases"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # frozen by the first training run

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # changed through the examples' "golden" actions only

    @admin.display(description="examples or cases")
    def size(self, golden: GoldenSet) -> int:
        if golden.kind == ModelVersion.Kind.RECOMMENDER:
            return len(golden.cases)
        # The intent examples carry the flag; this layer imports no app.
        from django.apps import apps

        example = apps.get_model("classifier", "TrainingExample")
        return int(example.objects.filter(golden=True).count())
