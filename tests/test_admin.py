"""The admin: transcripts, review that turns corrections into training data, models."""

from __future__ import annotations

import csv
import importlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import reverse

from chatbot.models import Conversation, Customer, Message
from classifier.models import TrainingExample
from ml import registry
from ml.models import ModelVersion
from tests.factories import (
    ConversationFactory,
    IntentFactory,
    MessageFactory,
    OrderFactory,
    OrderItemFactory,
    ReturnRequestFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def superbob(bob: Any) -> Any:
    bob.is_superuser = True
    bob.save()
    return bob


@pytest.fixture
def agent_group(db: Any) -> Group:
    migration = importlib.import_module("chatbot.migrations.0004_support_agent_group")
    migration.create_group(apps, None)
    return Group.objects.get(name="Support agent")


@pytest.fixture
def agent(agent_group: Group) -> Any:
    """A support agent: staff, in the group, not a superuser."""
    user = StaffFactory.create(
        username="dave",
        email="dave@example.com",
        password="dave-password-123",
        is_staff=True,
    )
    user.groups.add(agent_group)
    return user


def exchange(
    customer: Customer,
    text: str,
    *,
    intent: str,
    confidence: float | None,
    conversation: Conversation | None = None,
) -> Message:
    """A customer message and the bot's answer to it; returns the bot's."""
    conversation = conversation or ConversationFactory.create(customer=customer)
    asked = MessageFactory.create(
        conversation=conversation, sender=Message.Sender.CUSTOMER, text=text
    )
    return MessageFactory.create(
        conversation=conversation,
        sender=Message.Sender.BOT,
        text="Here's what I found.",
        intent=intent,
        confidence=confidence,
        client_msg_id=f"reply-to:{asked.pk}",
    )


def get(client: Any, url: str, data: Any = None) -> Any:
    return client.get(url, data, secure=True)


def post(client: Any, url: str, data: Any, **kwargs: Any) -> Any:
    return client.post(url, data, secure=True, **kwargs)


# --- list pages ----------------------------------------------------------------------


def test_it_serves_every_list_page_to_a_superuser(client, superbob, alice):
    exchange(alice, "hi", intent="greeting", confidence=0.9)
    client.force_login(superbob)
    models = [
        "chatbot/conversation",
        "chatbot/message",
        "chatbot/customer",
        "chatbot/cannedresponse",
        "chatbot/conversationnote",
        "chatbot/article",
        "chatbot/responsetemplate",
        "chatbot/order",
        "chatbot/returnrequest",
        "chatbot/agentpresence",
        "classifier/intent",
        "classifier/trainingexample",
        "recommender/product",
        "recommender/interaction",
        "ml/modelversion",
        "django_celery_beat/periodictask",
    ]
    for model in models:
        response = get(client, f"/admin/{model}/")
        assert response.status_code == 200, model


def test_it_shows_the_transcript_inline_on_a_conversation(client, superbob, alice):
    bot = exchange(alice, "Where is my parcel?", intent="order_status", confidence=0.8)
    client.force_login(superbob)
    response = get(
        client, reverse("admin:chatbot_conversation_change", args=[bot.conversation_id])
    )
    html = response.content.decode()
    assert "Where is my parcel?" in html
    assert "order_status" in html


def changelist_ids(client: Any, data: dict[str, str]) -> set[int]:
    response = get(client, reverse("admin:chatbot_conversation_changelist"), data)
    assert response.status_code == 200
    return {c.pk for c in response.context["cl"].result_list}


def test_it_filters_conversations_by_intent_confidence_and_handover(
    client, superbob, alice, charlie
):
    sure = exchange(alice, "hi", intent="greeting", confidence=0.95).conversation
    unsure = exchange(charlie, "refund?", intent="refund", confidence=0.3).conversation
    unsure.waiting_since = unsure.created
    unsure.save()
    client.force_login(superbob)
    assert changelist_ids(client, {"intent": "refund"}) == {unsure.pk}
    assert changelist_ids(client, {"confidence": "low"}) == {unsure.pk}
    assert changelist_ids(client, {"handed_over": "yes"}) == {unsure.pk}
    assert changelist_ids(client, {"handed_over": "no"}) == {sure.pk}


def test_it_finds_conversations_by_text_email_and_order_number(
    client, superbob, alice, charlie
):
    alices = exchange(alice, "my jacket is torn", intent="x", confidence=0.5)
    charlies = exchange(charlie, "hello", intent="x", confidence=0.5)
    ReturnRequestFactory.create(
        order__number="NW-4242",
        order__email="charlie@example.com",
        order__status="delivered",
        order__placed_at=charlies.created,
        conversation=charlies.conversation,
    )
    client.force_login(superbob)
    assert changelist_ids(client, {"q": "jacket"}) == {alices.conversation_id}
    assert changelist_ids(client, {"q": "alice@example.com"}) == {
        alices.conversation_id
    }
    assert changelist_ids(client, {"q": "NW-4242"}) == {charlies.conversation_id}


def test_it_exports_selected_transcripts_as_csv(client, superbob, alice, charlie):
    alices = exchange(alice, "Hello, <b>bot</b>", intent="greeting", confidence=0.9)
    exchange(charlie, "Charlie's secret", intent="greeting", confidence=0.9)
    client.force_login(superbob)
    response = post(
        client,
        reverse("admin:chatbot_conversation_changelist"),
        {"action": "export_csv", "_selected_action": [alices.conversation_id]},
    )
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["seq"], r["sender"], r["text"]) for r in rows] == [
        ("1", "customer", "Hello, <b>bot</b>"),
        ("2", "bot", "Here's what I found."),
    ]
    assert {r["email"] for r in rows} == {"alice@example.com"}
    assert rows[1]["intent"] == "greeting"


# --- correcting the bot --------------------------------------------------------------


def test_it_turns_a_corrected_intent_into_a_review_training_example(
    client, agent, alice
):
    IntentFactory.create(name="refund")
    bot = exchange(
        alice, "I want my money back", intent="order_status", confidence=0.41
    )
    client.force_login(agent)
    url = reverse("admin:chatbot_message_correct", args=[bot.pk])
    assert get(client, url).status_code == 200
    response = post(client, url, {"intent": "refund"})
    assert response.status_code == 302
    example = TrainingExample.objects.get()
    assert example.text == "I want my money back"
    assert example.label == "refund"
    assert example.source == TrainingExample.Source.REVIEW
    assert example.added_by == agent
    assert (example.original_intent, example.original_confidence) == (
        "order_status",
        0.41,
    )
    asked = Message.objects.get(conversation=bot.conversation, sender="customer")
    assert example.message_id == asked.pk


def test_it_labels_a_message_out_of_scope_and_replaces_an_earlier_label(
    client, agent, alice
):
    IntentFactory.create(name="refund")
    bot = exchange(alice, "what's the weather", intent="refund", confidence=0.2)
    client.force_login(agent)
    url = reverse("admin:chatbot_message_correct", args=[bot.pk])
    post(client, url, {"intent": "refund"})
    post(client, url, {"intent": "oos"})
    example = TrainingExample.objects.get()
    assert example.intent is None
    assert example.label == "oos"


def test_it_offers_to_correct_only_bot_messages(client, agent, alice):
    bot = exchange(alice, "hi", intent="greeting", confidence=0.9)
    customer_message = Message.objects.get(pk=bot.pk - 1)
    client.force_login(agent)
    url = reverse("admin:chatbot_message_correct", args=[customer_message.pk])
    assert get(client, url).status_code == 404
    change = get(client, reverse("admin:chatbot_message_change", args=[bot.pk]))
    assert "Correct the intent" in change.content.decode()


def test_it_queues_unreviewed_predictions_least_sure_first(client, agent, alice):
    IntentFactory.create(name="refund")
    sure = exchange(alice, "hello", intent="greeting", confidence=0.97)
    unsure = exchange(alice, "hmm money", intent="refund", confidence=0.12)
    middling = exchange(alice, "where's it", intent="order_status", confidence=0.55)
    reviewed = exchange(alice, "cash back", intent="refund", confidence=0.05)
    client.force_login(agent)
    post(
        client,
        reverse("admin:chatbot_message_correct", args=[reviewed.pk]),
        {"intent": "refund"},
    )
    response = get(client, reverse("admin:chatbot_message_review"))
    assert response.status_code == 200
    queued = [item["message"].pk for item in response.context["items"]]
    assert queued == [unsure.pk, middling.pk, sure.pk]
    assert response.context["remaining"] == 3
    assert response.context["items"][0]["source"].text == "hmm money"


def test_it_returns_to_the_queue_after_a_label_saved_from_it(client, agent, alice):
    IntentFactory.create(name="refund")
    bot = exchange(alice, "refund pls", intent="refund", confidence=0.3)
    client.force_login(agent)
    queue = reverse("admin:chatbot_message_review")
    response = post(
        client,
        reverse("admin:chatbot_message_correct", args=[bot.pk]),
        {"intent": "refund", "next": queue},
    )
    assert response["Location"] == queue
    evil = post(
        client,
        reverse("admin:chatbot_message_correct", args=[bot.pk]),
        {"intent": "refund", "next": "https://evil.example/"},
    )
    assert "evil" not in evil["Location"]


def test_it_keeps_staff_without_the_permission_out_of_the_review(client, bob, alice):
    bot = exchange(alice, "hi", intent="greeting", confidence=0.2)
    client.force_login(bob)  # staff, but in no group
    assert get(client, reverse("admin:chatbot_message_review")).status_code == 403
    url = reverse("admin:chatbot_message_correct", args=[bot.pk])
    assert post(client, url, {"intent": "oos"}).status_code == 403
    assert not TrainingExample.objects.exists()


def test_it_lets_a_support_agent_see_transcripts_but_not_delete_them(
    client, agent, alice
):
    bot = exchange(alice, "hi", intent="greeting", confidence=0.9)
    client.force_login(agent)
    url = reverse("admin:chatbot_conversation_change", args=[bot.conversation_id])
    assert get(client, url).status_code == 200
    delete = reverse("admin:chatbot_conversation_delete", args=[bot.conversation_id])
    assert get(client, delete).status_code == 403
    assert get(client, "/admin/ml/modelversion/").status_code == 403


def test_it_signs_a_note_or_example_added_here_with_who_added_it(
    client, superbob, agent, alice
):
    conversation = exchange(alice, "hi", intent="greeting", confidence=0.9).conversation
    client.force_login(superbob)
    added = post(
        client,
        reverse("admin:chatbot_conversationnote_add"),
        {"conversation": conversation.pk, "text": "Prefers email."},
    )
    assert added.status_code == 302
    post(
        client,
        reverse("admin:classifier_trainingexample_add"),
        {"text": "where is my parcel", "source": "seed", "intent": ""},
    )
    note = conversation.notes.get()
    assert note.author == superbob
    assert TrainingExample.objects.get(text="where is my parcel").added_by == superbob
    # Editing someone else's note keeps its author.
    agent.is_superuser = True
    agent.save()
    client.force_login(agent)
    post(
        client,
        reverse("admin:chatbot_conversationnote_change", args=[note.pk]),
        {"conversation": conversation.pk, "text": "Prefers email, not phone."},
    )
    note.refresh_from_db()
    assert (note.text, note.author) == ("Prefers email, not phone.", superbob)


# --- orders, models ------------------------------------------------------------------


def test_it_shows_an_orders_items_inline(client, superbob):
    order = OrderFactory.create(
        number="NW-1",
        email="a@example.com",
        status="placed",
        placed_at="2026-01-01T00:00Z",
    )
    OrderItemFactory.create(order=order, sku="S1", name="Trail socks", price="9.00")
    client.force_login(superbob)
    response = get(client, reverse("admin:chatbot_order_change", args=[order.pk]))
    assert "Trail socks" in response.content.decode()


@pytest.fixture
def version(settings, tmp_path):
    """A registered version with a real artifact (activation checks its hash)."""
    settings.MODEL_DIR = tmp_path / "models"

    def register(number: int, status: str = "candidate") -> ModelVersion:
        source = tmp_path / f"trained-{number}"
        source.mkdir()
        (source / "config.json").write_text(json.dumps({"version": number}))
        registered = registry.register(
            kind="intent", source_dir=source, metrics={}, trained_on={}
        )
        assert registered.version == number
        registered.status = status
        registered.save()
        return registered

    return register


def test_it_activates_a_model_version_and_retires_the_old_one(
    client, superbob, version
):
    old, new = version(1, "active"), version(2)
    client.force_login(superbob)
    post(
        client,
        reverse("admin:ml_modelversion_changelist"),
        {"action": "activate", "_selected_action": [new.pk]},
    )
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("retired", "active")
    assert new.activated is not None


def test_it_refuses_to_activate_a_version_whose_artifact_changed(
    client, superbob, version
):
    old, new = version(1, "active"), version(2)
    (Path(new.artifact_path) / "config.json").write_text("{}")
    client.force_login(superbob)
    response = post(
        client,
        reverse("admin:ml_modelversion_changelist"),
        {"action": "activate", "_selected_action": [new.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "Not activated: intent v2 (candidate): artifact hash" in page
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, new.status) == ("active", "candidate")


def test_it_rolls_back_to_the_previous_good_version_after_many_rejects(
    client, superbob, version, settings
):
    settings.MODEL_KEEP_VERSIONS = 1
    good = version(1)
    registry.activate(good)
    bad = version(2)
    registry.activate(bad)
    for number in range(3, 9):
        registry.reject(version(number))
    good.refresh_from_db()
    assert good.artifact_deleted is None  # pruning kept the rollback target
    client.force_login(superbob)
    page = get(client, reverse("admin:ml_modelversion_changelist")).content.decode()
    # One version can be rolled back to: the good one (the yes icon, once).
    assert page.count('alt="True"') == 1
    post(
        client,
        reverse("admin:ml_modelversion_changelist"),
        {"action": "activate", "_selected_action": [good.pk]},
    )
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, bad.status) == ("active", "retired")
    assert good.activation > bad.activation
    assert registry.active_version("intent") == good.pk


def test_it_shows_a_version_that_failed_to_load(client, superbob, version):
    failed = version(1)
    registry.load_failure_record(failed, error="hash does not match the registered")
    client.force_login(superbob)
    page = get(client, reverse("admin:ml_modelversion_changelist")).content.decode()
    assert "hash does not match the registered" in page


def test_it_refuses_to_activate_two_versions_of_one_kind(client, superbob, version):
    first, second = version(1), version(2)
    client.force_login(superbob)
    response = post(
        client,
        reverse("admin:ml_modelversion_changelist"),
        {"action": "activate", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    assert not ModelVersion.objects.filter(status="active").exists()


def test_it_filters_messages_by_whether_they_were_reviewed(client, agent, alice):
    IntentFactory.create(name="refund")
    done = exchange(alice, "money back", intent="refund", confidence=0.3)
    todo = exchange(alice, "where's my order", intent="refund", confidence=0.4)
    client.force_login(agent)
    post(
        client,
        reverse("admin:chatbot_message_correct", args=[done.pk]),
        {"intent": "refund"},
    )
    url = reverse("admin:chatbot_message_changelist")
    for value, expected in (("yes", {done.pk}), ("no", {todo.pk})):
        response = get(client, url, {"reviewed": value})
        assert {m.pk for m in response.context["cl"].result_list} == expected


def test_it_explains_fields_that_have_no_help_in_their_model(client, superbob):
    client.force_login(superbob)
    response = get(client, reverse("admin:chatbot_order_add"))
    assert "Starts the return window." in response.content.decode()
