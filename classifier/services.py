"""Writes of the classifier app: importing examples, training, correcting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from classifier.datasets import IntentSet
from classifier.models import OUT_OF_SCOPE, Intent, TrainingExample


@dataclass
class ImportResult:
    created: int
    skipped: int
    intents_created: int


def examples_import(
    *, intent_set: IntentSet, source: str, added_by: Any = None
) -> ImportResult:
    """Add intents and examples; examples already present are skipped. All or none."""
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
                )
            )
        TrainingExample.objects.bulk_create(rows)
    return ImportResult(
        created=len(rows),
        skipped=len(intent_set.examples) - len(rows),
        intents_created=len(new),
    )


def examples_export() -> IntentSet:
    return IntentSet(
        examples=TrainingExample.objects.labelled(),
        descriptions=dict(Intent.objects.values_list("name", "description")),
    )
