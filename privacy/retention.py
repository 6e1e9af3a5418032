"""Retention: delete or anonymise what is older than the shop keeps it.

How long each kind is kept is the shop's (``ShopSettings.retention_*_days``, in
the admin); ``retention_purge`` applies it, run nightly by
``privacy.tasks.purge_expired`` and by ``manage.py purge_expired [--dry-run]``.

Every kind is purged in batches of at most ``batch_size`` rows, each batch its own
transaction, walking the table by primary key: the purge never holds one
transaction (nor a lock) over a whole table, a chat goes on meanwhile, and a purge
interrupted half way has lost nothing and finishes on its next run. A row is
checked again, under its lock, in the batch's transaction, so a conversation that
a customer wrote to since the batch was chosen stays. Running twice changes
nothing the second time: what is purged no longer matches.

Conversations count from their last activity, never from their creation, and one
waiting for or with a person is never purged
(``ConversationQuerySet.inactive_since``). Training examples reviewed from a
purged message stay (the model still learns from them), with their text redacted
and without the message or conversation id that led back to the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from api.models import WebhookDelivery
from chatbot.models import (
    Conversation,
    Customer,
    Message,
    OrderActionCode,
    ShopSettings,
)
from classifier.models import TrainingExample
from ml.models import GoldenSet, ModelVersion
from ml.redaction import ALWAYS, CONTACTS, redact
from privacy.models import StaffAccess
from recommender.models import Interaction

logger = logging.getLogger(__name__)

# What the report counts, in this order (the command's table, the task's result).
CONVERSATIONS = "conversations"
MESSAGES = "messages"
EXAMPLES_ANONYMISED = "training examples redacted and unlinked"
EXAMPLES_MERGED = "training examples dropped (same text and label left)"
INTERACTIONS = "tracking events"
WEBHOOK_DELIVERIES = "webhook deliveries"
CODES = "one-time codes"
LOGIN_RECORDS = "login attempt records"
ADDRESSES = "message network addresses cleared"
CUSTOMERS = "anonymous customers"
ACCESS_LOG = "staff access log lines"
KINDS = [
    CONVERSATIONS,
    MESSAGES,
    EXAMPLES_ANONYMISED,
    EXAMPLES_MERGED,
    INTERACTIONS,
    WEBHOOK_DELIVERIES,
    CODES,
    LOGIN_RECORDS,
    ADDRESSES,
    CUSTOMERS,
    ACCESS_LOG,
]

Progress = Callable[[str, int], None]


def retention_purge(
    *,
    now: datetime | None = None,
    batch_size: int,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Delete or anonymise everything older than the shop keeps it.

    ``dry_run``: only count what would go. ``progress(kind, rows so far)`` is
    called after each batch. Returns the rows per kind (``KINDS``), also logged.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    shop = ShopSettings.load()
    purge = Purge(
        shop=shop, now=now, batch_size=batch_size, dry_run=dry_run, progress=progress
    )
    # Conversations first: an anonymous customer goes once none is left.
    purge.conversations()
    purge.deletions()
    purge.message_addresses()
    purge.customers()
    for kind, rows in purge.counts.items():
        logger.info(
            "retention: %s %d %s", "would purge" if dry_run else "purged", rows, kind
        )
    return purge.counts


def pk_batches(candidates: QuerySet[Any], *, batch_size: int) -> Iterator[list[Any]]:
    """The candidates' primary keys, ``batch_size`` at a time, in order.

    A cursor on the key, not "the first N again": a row skipped (locked by a
    chat, or no longer matching) is never chosen twice, so the walk ends.
    """
    last = None
    while True:
        page = candidates.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        pks = list(page.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return
        last = pks[-1]
        yield pks


def locked(candidates: QuerySet[Any], pks: list[Any]) -> list[Any]:
    """Those of ``pks`` that still match, locked for the current transaction; a
    row someone else holds is left for the next run."""
    return list(
        candidates.filter(pk__in=pks)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)
    )


class Purge:
    """One run of the purge: the cutoffs, the counts, and one method per kind."""

    def __init__(
        self,
        *,
        shop: ShopSettings,
        now: datetime,
        batch_size: int,
        dry_run: bool,
        progress: Progress | None,
    ) -> None:
        self.shop = shop
        self.now = now
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.progress = progress
        self.counts = dict.fromkeys(KINDS, 0)
        self.order_number = shop.snapshot().order_number_re
        # (text, intent) of the examples redacted in this run: a dry run writes
        # none, yet two of them may come out the same.
        self.redacted: set[tuple[str, int | None]] = set()

    def cutoff(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    def add(self, kind: str, rows: int, *, report: bool = True) -> None:
        """Count ``rows`` of ``kind``; ``report``: tell the progress callback (one
        kind per step, so that its line is not interrupted by another)."""
        self.counts[kind] += rows
        if self.progress is not None and rows and report:
            self.progress(kind, self.counts[kind])

    # --- conversations, their messages and what was derived from them -------------

    def expired_conversations(self) -> QuerySet[Conversation]:
        days = self.shop.retention_conversations_days
        return Conversation.objects.inactive_since(self.cutoff(days))

    def conversations(self) -> None:
        expired = self.expired_conversations()
        if self.dry_run:
            messages = Message.objects.filter(conversation__in=expired.values("pk"))
            self.add(CONVERSATIONS, expired.count())
            self.add(MESSAGES, messages.count())
            self.unlink_examples(
                derived_examples(
                    conversation_ids=expired.values("pk"),
                    message_ids=messages.values("pk"),
                )
            )
            self.unlink_examples(orphaned_examples())
            return
        for pks in pk_batches(expired, batch_size=self.batch_size):
            with transaction.atomic():
                ids = locked(expired, pks)
                if not ids:
                    continue
                self.unlink_examples(
                    derived_examples(
                        conversation_ids=ids,
                        message_ids=Message.objects.filter(
                            conversation_id__in=ids
                        ).values("pk"),
                    )
                )
                # Plain ids (the recommender does not import the chat): they would
                # point at nothing, or at a later conversation with the same id.
                Interaction.objects.filter(conversation_id__in=ids).update(
                    conversation_id=None
                )
                _, deleted = Conversation.objects.filter(pk__in=ids).delete()
            self.add(MESSAGES, deleted.get("chatbot.Message", 0), report=False)
            self.add(CONVERSATIONS, deleted.get("chatbot.Conversation", 0))
        # Examples whose conversation went some other way (deleted in the admin,
        # erased on request) are redacted and unlinked too.
        orphans = orphaned_examples()
        for pks in pk_batches(orphans, batch_size=self.batch_size):
            with transaction.atomic():
                self.unlink_examples(orphans.filter(pk__in=pks))

    def redacted_text(self, text: str) -> str:
        """An example's text once its customer is forgotten: contacts are masked
        too, whatever the shop chose for live training data."""
        kinds = ALWAYS | CONTACTS
        return redact(text, kinds=kinds, order_numbers=self.order_number).text

    def unlink_examples(self, examples: QuerySet[TrainingExample]) -> None:
        """Redact these training examples and cut their link to the chat; call in
        the transaction that deletes what they came from."""
        if not self.dry_run:
            examples = examples.select_for_update()
        golden_redacted = 0
        for example in examples.order_by("pk"):
            text = self.redacted_text(example.text)
            same_label = (
                Q(intent__isnull=True)  # out of scope
                if example.intent_id is None
                else Q(intent_id=example.intent_id)
            )
            twin = TrainingExample.objects.filter(same_label, text=text).exclude(
                pk=example.pk
            )
            label = (text, example.intent_id)
            if text != example.text and (twin.exists() or label in self.redacted):
                # Unique per text and label: another example already says the
                # same, redacted, and teaches the model the same thing.
                if not self.dry_run:
                    example.delete()
                self.add(EXAMPLES_MERGED, 1, report=False)
                continue
            self.redacted.add(label)
            if self.dry_run:
                self.add(EXAMPLES_ANONYMISED, 1, report=False)
                continue
            if example.golden and text != example.text:
                golden_redacted += 1
            example.text = text
            example.message_id = None
            example.conversation_id = None
            example.save(update_fields=["text", "message_id", "conversation_id"])
            self.add(EXAMPLES_ANONYMISED, 1, report=False)
        if golden_redacted:
            # The frozen evaluation set changed (as when an operator edits it):
            # its version goes up, so no run compares scores across the change.
            # A golden example deleted above bumps it already (classifier.apps).
            golden = GoldenSet.objects.filter(kind=ModelVersion.Kind.INTENT).first()
            if golden is not None:
                golden.bump(f"retention redacted {golden_redacted} golden example(s)")

    # --- rows that simply go once old -----------------------------------------------

    def deletions(self) -> None:
        shop = self.shop
        tracking = self.cutoff(shop.retention_tracking_days)
        self.delete(INTERACTIONS, Interaction.objects.filter(created__lt=tracking))
        deliveries = self.cutoff(shop.retention_webhook_deliveries_days)
        self.delete(
            WEBHOOK_DELIVERIES,
            # A pending one is still being sent (they give up after a day).
            WebhookDelivery.objects.filter(created__lt=deliveries).exclude(
                status=WebhookDelivery.Status.PENDING
            ),
        )
        codes = self.cutoff(shop.retention_codes_days)
        self.delete(CODES, OrderActionCode.objects.filter(created__lt=codes))
        self.delete_login_records(self.cutoff(shop.retention_rate_limit_days))
        access = self.cutoff(shop.retention_access_log_days)
        self.delete(ACCESS_LOG, StaffAccess.objects.older_than(access))

    def delete_login_records(self, cutoff: datetime) -> None:
        # django-axes: failed logins that lock an address out, and the log of
        # logins. Its own ``axes_reset_logs`` deletes in one statement.
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        for model in (AccessAttempt, AccessFailureLog, AccessLog):
            self.delete(LOGIN_RECORDS, model.objects.filter(attempt_time__lt=cutoff))

    def delete(self, kind: str, candidates: QuerySet[Any]) -> None:
        if self.dry_run:
            self.add(kind, candidates.count())
            return
        model: type[Model] = candidates.model
        for pks in pk_batches(candidates, batch_size=self.batch_size):
            with transaction.atomic():
                _, deleted = candidates.filter(pk__in=pks).delete()
            self.add(kind, deleted.get(model._meta.label, 0))

    def message_addresses(self) -> None:
        """A customer message's network address limits order lookups from one
        address while its reply is made; it is kept as long as login records."""
        cutoff = self.cutoff(self.shop.retention_rate_limit_days)
        candidates = Message.objects.filter(
            created__lt=cutoff, client_address__isnull=False
        )
        if self.dry_run:
            # Not those the run deletes with their conversation.
            purged = self.expired_conversations().values("pk")
            self.add(ADDRESSES, candidates.exclude(conversation__in=purged).count())
            return
        for pks in pk_batches(candidates, batch_size=self.batch_size):
            with transaction.atomic():
                cleared = candidates.filter(pk__in=pks).update(client_address=None)
            self.add(ADDRESSES, cleared)

    # --- customers who never said who they are --------------------------------------

    def customers(self) -> None:
        cutoff = self.cutoff(self.shop.retention_anonymous_customers_days)
        # Counted against the conversations that stay, so that a dry run counts
        # the customers whose last conversation the run would purge.
        staying = Conversation.objects.filter(customer=OuterRef("pk")).exclude(
            pk__in=self.expired_conversations().values("pk")
        )
        candidates = Customer.objects.filter(
            email="", external_id="", last_seen__lt=cutoff
        ).exclude(Exists(staying))
        if self.dry_run:
            self.add(CUSTOMERS, candidates.count())
            self.add(
                INTERACTIONS,
                Interaction.objects.filter(
                    customer_id__in=candidates.values("pk"),
                    created__gte=self.cutoff(self.shop.retention_tracking_days),
                ).count(),
            )
            return
        for pks in pk_batches(candidates, batch_size=self.batch_size):
            with transaction.atomic():
                ids = locked(candidates, pks)
                if not ids:
                    continue
                events, _ = Interaction.objects.filter(customer_id__in=ids).delete()
                _, deleted = Customer.objects.filter(pk__in=ids).delete()
            self.add(INTERACTIONS, events, report=False)
            self.add(CUSTOMERS, deleted.get("chatbot.Customer", 0))


def orphaned_examples() -> QuerySet[TrainingExample]:
    """Examples that name a conversation or message that no longer exists."""
    return TrainingExample.objects.filter(
        Q(conversation_id__isnull=False)
        & ~Q(conversation_id__in=Conversation.objects.values("pk"))
        | Q(message_id__isnull=False) & ~Q(message_id__in=Message.objects.values("pk"))
    )


def derived_examples(
    *, conversation_ids: Any, message_ids: Any
) -> QuerySet[TrainingExample]:
    """Training (and golden) examples reviewed from these conversations or messages
    (ids, or a query of them)."""
    return TrainingExample.objects.filter(
        Q(conversation_id__in=conversation_ids) | Q(message_id__in=message_ids)
    )
