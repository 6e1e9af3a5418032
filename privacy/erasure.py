"""Erasure requests: list what a person's erasure will remove, then remove it.

The admin (a confirmation page) and ``manage.py erase_customer`` (a table and a
question) both show :func:`erasure_plan` first, then call :func:`subject_erase`,
which finds the rows again under lock and erases them in one transaction: either
everything goes, or nothing does. The erasure is recorded without the data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from chatbot.models import Conversation, Customer
from privacy.collectors import COLLECTORS, Action
from privacy.models import DataSubjectRequest, email_digest
from privacy.subjects import Subject, subject_find


@dataclass(frozen=True)
class PlanLine:
    """One kind of row an erasure would touch, and what it would do to them."""

    label: str  # app_label.Model
    name: str
    description: str
    action: Action
    count: int


def erasure_plan(subject: Subject) -> list[PlanLine]:
    """What erasing ``subject`` would do, per kind of row (kinds with rows only)."""
    lines = []
    for collector in COLLECTORS:
        count = collector.count(subject)
        if count:
            lines.append(
                PlanLine(
                    label=collector.label,
                    name=collector.name,
                    description=collector.description,
                    action=collector.action(),
                    count=count,
                )
            )
    return lines


def plan_table(plan: list[PlanLine]) -> str:
    """The plan as a plain-text table, for the command line."""
    if not plan:
        return "Nothing is held about this person."
    width = max(len(line.name) for line in plan)
    rows = [f"{'kind':<{width}}  {'rows':>6}  what happens"]
    rows += [
        f"{line.name:<{width}}  {line.count:>6}  {line.action.value}" for line in plan
    ]
    return "\n".join(rows)


def subject_erase(
    *,
    customer_id: int | None = None,
    email: str | None = None,
    by: Any = None,
    by_name: str,
    via: str,
) -> DataSubjectRequest:
    """Erase everything held about the person named by ``customer_id`` or ``email``.

    Args:
        by: the staff user doing it (the admin), or ``None`` (the command).
        by_name: who did it, as the record keeps it.
        via: ``DataSubjectRequest.Via``.

    Returns:
        The record of the erasure: counts per kind, never the data.

    Raises:
        SubjectError: the request names nobody.
    """
    with transaction.atomic():
        subject = subject_find(customer_id=customer_id, email=email)
        # Hold their customer and conversation rows: a message being stored now
        # (message_store locks its conversation) waits, then finds it gone; one
        # stored just before is found below.
        list(Customer.objects.select_for_update().filter(pk__in=subject.customer_ids))
        list(
            Conversation.objects.select_for_update().filter(
                pk__in=subject.conversation_ids
            )
        )
        # Find everything before erasing anything: a kind found after its parent
        # was deleted would come up empty (and the plan would be wrong).
        found = [
            (collector, list(collector.rows(subject).values_list("pk", flat=True)))
            for collector in COLLECTORS
        ]
        anonymised = {
            collector.label: collector.count(subject)
            for collector, pks in found
            if pks and collector.action() is Action.ANONYMISE
        }
        deleted: Counter[str] = Counter()
        for collector, pks in found:
            deleted.update(collector.erase(subject, pks))
        return DataSubjectRequest.objects.create(
            kind=DataSubjectRequest.Kind.ERASURE,
            via=via,
            requested_by=by,
            requested_by_name=by_name,
            named_by=subject.named_by,
            customers=len(subject.customer_ids),
            email_digests=sorted(email_digest(e) for e in subject.emails),
            rows=dict(sorted(deleted.items())),
            anonymised=anonymised,
            total=sum(deleted.values()),
        )
