"""Writes of the classifier app: importing examples, training, correcting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from classifier.datasets import IntentSet
from classifier.models import OUT_OF_SCOPE, Intent, TrainingExample
from ml.models import GoldenSet, ModelVersion


@dataclass
class ImportResult:
    created: int
    skipped: int
    intents_created: int


def examples_import(
    *, intent_set: IntentSet, source: str, added_by: Any = None, golden: bool = False
) -> ImportResult:
    """Add intents and examples; examples already present are skipped. All or none.

    ``golden`` adds them to the golden set (evaluation only, never trained on);
    when one exists already, that is an operator's change and its version goes up.
    """
    with transaction.atomic():
        intents = {intent.name: intent for intent in Intent.objects.all()}
        names = {name for _, name in intent_set.examples if name != OUT_OF_SCOPE}
        names |= set(intent_set.descriptions)
        new = [
            Intent(name=name, description=intent_set.descriptions.get(name, ""))
            for name in sorted(names - set(intents))
        ]
        for intent in Intent.objects.bulk_create(new):
            intents[intent.name] = intent
        for name, description in intent_set.descriptions.items():
            if description and intents[name].description != description:
                intents[name].description = description
                intents[name].save(update_fields=["description"])
        existing = set(TrainingExample.objects.labelled())
        seen: set[tuple[str, str]] = set()
        rows = []
        for text, name in intent_set.examples:
            if (text, name) in existing or (text, name) in seen:
                continue
            seen.add((text, name))
            rows.append(
                TrainingExample(
                    text=text,
                    intent=None if name == OUT_OF_SCOPE else intents[name],
                    source=source,
                    added_by=added_by,
                    golden=golden,
                )
            )
        TrainingExample.objects.bulk_create(rows)
        golden_set = GoldenSet.objects.filter(kind=ModelVersion.Kind.INTENT).first()
        if golden and rows and golden_set is not None:
            golden_set.bump(f"imported {len(rows)} golden example(s)")
    return ImportResult(
        created=len(rows),
        skipped=len(intent_set.examples) - len(rows),
        intents_created=len(new),
    )


def examples_golden_change(
    *, examples: QuerySet[TrainingExample], golden: bool, by: Any
) -> int:
    """Put examples into the intents' golden set or take them out (an operator's
    decision); the set's version goes up by one when anything changed.

    Returns:
        How many examples changed.
    """
    with transaction.atomic():
        golden_set, created = GoldenSet.objects.select_for_update().get_or_create(
            kind=ModelVersion.Kind.INTENT, defaults={"note": "made by an operator"}
        )
        changed = examples.exclude(golden=golden).update(golden=golden)
        if changed and not created:
            who = getattr(by, "get_username", lambda: "")() or "an operator"
            golden_set.bump(
                f"{who} {'added' if golden else 'removed'} {changed} example(s)"
            )
    return changed


def golden_set_version() -> int | None:
    """The intents' golden set's version (``None`` before the first training)."""
    return (
        GoldenSet.objects.filter(kind=ModelVersion.Kind.INTENT)
        .values_list("version", flat=True)
        .first()
    )


def examples_export() -> IntentSet:
    return IntentSet(
        examples=TrainingExample.objects.labelled(),
        descriptions=dict(Intent.objects.values_list("name", "description")),
    )
