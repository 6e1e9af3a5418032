"""Review that explains the model: the most uncertain first, and beside each bot
message the training examples that pulled the model its way, fixable in one click."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import reverse

from chatbot.console.selectors import message_frame
from chatbot.models import Conversation, Customer, Message
from classifier.models import Intent, TrainingExample
from tests.factories import (
    ConversationFactory,
    IntentFactory,
    MessageFactory,
    StaffFactory,
    TrainingExampleFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db: Any) -> Any:
    """A support agent: staff, in the "Support agent" group (review included)."""
    migration = importlib.import_module("chatbot.migrations.0004_support_agent_group")
    migration.create_group(apps, None)
    user = StaffFactory.create(username="dave", is_staff=True)
    user.groups.add(Group.objects.get(name="Support agent"))
    return user


def answered(
    customer: Customer,
    text: str,
    *,
    ranking: list[tuple[str, float]],
    form_value: bool = False,
    conversation: Conversation | None = None,
) -> Message:
    """A customer message and the bot's reply carrying the model's reading."""
    conversation = conversation or ConversationFactory.create(customer=customer)
    asked = MessageFactory.create(conversation=conversation, text=text)
    (best, p1), (_, p2) = ranking[0], ranking[1]
    return MessageFactory.create(
        conversation=conversation,
        sender=Message.Sender.BOT,
        text="Here's what I found.",
        intent=best,
        confidence=p1 if best != "oos" else 0.0,
        ranking=[list(pair) for pair in ranking],
        uncertainty=1 - (p1 - p2),
        form_value=form_value,
        client_msg_id=f"reply-to:{asked.pk}",
    )


def examples(intent: Intent | None, texts: list[str], **fields: Any) -> None:
    for text in texts:
        TrainingExampleFactory.create(text=text, intent=intent, **fields)


def review_page(client: Any) -> Any:
    return client.get(reverse("admin:chatbot_message_review"), secure=True)


def test_it_puts_the_most_uncertain_first_and_a_sure_out_of_scope_last(
    client, agent, alice
):
    sure_oos = answered(
        alice, "who won the match", ranking=[("oos", 0.96), ("greeting", 0.02)]
    )
    torn = answered(
        alice, "it came broken", ranking=[("refund", 0.41), ("return_item", 0.38)]
    )
    leaning = answered(
        alice, "cancel it", ranking=[("cancel_order", 0.7), ("refund", 0.2)]
    )
    client.force_login(agent)
    queued = [item["message"].pk for item in review_page(client).context["items"]]
    assert queued == [torn.pk, leaning.pk, sure_oos.pk]


def test_values_typed_into_forms_are_not_listed_for_review(client, agent, alice):
    chat = ConversationFactory.create(customer=alice)
    asked = answered(
        alice,
        "where is my order",
        ranking=[("order_status", 0.5), ("shipping", 0.4)],
        conversation=chat,
    )
    for value in ["NW-10234", "alice@example.com", "482913"]:
        answered(
            alice,
            value,
            ranking=[("greeting", 0.2), ("oos", 0.19)],
            form_value=True,
            conversation=chat,
        )
    client.force_login(agent)
    response = review_page(client)
    assert [item["message"].pk for item in response.context["items"]] == [asked.pk]
    assert response.context["remaining"] == 1


def test_it_shows_the_nearest_examples_of_the_prediction_and_the_runner_up(
    client, agent, alice
):
    order_status = IntentFactory.create(name="order_status")
    refund = IntentFactory.create(name="refund")
    examples(
        order_status,
        [
            "where's my parcel",
            "has my package shipped",
            "when will my order arrive",
            "what colours does the jacket come in",
        ],
    )
    examples(
        refund,
        ["i want my money back", "refund my order please", "how long do refunds take"],
        source=TrainingExample.Source.IMPORT,
    )
    answered(
        alice,
        "my parcel never arrived, where is it?",
        ranking=[("order_status", 0.55), ("refund", 0.35), ("oos", 0.05)],
    )
    client.force_login(agent)
    response = review_page(client)
    readings = response.context["items"][0]["readings"]
    assert [r.label for r in readings] == ["order_status", "refund"]
    nearest = [n.example.text for n in readings[0].neighbours]
    assert len(nearest) == 3
    assert "what colours does the jacket come in" not in nearest
    assert nearest[0] in {"where's my parcel", "when will my order arrive"}
    assert {n.example.label for n in readings[1].neighbours} == {"refund"}
    page = response.content.decode()
    assert "Written by the team" in page and "Imported" in page
    assert "Fix label" in page


def test_one_click_fixes_a_mislabelled_example(client, agent, alice):
    order_status = IntentFactory.create(name="order_status")
    refund = IntentFactory.create(name="refund")
    examples(order_status, ["where's my parcel", "has my package shipped"])
    examples(refund, ["refund my order please"])
    mislabelled = TrainingExampleFactory.create(
        text="i want my money back for this", intent=order_status
    )
    answered(
        alice,
        "can i get my money back",
        ranking=[("order_status", 0.5), ("refund", 0.45)],
    )
    client.force_login(agent)
    shown = review_page(client).context["items"][0]["readings"][0].neighbours
    assert mislabelled.pk in {n.example.pk for n in shown}
    queue = reverse("admin:chatbot_message_review")
    response = client.post(
        reverse("admin:chatbot_message_relabel_example", args=[mislabelled.pk]),
        {"intent": "refund", "next": queue},
        secure=True,
    )
    assert response["Location"] == queue
    mislabelled.refresh_from_db()
    assert mislabelled.intent == refund
    assert (mislabelled.source, mislabelled.original_intent) == (
        "review",
        "order_status",
    )
    assert mislabelled.added_by == agent
    evil = client.post(
        reverse("admin:chatbot_message_relabel_example", args=[mislabelled.pk]),
        {"intent": "refund", "next": "https://evil.example/admin/chatbot/message/"},
        secure=True,
    )
    assert "evil" not in evil["Location"]


def test_staff_without_the_review_permission_cannot_relabel(client, bob):
    example = TrainingExampleFactory.create(text="where's my parcel")
    client.force_login(bob)
    response = client.post(
        reverse("admin:chatbot_message_relabel_example", args=[example.pk]),
        {"intent": "oos"},
        secure=True,
    )
    assert response.status_code == 403
    example.refresh_from_db()
    assert example.intent is not None


def test_the_console_links_a_bot_message_to_its_explanation(alice):
    bot = answered(alice, "refund?", ranking=[("refund", 0.5), ("oos", 0.3)])
    frame = message_frame(bot)
    assert frame["review_url"] == reverse(
        "admin:chatbot_message_correct", args=[bot.pk]
    )
    assert frame["uncertainty"] == pytest.approx(0.8)
