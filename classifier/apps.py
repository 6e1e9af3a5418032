from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Intent classification"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from classifier.models import TrainingExample

        post_delete.connect(
            _golden_example_deleted,
            sender=TrainingExample,
            dispatch_uid="classifier.golden_example_deleted",
        )


def _golden_example_deleted(*, instance: Any, **kwargs: Any) -> None:
    """A golden example that goes (an operator, a customer's erasure) changes the
    set: its version goes up, so no run compares scores across the change."""
    if not instance.golden:
        return
    from ml.models import GoldenSet, ModelVersion

    golden = GoldenSet.objects.filter(kind=ModelVersion.Kind.INTENT).first()
    if golden is not None:
        golden.bump(f"deleted the golden example “{instance.text[:80]}”")
