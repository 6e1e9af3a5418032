"""Where a person's data is: one small collector per kind of row.

An access request exports what every collector finds; an erasure deletes it (or,
for rows the shop must keep, anonymises it), in the order of ``COLLECTORS``:
children before their parents, so that nothing is deleted by a cascade that the
plan did not count. A new model that holds customer data gets a collector here
(as ``OrderLookup``, the order lookups, has); the
erasure test scans every table and fails until it has one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from api.models import WebhookDelivery
from chatbot.models import (
    Conversation,
    ConversationNote,
    Customer,
    Message,
    Order,
    OrderActionCode,
    OrderItem,
    OrderLookup,
    PendingReply,
    ReturnRequest,
    ShopSettings,
)
from classifier.models import TrainingExample
from ml.models import GoldenSet, ModelVersion
from privacy.models import StaffAccess
from privacy.subjects import Subject, mentions
from recommender.models import Interaction

# What an anonymised order's address becomes: the .invalid domain can never
# receive mail (RFC 2606), and the order stays valid in the admin's form.
ERASED_EMAIL = "erased@erased.invalid"


class Action(enum.Enum):
    DELETE = "deleted"
    ANONYMISE = "anonymised"
    KEEP = "kept (exported only)"


class Collector:
    """One kind of row: which of them are the subject's, and how to erase them."""

    model: type[models.Model]
    description: str = ""

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define rows()")

    def action(self) -> Action:
        return Action.DELETE

    def count(self, subject: Subject) -> int:
        return self.rows(subject).count()

    def exported(self, subject: Subject) -> list[dict[str, Any]]:
        """Every row, every field: ``{"model", "pk", "fields"}`` per row."""
        rows = self.rows(subject).order_by("pk")
        return list(serializers.serialize("python", rows))

    def erase(self, subject: Subject, pks: list[Any]) -> dict[str, int]:
        """Erase the rows ``pks`` (found before anything was erased); the rows
        deleted per model, cascades included."""
        if self.action() is not Action.DELETE or not pks:
            return {}
        _, deleted = self.model._default_manager.filter(pk__in=pks).delete()
        return {label: n for label, n in deleted.items() if n}


@dataclass
class ModelCollector(Collector):
    """Rows of ``model`` matching ``where(subject)``, deleted on erasure."""

    model: type[models.Model]
    where: Callable[[Subject], Q]
    description: str = ""

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        return self.model._default_manager.filter(self.where(subject))


def _webhook_deliveries(s: Subject) -> Q:
    # The payload names the conversation and the customer by their public ids; a
    # message event carries its text, and any text may hold an address.
    return (
        Q(payload__data__conversation__id__in=s.public_ids)
        | Q(payload__data__conversation__customer__in=s.customer_uuids)
        | mentions("payload_text", s.emails)
    )


class WebhookDeliveryCollector(ModelCollector):
    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        return WebhookDelivery.objects.annotate(
            payload_text=Cast("payload", TextField())
        ).filter(self.where(subject))


class GoldenCasesCollector(Collector):
    """The recommender's frozen evaluation cases: one per customer, by id.

    The set is the shop's (every candidate model is measured on it), so only the
    person's cases leave it, and its version goes up as an operator's change does.
    """

    model = GoldenSet
    description = "their cases in the recommender's golden set"

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        q = Q(pk__in=[])
        for customer_id in subject.customer_ids:
            q |= Q(cases__contains=[{"customer": customer_id}])
        return GoldenSet.objects.filter(q, kind=ModelVersion.Kind.RECOMMENDER)

    def action(self) -> Action:
        return Action.ANONYMISE

    def _theirs(self, golden: GoldenSet, subject: Subject) -> list[dict[str, Any]]:
        return [c for c in golden.cases if c.get("customer") in subject.customer_ids]

    def count(self, subject: Subject) -> int:
        return sum(len(self._theirs(g, subject)) for g in self.rows(subject))

    def exported(self, subject: Subject) -> list[dict[str, Any]]:
        return [
            {
                "model": self.label,
                "pk": g.pk,
                "fields": {"cases": self._theirs(g, subject)},
            }
            for g in self.rows(subject)
        ]

    def erase(self, subject: Subject, pks: list[Any]) -> dict[str, int]:
        removed = 0
        for golden in GoldenSet.objects.select_for_update().filter(pk__in=pks):
            theirs = self._theirs(golden, subject)
            golden.cases = [c for c in golden.cases if c not in theirs]
            golden.save(update_fields=["cases"])
            golden.bump("a customer's cases removed by an erasure request")
            removed += len(theirs)
        return {}


class AdminLogCollector(Collector):
    """The admin's history of changes to their rows: its entries name the row
    (a customer's is named by their name or email) and say what changed."""

    model = LogEntry
    description = "admin history entries about their rows"

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        types = ContentType.objects.get_for_models(
            Customer, Conversation, Message, ReturnRequest
        )
        ids = {
            Customer: subject.customer_ids,
            Conversation: subject.conversation_ids,
            Message: subject.message_ids,
            ReturnRequest: ReturnRequest.objects.filter(
                Q(conversation_id__in=subject.conversation_ids)
                | Q(order_id__in=subject.order_ids)
            ).values_list("pk", flat=True),
        }
        q = mentions("object_repr", subject.emails) | mentions(
            "change_message", subject.emails
        )
        for model, pks in ids.items():
            q |= Q(content_type=types[model], object_id__in=[str(pk) for pk in pks])
        return LogEntry.objects.filter(q)


class OrderCollector(Collector):
    """Their orders: the shop's records, so anonymised unless the shop chose
    deletion (``ShopSettings.erasure_deletes_orders``)."""

    model = Order
    description = "their orders (email, name and shopper id on the order)"

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        return Order.objects.filter(pk__in=subject.order_ids)

    def action(self) -> Action:
        if ShopSettings.load().erasure_deletes_orders:
            return Action.DELETE
        return Action.ANONYMISE

    def erase(self, subject: Subject, pks: list[Any]) -> dict[str, int]:
        if self.action() is Action.ANONYMISE:
            Order.objects.filter(pk__in=pks).update(
                email=ERASED_EMAIL, customer_name="", shopper_id=""
            )
            return {}
        return super().erase(subject, pks)


class OrderItemCollector(ModelCollector):
    """What their orders held: kept with an anonymised order, deleted with it."""

    def action(self) -> Action:
        if OrderCollector().action() is Action.DELETE:
            return Action.DELETE
        return Action.KEEP


class StaffAccessCollector(Collector):
    """Lines of the staff access log about their conversations.

    The log is the shop's oversight of its staff, so a line stays (who opened a
    transcript, when, where) but no longer says whose: the conversation's id is
    cleared. The export tells the person when and where their transcripts were
    read, not by whom (the staff's names are the staff's data).
    """

    model = StaffAccess
    description = "staff access log lines about their conversations (whose cleared)"

    def rows(self, subject: Subject) -> models.QuerySet[Any]:
        return StaffAccess.objects.filter(
            Q(conversation_id__in=subject.conversation_ids)
            | Q(conversation_public_id__in=subject.public_ids)
        )

    def action(self) -> Action:
        return Action.ANONYMISE

    def exported(self, subject: Subject) -> list[dict[str, Any]]:
        return [
            {
                "model": self.label,
                "pk": pk,
                "fields": {
                    "conversation_public_id": public_id,
                    "place": place,
                    "opened_at": opened_at,
                },
            }
            for pk, public_id, place, opened_at in self.rows(subject)
            .order_by("pk")
            .values_list("pk", "conversation_public_id", "place", "opened_at")
        ]

    def erase(self, subject: Subject, pks: list[Any]) -> dict[str, int]:
        StaffAccess.objects.filter(pk__in=pks).update(
            conversation=None, conversation_public_id=""
        )
        return {}


def _their_returns(s: Subject) -> Q:
    return Q(conversation_id__in=s.conversation_ids) | Q(order_id__in=s.order_ids)


# Children before parents (see the module's docstring).
COLLECTORS: list[Collector] = [
    WebhookDeliveryCollector(
        WebhookDelivery, _webhook_deliveries, "webhook deliveries naming them"
    ),
    ModelCollector(
        TrainingExample,
        lambda s: (
            Q(message_id__in=s.message_ids)
            | Q(conversation_id__in=s.conversation_ids)
            | mentions("text", s.emails)
        ),
        "training and golden examples from their messages or with their address",
    ),
    ModelCollector(
        Interaction,
        lambda s: (
            Q(customer_id__in=s.customer_ids)
            | Q(conversation_id__in=s.conversation_ids)
        ),
        "products they viewed, clicked, added or bought",
    ),
    GoldenCasesCollector(),
    AdminLogCollector(),
    StaffAccessCollector(),
    ModelCollector(
        OrderActionCode,
        lambda s: Q(order_id__in=s.order_ids),
        "one-time codes mailed for their orders",
    ),
    ModelCollector(ReturnRequest, _their_returns, "returns they asked for"),
    ModelCollector(
        OrderLookup,
        lambda s: (
            Q(conversation_id__in=s.conversation_ids)
            | Q(number__in=Order.objects.filter(pk__in=s.order_ids).values("number"))
        ),
        "order lookups from their conversations or of their orders' numbers",
    ),
    ModelCollector(
        PendingReply,
        lambda s: Q(message_id__in=s.message_ids),
        "replies the bot still owed them",
    ),
    ModelCollector(
        ConversationNote,
        lambda s: Q(conversation_id__in=s.conversation_ids),
        "agents' internal notes on their conversations",
    ),
    ModelCollector(
        Message,
        lambda s: Q(conversation_id__in=s.conversation_ids),
        "messages in their conversations (theirs, the bot's, the agents')",
    ),
    ModelCollector(
        Conversation,
        lambda s: Q(pk__in=s.conversation_ids),
        "their conversations, with the bot's state (order lookups) and ratings",
    ),
    OrderItemCollector(
        OrderItem, lambda s: Q(order_id__in=s.order_ids), "the items of their orders"
    ),
    OrderCollector(),
    ModelCollector(
        Customer, lambda s: Q(pk__in=s.customer_ids), "their customer records"
    ),
]
