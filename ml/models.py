"""The model layer's tables: the registry of trained model versions, and the
embedding columns every searchable model shares."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

# The width of the shared encoder's vectors (all-MiniLM-L6-v2).
EMBEDDING_DIM = 384


class EmbeddedModel(models.Model):
    """A row searched by meaning: its text's embedding and that text's hash.

    Subclasses say what is embedded in :meth:`search_text`, connect
    ``ml.embedding_queue.embed_on_save`` in their app's ``ready()``, and extend
    ``EmbeddedModel.Meta`` to keep the HNSW index (named after the model).
    """

    embedding = VectorField(
        dimensions=EMBEDDING_DIM,
        null=True,
        blank=True,
        editable=False,
        help_text="Computed in the background whenever its text changes.",
    )
    embedded_text_sha256 = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Hash of the text the embedding was computed from: a save that "
        "leaves the text as it was does not embed it again.",
    )

    class Meta:
        abstract = True
        indexes = [
            HnswIndex(
                name="%(class)s_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def search_text(self) -> str:
        """The text the embedding is computed from."""
        raise NotImplementedError(
            f"{type(self).__name__} must say what is embedded: define search_text()"
        )


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


class GoldenSet(models.Model):
    """The frozen evaluation set of one kind of model, and its version.

    Created by the first training run of the kind; after that only an operator's
    explicit action changes what is in it (and bumps :attr:`version`), so every
    candidate of one version is measured on exactly the same examples. Where the
    members live depends on the kind: intent examples carry a ``golden`` flag;
    the recommender's time-split cases are stored here, in :attr:`cases`.
    """

    kind = models.CharField(
        max_length=20, choices=ModelVersion.Kind.choices, unique=True
    )
    version = models.PositiveIntegerField(
        default=1, help_text="Increases by one whenever an operator changes the set."
    )
    cases = models.JSONField(
        default=list,
        blank=True,
        help_text="For the recommender: the frozen (history, next product) cases.",
    )
    created = models.DateTimeField(auto_now_add=True)
    changed = models.DateTimeField(auto_now=True)
    note = models.CharField(
        max_length=300, blank=True, help_text="Why the set last changed."
    )

    def __str__(self) -> str:
        return f"{self.kind} golden set v{self.version}"

    def bump(self, note: str) -> None:
        """Record that an operator changed the set: a new version, and why."""
        self.version = models.F("version") + 1
        self.note = note[:300]
        self.save(update_fields=["version", "note", "changed"])
        self.refresh_from_db(fields=["version"])


class TrainingRun(models.Model):
    """One training of one kind of model, from its data snapshot to its outcome.

    Training writes its stage, progress and log here as it goes (at most about
    once a second), so the admin can show a run live.
    """

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        OPERATOR = "operator", "Operator (admin)"
        COMMAND = "command", "Command line"

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"
        REGISTERED = "registered", "Registered, not judged"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=ModelVersion.Kind.choices)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The operator who asked for it, for a run started in the admin.",
    )
    stage = models.CharField(
        max_length=80, default="queued", help_text="What the run is doing now."
    )
    percent = models.PositiveSmallIntegerField(default=0)
    log = models.TextField(blank=True, help_text="The last lines the run wrote.")
    snapshot = models.JSONField(
        default=dict,
        blank=True,
        help_text="What it trained and was measured on: counts per source and "
        "intent, examples left out (caps, conflicts), golden set and hold-out.",
    )
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="The candidate's and the active version's scores, side by side.",
    )
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, default=Outcome.RUNNING
    )
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why it was promoted or rejected."
    )
    error = models.TextField(blank=True, help_text="What made a failed run fail.")
    version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="The version the run registered.",
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["kind", "-created"], name="run_kind_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} run #{self.pk} ({self.outcome})"

    @property
    def is_running(self) -> bool:
        return self.finished is None and self.outcome == self.Outcome.RUNNING

    @property
    def duration(self) -> timedelta | None:
        if self.started is None:
            return None
        return (self.finished or timezone.now()) - self.started
