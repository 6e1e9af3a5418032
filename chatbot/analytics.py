"""Support analytics: how much the bot handles alone, how people and customers fare.

Pure functions over querysets — each takes the rows of a period and returns numbers —
so every figure is tested against data whose right answer is known.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from statistics import mean, median
from typing import Any

from django.db.models import Avg, Count, Exists, F, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatbot.models import Boundary, Conversation, Message, ShopSettings
from chatbot.review import with_source
from classifier.models import OUT_OF_SCOPE
from recommender.models import Interaction

LOW_CONFIDENCE = 0.5
DEFAULT_DAYS = 30
# The latest questions the bot did not understand that the report lists.
UNANSWERED_SHOWN = 20


@dataclass(frozen=True)
class Rate:
    """``part`` out of ``whole``; ``value`` is ``None`` when there is nothing to
    divide (no data is not the same as 0 %)."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole else None

    def percent(self) -> str:
        return "—" if self.value is None else f"{self.value:.1%}"


@dataclass(frozen=True)
class Durations:
    """Durations in seconds: how many, their mean and median (``None`` if none)."""

    seconds: list[float]

    @property
    def count(self) -> int:
        return len(self.seconds)

    @property
    def mean(self) -> float | None:
        return mean(self.seconds) if self.seconds else None

    @property
    def median(self) -> float | None:
        return median(self.seconds) if self.seconds else None


@dataclass(frozen=True)
class IntentStat:
    intent: str
    messages: int
    mean_confidence: float | None


@dataclass(frozen=True)
class Csat:
    average: float | None
    response: Rate  # rated conversations / resolved conversations


@dataclass(frozen=True)
class Unanswered:
    """A customer's question the bot answered with a fallback, as exports keep it."""

    text: str
    created: datetime
    conversation: str


@dataclass
class Report:
    start: date
    end: date
    conversations: int
    containment: Rate
    handoff: Rate
    fallback: Rate
    intents: list[IntentStat]
    csat: Csat
    first_response: Durations
    resolution: Durations
    click_through: Rate
    daily: list[tuple[date, int]] = field(default_factory=list)
    unanswered: list[Unanswered] = field(default_factory=list)


# --- the period ------------------------------------------------------------------


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """From ``start`` 00:00 to the end of ``end`` (both days included), local time."""
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def default_period(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def conversations_in(start: date, end: date) -> QuerySet[Conversation]:
    low, high = period_bounds(start, end)
    return Conversation.objects.filter(created__gte=low, created__lt=high)


def messages_in(start: date, end: date) -> QuerySet[Message]:
    low, high = period_bounds(start, end)
    return Message.objects.filter(created__gte=low, created__lt=high)


def interactions_in(start: date, end: date) -> QuerySet[Interaction]:
    low, high = period_bounds(start, end)
    return Interaction.objects.filter(created__gte=low, created__lt=high)


# --- the figures ------------------------------------------------------------------


def engaged(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Conversations in which the customer wrote at least once."""
    customer_messages = Message.objects.filter(
        conversation=OuterRef("pk"), sender=Message.Sender.CUSTOMER
    )
    return conversations.filter(Exists(customer_messages))


def _with_person() -> Q:
    agent_messages = Message.objects.filter(
        conversation=OuterRef("pk"), sender=Message.Sender.AGENT
    )
    return (
        Q(waiting_since__isnull=False)
        | Q(handed_over_at__isnull=False)
        | Q(Exists(agent_messages))
    )


def containment(conversations: QuerySet[Conversation]) -> Rate:
    """Engaged conversations the bot handled to the end: no one asked for a person,
    no person took part."""
    base = engaged(conversations)
    return Rate(base.exclude(_with_person()).count(), base.count())


def handoff_rate(conversations: QuerySet[Conversation]) -> Rate:
    """Engaged conversations handed to (or queued for) a person."""
    base = engaged(conversations)
    return Rate(base.filter(_with_person()).count(), base.count())


def bot_messages(messages: QuerySet[Message]) -> QuerySet[Message]:
    return messages.filter(sender=Message.Sender.BOT)


def fallbacks(messages: QuerySet[Message]) -> QuerySet[Message]:
    """Bot messages that understood nothing: out of scope or no intent at all."""
    return bot_messages(messages).filter(Q(intent=OUT_OF_SCOPE) | Q(intent=""))


def fallback_rate(messages: QuerySet[Message]) -> Rate:
    return Rate(fallbacks(messages).count(), bot_messages(messages).count())


def unanswered(
    messages: QuerySet[Message], *, shop: ShopSettings, limit: int | None = None
) -> list[Unanswered]:
    """The latest questions the bot answered with a fallback: what to teach it next.

    Their text leaves the conversation for a report (and its CSV), so it is
    redacted as every export is; button presses are no question and are left out.
    """
    # The plugin can't see an annotation made in another function.
    answered = with_source(fallbacks(messages)).values("source_id")  # type: ignore[misc]
    rows = (
        Message.objects.filter(pk__in=answered, sender=Message.Sender.CUSTOMER)
        .exclude(payload__has_key="postback")
        .select_related("conversation")
        .order_by("-created", "-pk")[: limit or UNANSWERED_SHOWN]
    )
    return [
        Unanswered(
            text=shop.redact(m.text, boundary=Boundary.EXPORT).text,
            created=m.created,
            conversation=m.conversation.public_id,
        )
        for m in rows
    ]


def intent_stats(messages: QuerySet[Message]) -> list[IntentStat]:
    """Bot messages per recognised intent with their mean confidence, most first."""
    rows = (
        bot_messages(messages)
        .exclude(intent="")
        .values("intent")
        .annotate(n=Count("pk"), confidence=Avg("confidence"))
        .order_by("-n", "intent")
    )
    return [IntentStat(r["intent"], r["n"], r["confidence"]) for r in rows]


def csat(conversations: QuerySet[Conversation]) -> Csat:
    resolved = conversations.filter(status=Conversation.Status.RESOLVED)
    rated = resolved.filter(csat_score__isnull=False)
    average = rated.aggregate(a=Avg("csat_score"))["a"]
    return Csat(average=average, response=Rate(rated.count(), resolved.count()))


def first_response(conversations: QuerySet[Conversation]) -> Durations:
    """From a person taking over to their first message, per conversation."""
    rows = (
        conversations.filter(handed_over_at__isnull=False)
        .annotate(
            first=Min(
                "messages__created",
                filter=Q(
                    messages__sender=Message.Sender.AGENT,
                    messages__created__gte=F("handed_over_at"),
                ),
            )
        )
        .filter(first__isnull=False)
        .values_list("handed_over_at", "first")
    )
    return Durations(
        [(first - taken).total_seconds() for taken, first in rows if taken and first]
    )


def resolution(conversations: QuerySet[Conversation]) -> Durations:
    """From asking for a person to the conversation being resolved."""
    rows = conversations.filter(
        waiting_since__isnull=False, resolved_at__isnull=False
    ).values_list("waiting_since", "resolved_at")
    return Durations(
        [(done - asked).total_seconds() for asked, done in rows if asked and done]
    )


def cards_shown(messages: QuerySet[Message]) -> int:
    """Product cards the bot showed (a message can carry several)."""
    payloads = bot_messages(messages).filter(payload__has_key="cards")
    return sum(
        len(p["cards"])
        for p in payloads.values_list("payload", flat=True)
        if isinstance(p.get("cards"), list)
    )


def click_through(
    messages: QuerySet[Message], interactions: QuerySet[Interaction]
) -> Rate:
    """Clicks on products in the chat per product card shown."""
    clicks = interactions.filter(kind=Interaction.Kind.CHAT_CLICK).count()
    return Rate(clicks, cards_shown(messages))


def daily_volume(
    conversations: QuerySet[Conversation], *, start: date, end: date
) -> list[tuple[date, int]]:
    """Engaged conversations per day, every day of the period (0 where none)."""
    counts: Counter[date] = Counter(
        {
            row["day"]: row["n"]
            for row in engaged(conversations)
            .annotate(day=TruncDate("created"))
            .values("day")
            .annotate(n=Count("pk"))
        }
    )
    days = (end - start).days + 1
    return [
        (start + timedelta(days=i), counts[start + timedelta(days=i)])
        for i in range(days)
    ]


def report(start: date, end: date, *, with_text: bool = True) -> Report:
    """Every figure for the days ``start`` to ``end`` (inclusive); the customers'
    unanswered questions only ``with_text`` (for those who may read transcripts)."""
    conversations = conversations_in(start, end)
    messages = messages_in(start, end)
    return Report(
        start=start,
        end=end,
        conversations=engaged(conversations).count(),
        containment=containment(conversations),
        handoff=handoff_rate(conversations),
        fallback=fallback_rate(messages),
        intents=intent_stats(messages),
        csat=csat(conversations),
        first_response=first_response(conversations),
        resolution=resolution(conversations),
        click_through=click_through(messages, interactions_in(start, end)),
        daily=daily_volume(conversations, start=start, end=end),
        unanswered=unanswered(messages, shop=ShopSettings.load()) if with_text else [],
    )


def report_rows(result: Report) -> list[list[Any]]:
    """The report as CSV rows: the summary figures, then one row per intent."""

    def number(value: float | None, digits: int = 4) -> str:
        return "" if value is None else f"{value:.{digits}f}"

    rows: list[list[Any]] = [
        ["metric", "value", "part", "whole"],
        ["period_start", result.start.isoformat(), "", ""],
        ["period_end", result.end.isoformat(), "", ""],
        ["conversations", result.conversations, "", ""],
    ]
    for name, rate in (
        ("containment", result.containment),
        ("handoff_rate", result.handoff),
        ("fallback_rate", result.fallback),
        ("csat_response_rate", result.csat.response),
        ("product_click_through", result.click_through),
    ):
        rows.append([name, number(rate.value), rate.part, rate.whole])
    rows.append(["csat_average", number(result.csat.average, 2), "", ""])
    for name, durations in (
        ("first_response_seconds", result.first_response),
        ("resolution_seconds", result.resolution),
    ):
        rows.append([f"{name}_mean", number(durations.mean, 1), "", durations.count])
        rows.append([f"{name}_median", number(durations.median, 1), "", ""])
    rows.append([])
    rows.append(["intent", "bot_messages", "mean_confidence", ""])
    for stat in result.intents:
        rows.append([stat.intent, stat.messages, number(stat.mean_confidence), ""])
    rows.append([])
    rows.append(["day", "conversations", "", ""])
    rows.extend([day.isoformat(), n, "", ""] for day, n in result.daily)
    rows.append([])
    rows.append(["unanswered", "created", "conversation", ""])
    rows.extend(
        [item.text, item.created.isoformat(), item.conversation, ""]
        for item in result.unanswered
    )
    return rows
