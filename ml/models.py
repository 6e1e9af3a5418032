"""The model registry: every trained model version and the artifact behind it."""

from __future__ import annotations

from django.db import models


class ModelVersion(models.Model):
    class Kind(models.TextChoices):
        INTENT = "intent", "Intent classifier"
        RECOMMENDER = "recommender", "Recommender"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.PositiveIntegerField(help_text="Increases by one per kind.")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CANDIDATE
    )
    metrics = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(
        max_length=500, help_text="Folder with config.json and safetensors files."
    )
    sha256 = models.CharField(
        max_length=64, help_text="SHA-256 over the artifact's files, checked on load."
    )
    trained_on = models.JSONField(
        default=dict, blank=True, help_text="What data the model was trained on."
    )
    created = models.DateTimeField(auto_now_add=True)
    activated = models.DateTimeField(null=True, blank=True)
    artifact_deleted = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the artifact was deleted to save disk; only the newest "
        "MODEL_KEEP_VERSIONS inactive versions of a kind keep theirs.",
    )

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="unique_version"),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(status="active"),
                name="one_active_version_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} v{self.version} ({self.status})"
