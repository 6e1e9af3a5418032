"""Analytics figures against a fixture whose right answers are known by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chatbot import analytics
from chatbot.console import charts
from chatbot.models import Conversation, Customer, Message
from recommender.models import Interaction
from tests.factories import (
    ConversationFactory,
    InteractionFactory,
    MessageFactory,
    ProductFactory,
)

START, END = date(2026, 3, 1), date(2026, 3, 10)


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> Any:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


class Builder:
    def __init__(self, customer: Customer) -> None:
        self.customer = customer

    def conversation(self, created: Any, **fields: Any) -> Conversation:
        conversation = ConversationFactory.create(customer=self.customer, **fields)
        Conversation.objects.filter(pk=conversation.pk).update(created=created)
        conversation.refresh_from_db()
        return conversation

    def message(
        self, conversation: Conversation, sender: str, created: Any, **fields: Any
    ) -> Message:
        message = MessageFactory.create(
            conversation=conversation, sender=sender, **fields
        )
        Message.objects.filter(pk=message.pk).update(created=created)
        return message


def card(sku: str) -> dict[str, str]:
    return {"sku": sku, "name": sku}


@pytest.fixture
def known(alice: Customer, charlie: Customer) -> None:
    """Four engaged conversations in 1 to 10 March 2026 and one outside it.

    c1: the bot alone (order_status 0.9, oos 0.3)
    c2: refund 0.6 with 2 cards → waits 09:05, taken 09:07, agent 09:08:30, resolved
        09:25, rated 4
    c3: no intent → waits 12:01, taken 12:03, agent 12:03:30, resolved 12:11, unrated
    c4: no customer message (not counted)
    c5: the bot alone, order_status 0.7 with 1 card, resolved, rated 2
    c6: 20 February (outside)
    """
    a, c = Builder(alice), Builder(charlie)
    c1 = a.conversation(at(2, 10))
    a.message(c1, "customer", at(2, 10))
    a.message(c1, "bot", at(2, 10, 0, 1), intent="order_status", confidence=0.9)
    a.message(c1, "customer", at(2, 10, 1))
    a.message(c1, "bot", at(2, 10, 1, 1), intent="oos", confidence=0.3)

    c2 = c.conversation(
        at(3, 9),
        status=Conversation.Status.RESOLVED,
        waiting_since=at(3, 9, 5),
        handed_over_at=at(3, 9, 7),
        resolved_at=at(3, 9, 25),
        csat_score=4,
    )
    c.message(c2, "customer", at(3, 9))
    c.message(
        c2,
        "bot",
        at(3, 9, 0, 1),
        intent="refund",
        confidence=0.6,
        payload={"cards": [card("A"), card("B")]},
    )
    c.message(c2, "agent", at(3, 9, 8, 30))
    c.message(c2, "agent", at(3, 9, 10))

    c3 = a.conversation(
        at(5, 12),
        status=Conversation.Status.RESOLVED,
        waiting_since=at(5, 12, 1),
        handed_over_at=at(5, 12, 3),
        resolved_at=at(5, 12, 11),
    )
    a.message(c3, "customer", at(5, 12))
    a.message(c3, "bot", at(5, 12, 0, 1), intent="", confidence=None)
    a.message(c3, "agent", at(5, 12, 3, 30))

    a.conversation(at(6, 8))  # c4: opened the widget, never wrote

    c5 = c.conversation(
        at(6, 14),
        status=Conversation.Status.RESOLVED,
        resolved_at=at(6, 14, 5),
        csat_score=2,
    )
    c.message(c5, "customer", at(6, 14))
    c.message(
        c5,
        "bot",
        at(6, 14, 0, 1),
        intent="order_status",
        confidence=0.7,
        payload={"cards": [card("C")], "quick_replies": []},
    )

    c6 = a.conversation(at(20, 9, month=2), waiting_since=at(20, 9, 1, month=2))
    a.message(c6, "customer", at(20, 9, month=2))
    a.message(c6, "bot", at(20, 9, 0, 1, month=2), intent="refund", confidence=0.1)

    product = ProductFactory.create(sku="A", name="A", category="x", price="1.00")
    for kind, when in [
        ("chat_click", at(3, 9, 2)),
        ("chat_click", at(6, 14, 1)),
        ("view", at(6, 14, 2)),
        ("chat_click", at(20, 9, 2, month=2)),
    ]:
        row = InteractionFactory.create(
            customer_id=alice.pk, product=product, kind=kind
        )
        Interaction.objects.filter(pk=row.pk).update(created=when)


def test_it_counts_only_conversations_where_the_customer_wrote(known):
    conversations = analytics.conversations_in(START, END)
    assert conversations.count() == 5
    assert analytics.engaged(conversations).count() == 4


def test_it_computes_containment_and_handoff_rate(known):
    conversations = analytics.conversations_in(START, END)
    assert analytics.containment(conversations) == analytics.Rate(2, 4)
    assert analytics.handoff_rate(conversations) == analytics.Rate(2, 4)
    assert analytics.containment(conversations).percent() == "50.0%"


def test_it_computes_the_fallback_rate_over_bot_messages(known):
    assert analytics.fallback_rate(analytics.messages_in(START, END)) == (
        analytics.Rate(2, 5)
    )


def test_it_gives_volume_and_mean_confidence_per_intent(known):
    stats = analytics.intent_stats(analytics.messages_in(START, END))
    assert [(s.intent, s.messages) for s in stats] == [
        ("order_status", 2),
        ("oos", 1),
        ("refund", 1),
    ]
    assert stats[0].mean_confidence == pytest.approx(0.8)
    assert stats[2].mean_confidence == pytest.approx(0.6)


def test_it_computes_csat_average_and_response_rate(known):
    result = analytics.csat(analytics.conversations_in(START, END))
    assert result.average == pytest.approx(3.0)
    assert result.response == analytics.Rate(2, 3)


def test_it_measures_first_response_and_resolution_times_of_people(known):
    conversations = analytics.conversations_in(START, END)
    first = analytics.first_response(conversations)
    assert sorted(first.seconds) == [30.0, 90.0]
    assert first.mean == 60.0
    resolved = analytics.resolution(conversations)
    assert sorted(resolved.seconds) == [600.0, 1200.0]
    assert resolved.mean == 900.0


def test_it_computes_click_through_on_product_cards(known):
    result = analytics.click_through(
        analytics.messages_in(START, END), analytics.interactions_in(START, END)
    )
    assert result == analytics.Rate(2, 3)


def test_it_counts_conversations_per_day_including_empty_days(known):
    daily = analytics.daily_volume(
        analytics.conversations_in(START, END), start=START, end=END
    )
    assert len(daily) == 10
    assert {day.day: n for day, n in daily if n} == {2: 1, 3: 1, 5: 1, 6: 1}


def test_it_reports_no_rate_rather_than_zero_without_data(db):
    report = analytics.report(START, END)
    assert report.conversations == 0
    assert report.containment.value is None
    assert report.csat.average is None
    assert report.first_response.mean is None
    assert report.containment.percent() == "—"


def test_it_shows_the_figures_to_staff_with_charts(client, bob, known):
    client.force_login(bob)
    response = client.get(
        "/console/analytics/", {"start": "2026-03-01", "end": "2026-03-10"}, secure=True
    )
    assert response.status_code == 200
    report = response.context["report"]
    assert report.containment == analytics.Rate(2, 4)
    html = response.content.decode()
    assert 'data-metric="containment">50.0%' in html
    assert 'data-metric="click-through">66.7%' in html
    assert html.count("<svg") == 2
    assert "cdn" not in html.lower()


def test_it_defaults_to_the_last_30_days(client, bob):
    client.force_login(bob)
    report = client.get("/console/analytics/", secure=True).context["report"]
    assert (report.end - report.start).days == 29


def test_it_falls_back_to_30_days_on_a_malformed_date(client, bob):
    client.force_login(bob)
    response = client.get("/console/analytics/", {"start": "yesterday"}, secure=True)
    assert response.status_code == 200
    assert "YYYY-MM-DD" in response.content.decode()


def test_it_exports_the_figures_as_csv(client, bob, known):
    client.force_login(bob)
    response = client.get(
        "/console/analytics/",
        {"start": "2026-03-01", "end": "2026-03-10", "format": "csv"},
        secure=True,
    )
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    by_metric = {row[0]: row[1:] for row in rows if row}
    assert by_metric["containment"] == ["0.5000", "2", "4"]
    assert by_metric["fallback_rate"] == ["0.4000", "2", "5"]
    assert by_metric["csat_average"][0] == "3.00"
    assert by_metric["first_response_seconds_mean"][0] == "60.0"
    assert by_metric["order_status"] == ["2", "0.8000", ""]


def test_it_keeps_markup_in_chart_labels_as_text():
    svg = charts.horizontal_bars([("<script>x</script>", 3, "3")], label="a & b")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "a &amp; b" in svg
