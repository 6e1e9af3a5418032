"""List filters the conversation and message lists share."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from chatbot.analytics import LOW_CONFIDENCE
from chatbot.models import Message


class IntentFilter(admin.SimpleListFilter):
    title = "intent"
    parameter_name = "intent"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            Message.objects.filter(sender=Message.Sender.BOT)
            .exclude(intent="")
            .order_by("intent")
            .values_list("intent", flat=True)
            .distinct()
        )
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        if queryset.model is Message:
            return queryset.filter(intent=self.value())
        matching = Message.objects.filter(
            conversation=OuterRef("pk"), sender=Message.Sender.BOT, intent=self.value()
        )
        return queryset.filter(Exists(matching))


class LowConfidenceFilter(admin.SimpleListFilter):
    title = "bot confidence"
    parameter_name = "confidence"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("low", f"Below {LOW_CONFIDENCE:g}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "low":
            return queryset
        if queryset.model is Message:
            return queryset.filter(
                sender=Message.Sender.BOT, confidence__lt=LOW_CONFIDENCE
            )
        unsure = Message.objects.filter(
            conversation=OuterRef("pk"),
            sender=Message.Sender.BOT,
            confidence__lt=LOW_CONFIDENCE,
        )
        return queryset.filter(Exists(unsure))


class YesNoFilter(admin.SimpleListFilter):
    """A filter with two answers: the rows that meet :meth:`condition`, or the rest."""

    # The labels of "yes" and "no", in the order shown.
    answers: list[tuple[str, str]] = [("yes", "Yes"), ("no", "No")]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return self.answers

    def condition(self, queryset: QuerySet[Any]) -> tuple[QuerySet[Any], Q]:
        """The queryset to filter (annotated if the condition needs it), and the
        condition."""
        raise NotImplementedError(f"{type(self).__name__} must define condition()")

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in ("yes", "no"):
            return queryset
        queryset, condition = self.condition(queryset)
        return queryset.filter(condition if self.value() == "yes" else ~condition)
