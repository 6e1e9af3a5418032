"""Retention: the nightly purge on a database spanning two years, row by row; run
twice it changes nothing more; it deletes in batches, each its own transaction; the
command, the periodic task and the settings in the admin."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from api.models import WebhookDelivery
from chatbot.models import (
    Conversation,
    ConversationNote,
    Customer,
    Message,
    OrderActionCode,
    ReturnRequest,
    ShopSettings,
)
from classifier.models import TrainingExample
from config import celery_app
from ml.models import GoldenSet, ModelVersion
from ml.redaction import ALWAYS, CONTACTS, redact
from privacy import retention
from privacy.models import StaffAccess
from privacy.retention import retention_purge
from privacy.tasks import purge_expired
from recommender.models import Interaction
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    IntentFactory,
    InteractionFactory,
    MessageFactory,
    OrderFactory,
    ReturnRequestFactory,
    StaffFactory,
    TrainingExampleFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()
CARD = "4242 4242 4242 4242"
OTHER_CARD = "4111-1111-1111-1111"


def redacted(text: str) -> str:
    """``text`` as the purge keeps it: cards, IDs and contacts masked."""
    pattern = ShopSettings.load().snapshot().order_number_re
    return redact(text, kinds=ALWAYS | CONTACTS, order_numbers=pattern).text


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def dated(row: Model, **fields: datetime) -> Any:
    """Set ``auto_now`` / ``auto_now_add`` fields, which ``save()`` overwrites."""
    type(row)._default_manager.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()
    return row


def anonymous(*, last_seen: float) -> Customer:
    customer = CustomerFactory.create(name="", email="")
    return dated(customer, last_seen=ago(last_seen))


def conversation(
    customer: Customer,
    *,
    status: str = Conversation.Status.RESOLVED,
    created: float,
    messages: list[tuple[float, str, str | None]],
) -> tuple[Conversation, list[Message]]:
    """A conversation ``created`` days ago with ``(days ago, text, address)``
    messages, last changed when its newest message came."""
    chat = ConversationFactory.create(customer=customer, status=status)
    stored = [
        dated(
            MessageFactory.create(conversation=chat, text=text, client_address=ip),
            created=ago(days),
        )
        for days, text, ip in messages
    ]
    last = min(days for days, _, _ in messages)
    return dated(chat, created=ago(created), updated=ago(last)), stored


def axes_row(model: type[Model], *, days: float, **fields: Any) -> Model:
    row = model._default_manager.create(
        user_agent=f"Firefox {days}",
        ip_address="198.51.100.9",
        username="bob",
        http_accept="text/html",
        path_info="/admin/login/",
        **fields,
    )
    return dated(row, attempt_time=ago(days))


def two_years() -> dict[str, Any]:
    """Rows of every kind, at many ages; named for the checks."""
    w: dict[str, Any] = {}
    w["golden_set"] = GoldenSet.objects.create(kind=ModelVersion.Kind.INTENT)
    # --- customers
    w["alice"] = CustomerFactory.create(name="Alice")  # gave her email
    w["signed"] = dated(
        CustomerFactory.create(name="", email="", external_id="shop-77"),
        last_seen=ago(700),
    )
    w["gone_visitor"] = anonymous(last_seen=500)  # only an old chat
    w["recent_visitor"] = anonymous(last_seen=30)  # old chat, seen lately
    w["waiting_visitor"] = anonymous(last_seen=600)  # waiting for a person
    w["bare_visitor"] = anonymous(last_seen=100)  # never chatted
    w["fresh_visitor"] = anonymous(last_seen=20)
    # --- conversations
    w["alice_old"], w["alice_old_msgs"] = conversation(
        w["alice"],
        created=700,
        messages=[
            (700, f"my card {CARD} was charged twice, alice@example.com", "192.0.2.1"),
            (699, f"refund {OTHER_CARD} please", None),
            (400, "Sorry about that!", None),
        ],
    )
    w["note"] = ConversationNote.objects.create(
        conversation=w["alice_old"], text="refunded by hand"
    )
    w["return"] = ReturnRequestFactory.create(
        conversation=w["alice_old"], order=OrderFactory.create(status="delivered")
    )
    w["alice_active"], w["alice_active_msgs"] = conversation(
        w["alice"],
        status=Conversation.Status.BOT,
        created=700,
        messages=[(700, "hello", "192.0.2.2"), (10, "hello again", "192.0.2.3")],
    )
    w["alice_edge"], _ = conversation(
        w["alice"], created=370, messages=[(364, "thanks", None)]
    )
    w["gone_chat"], _ = conversation(
        w["gone_visitor"],
        status=Conversation.Status.BOT,
        created=500,
        messages=[(500, "hi", "192.0.2.4")],
    )
    w["recent_visitor_chat"], _ = conversation(
        w["recent_visitor"], created=400, messages=[(400, "is it waterproof", None)]
    )
    w["waiting_chat"], _ = conversation(
        w["waiting_visitor"],
        status=Conversation.Status.WAITING_FOR_AGENT,
        created=600,
        messages=[(600, "I need a person", None)],
    )
    # --- training examples
    intent = IntentFactory.create(name="refund")
    card_msg, other_msg, _ = w["alice_old_msgs"]
    w["ex_card"] = TrainingExampleFactory.create(
        text=card_msg.text,
        intent=intent,
        source="review",
        message_id=card_msg.pk,
        conversation_id=w["alice_old"].pk,
    )
    w["ex_golden"] = TrainingExampleFactory.create(
        text="call me on +44 20 7946 0958 about NW-12345",
        intent=intent,
        source="review",
        golden=True,
        conversation_id=w["alice_old"].pk,
    )
    # Redacted, this one says what an example already says: it goes.
    w["ex_twin"] = TrainingExampleFactory.create(
        text=redacted(other_msg.text),
        intent=intent,
    )
    w["ex_dup"] = TrainingExampleFactory.create(
        text=other_msg.text,
        intent=intent,
        source="review",
        message_id=other_msg.pk,
        conversation_id=w["alice_old"].pk,
    )
    # The same among out-of-scope examples (no intent).
    lost = f"lost card {OTHER_CARD}"
    w["ex_oos_twin"] = TrainingExampleFactory.create(text=redacted(lost), intent=None)
    w["ex_oos_dup"] = TrainingExampleFactory.create(
        text=lost, intent=None, source="review", conversation_id=w["alice_old"].pk
    )
    w["ex_kept"] = TrainingExampleFactory.create(
        text="hello again",
        intent=intent,
        source="review",
        message_id=w["alice_active_msgs"][1].pk,
        conversation_id=w["alice_active"].pk,
    )
    w["ex_seed"] = TrainingExampleFactory.create(text=f"my card {CARD} is declined")
    # From a conversation deleted in the admin before: unlinked and redacted too.
    w["ex_orphan"] = TrainingExampleFactory.create(
        text=f"charge {OTHER_CARD} again",
        intent=intent,
        source="review",
        conversation_id=w["alice_old"].pk + 10_000,
        message_id=card_msg.pk + 10_000,
    )
    # --- tracking events
    alice_id, bare_id = w["alice"].pk, w["bare_visitor"].pk

    def event(days: float, customer_id: int, **fields: Any) -> Interaction:
        row = InteractionFactory.create(customer_id=customer_id, **fields)
        return dated(row, created=ago(days))

    w["i_730"] = event(730, alice_id)
    w["i_100"] = event(100, alice_id)
    w["i_80"] = event(80, alice_id)
    w["i_linked"] = event(10, alice_id, conversation_id=w["alice_old"].pk)
    w["i_bare_200"] = event(200, bare_id)
    w["i_bare_10"] = event(10, bare_id)
    # --- webhook deliveries
    hooks = WebhookSubscriptionFactory.create()

    def delivery(days: float, status: str) -> WebhookDelivery:
        row = WebhookDelivery.objects.create(
            subscription=hooks, event="message.stored", payload={}, status=status
        )
        return dated(row, created=ago(days))

    w["wh_delivered_40"] = delivery(40, "delivered")
    w["wh_failed_40"] = delivery(40, "failed")
    w["wh_pending_40"] = delivery(40, "pending")
    w["wh_delivered_20"] = delivery(20, "delivered")
    # --- one-time codes
    order = OrderFactory.create()
    w["code_8"] = dated(
        OrderActionCode.issue(order_id=order.pk, action="cancel", now=ago(8))[0],
        created=ago(8),
    )
    w["code_6"] = dated(
        OrderActionCode.issue(order_id=order.pk, action="return", now=ago(6))[0],
        created=ago(6),
    )
    # --- login records (django-axes)
    attempt = {"get_data": "", "post_data": "", "failures_since_start": 1}
    w["attempt_40"] = axes_row(AccessAttempt, days=40, **attempt)
    w["attempt_10"] = axes_row(AccessAttempt, days=10, **attempt)
    w["login_40"] = axes_row(AccessLog, days=40)
    w["login_10"] = axes_row(AccessLog, days=10)
    w["failure_40"] = axes_row(AccessFailureLog, days=40, locked_out=False)
    # --- the staff access log
    bob = StaffFactory.create(username="bob")
    for name, chat, days in [
        ("access_400", w["alice_active"], 400),
        ("access_300", w["alice_old"], 300),
    ]:
        [w[name]] = StaffAccess.record(
            place="console", conversations=[chat], user=bob, now=ago(days)
        )
    return w


EXPECTED = {
    retention.CONVERSATIONS: 3,  # alice_old, gone_chat, recent_visitor_chat
    retention.MESSAGES: 5,
    retention.EXAMPLES_ANONYMISED: 3,  # ex_card, ex_golden, ex_orphan
    retention.EXAMPLES_MERGED: 2,  # ex_dup, ex_oos_dup
    retention.INTERACTIONS: 4,  # i_730, i_100, i_bare_200, i_bare_10
    retention.WEBHOOK_DELIVERIES: 2,
    retention.CODES: 1,
    retention.LOGIN_RECORDS: 3,
    retention.ADDRESSES: 1,  # alice_active's first message
    retention.CUSTOMERS: 2,  # gone_visitor, bare_visitor
    retention.ACCESS_LOG: 1,
}
DELETED = [
    "alice_old",
    "note",
    "gone_chat",
    "recent_visitor_chat",
    "gone_visitor",
    "bare_visitor",
    "ex_dup",
    "ex_oos_dup",
    "i_730",
    "i_100",
    "i_bare_200",
    "i_bare_10",
    "wh_delivered_40",
    "wh_failed_40",
    "code_8",
    "attempt_40",
    "login_40",
    "failure_40",
    "access_400",
]
UNCHANGED = [
    "alice",
    "signed",
    "recent_visitor",
    "waiting_visitor",
    "fresh_visitor",
    "alice_edge",
    "waiting_chat",
    "ex_twin",
    "ex_oos_twin",
    "ex_kept",
    "ex_seed",
    "i_80",
    "wh_pending_40",
    "wh_delivered_20",
    "code_6",
    "attempt_10",
    "login_10",
]


def exists(row: Model) -> bool:
    return type(row)._default_manager.filter(pk=row.pk).exists()


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the purge touches."""
    models: list[type[Model]] = [
        Customer,
        Conversation,
        Message,
        ConversationNote,
        ReturnRequest,
        TrainingExample,
        Interaction,
        WebhookDelivery,
        OrderActionCode,
        AccessAttempt,
        AccessLog,
        AccessFailureLog,
        StaffAccess,
        GoldenSet,
    ]
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in models
    }


def test_it_purges_two_years_row_by_row_and_a_second_run_changes_nothing():
    w = two_years()
    before = {name: w[name] for name in UNCHANGED}
    counts = retention_purge(now=NOW, batch_size=1000)
    assert counts == EXPECTED

    for name in DELETED:
        assert not exists(w[name]), f"{name} should be gone"
    for message in w["alice_old_msgs"]:
        assert not exists(message)
    for name in UNCHANGED:
        row = w[name]
        after = type(row)._default_manager.get(pk=row.pk)
        fields = [f.attname for f in row._meta.concrete_fields]
        assert {f: getattr(after, f) for f in fields} == {
            f: getattr(before[name], f) for f in fields
        }, f"{name} should be kept as it was"

    # Anonymised: kept, but no longer what they were.
    ex_card = TrainingExample.objects.get(pk=w["ex_card"].pk)
    assert ex_card.text == redacted(w["ex_card"].text)
    assert "4242" in ex_card.text and CARD not in ex_card.text
    assert "alice@example.com" not in ex_card.text
    assert (ex_card.message_id, ex_card.conversation_id) == (None, None)
    assert ex_card.intent_id == w["ex_card"].intent_id
    golden = TrainingExample.objects.get(pk=w["ex_golden"].pk)
    assert golden.golden and golden.conversation_id is None
    assert "7946 0958" not in golden.text and "NW-12345" in golden.text
    # The frozen evaluation set changed: its version went up.
    golden_set = GoldenSet.objects.get(pk=w["golden_set"].pk)
    assert golden_set.version == 2 and "retention" in golden_set.note
    orphan = TrainingExample.objects.get(pk=w["ex_orphan"].pk)
    assert (orphan.message_id, orphan.conversation_id) == (None, None)
    assert orphan.text == redacted(w["ex_orphan"].text)
    assert OTHER_CARD not in orphan.text
    linked = Interaction.objects.get(pk=w["i_linked"].pk)
    assert linked.conversation_id is None and linked.customer_id == w["alice"].pk
    first, recent = Message.objects.filter(conversation=w["alice_active"]).order_by(
        "seq"
    )
    assert first.client_address is None and first.text == "hello"
    assert recent.client_address == "192.0.2.3"
    assert Conversation.objects.filter(pk=w["alice_active"].pk).exists()
    returned = ReturnRequest.objects.get(pk=w["return"].pk)
    assert returned.conversation_id is None
    access = StaffAccess.objects.get(pk=w["access_300"].pk)
    assert access.conversation_id is None
    assert access.conversation_public_id == w["alice_old"].public_id

    # Idempotent: a second run finds nothing, and changes nothing.
    state = snapshot()
    assert retention_purge(now=NOW, batch_size=1000) == dict.fromkeys(
        retention.KINDS, 0
    )
    assert snapshot() == state


def test_it_counts_the_same_rows_on_a_dry_run_and_changes_nothing():
    two_years()
    state = snapshot()
    assert retention_purge(now=NOW, batch_size=1000, dry_run=True) == EXPECTED
    assert snapshot() == state


def test_it_never_purges_a_conversation_mid_chat_however_old():
    customer = anonymous(last_seen=900)
    for status in [
        Conversation.Status.WAITING_FOR_AGENT,
        Conversation.Status.WITH_AGENT,
    ]:
        conversation(customer, status=status, created=900, messages=[(900, "hi", None)])
    # Created long ago, with the bot, but the customer wrote a minute ago.
    chat, _ = conversation(
        customer,
        status=Conversation.Status.BOT,
        created=900,
        messages=[(900, "hi", None), (0.001, "still there?", None)],
    )
    dated(chat, updated=ago(900))
    counts = retention_purge(now=NOW, batch_size=1000)
    assert counts[retention.CONVERSATIONS] == 0
    assert counts[retention.CUSTOMERS] == 0
    assert Conversation.objects.filter(customer=customer).count() == 3


def test_it_deletes_in_batches_each_in_its_own_transaction():
    for _ in range(5):
        dated(InteractionFactory.create(), created=ago(200))
    customer = CustomerFactory.create()
    for _ in range(3):
        conversation(customer, created=500, messages=[(500, "hi", None)])
    deletes: list[tuple[str, int, tuple[str, ...]]] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if sql.startswith("DELETE FROM"):
            table, rows = sql.split('"')[1], context["cursor"].rowcount
            deletes.append((table, rows, tuple(connection.savepoint_ids)))
        return result

    with connection.execute_wrapper(spy):
        counts = retention_purge(now=NOW, batch_size=2)
    assert counts[retention.INTERACTIONS] == 5
    assert counts[retention.CONVERSATIONS] == 3
    events = [d for d in deletes if d[0] == "recommender_interaction"]
    chats = [d for d in deletes if d[0] == "chatbot_conversation"]
    # 5 rows, 2 at a time: 3 statements of at most 2 rows, in 3 transactions
    # (savepoints here: the test runs in one transaction of its own).
    assert [rows for _, rows, _ in events] == [2, 2, 1]
    assert len({tx for _, _, tx in events}) == 3
    assert all(tx for _, _, tx in events)
    assert [rows for _, rows, _ in chats] == [2, 1]
    assert len({tx for _, _, tx in chats}) == 2
    assert not Interaction.objects.exists() and not Conversation.objects.exists()


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size"):
        retention_purge(batch_size=0)


# --- the command, the task, the settings ------------------------------------------


def test_the_command_reports_a_dry_run_then_purges():
    two_years()
    out = io.StringIO()
    call_command("purge_expired", "--dry-run", stdout=out)
    report = out.getvalue()
    assert "Dry run: nothing was changed." in report
    assert re.search(r"^conversations\s+3$", report, re.M)
    assert re.search(r"^tracking events\s+4$", report, re.M)
    assert Conversation.objects.count() == 6
    out = io.StringIO()
    call_command("purge_expired", "--batch-size", "2", stdout=out)
    report = out.getvalue()
    assert re.search(r"^conversations\s+3$", report, re.M)
    # The progress line, after each batch of two.
    assert "\rconversations: 2 rows\rconversations: 3 rows\n" in report
    assert Conversation.objects.count() == 3


def test_the_nightly_task_is_scheduled_on_the_training_queue_and_purges(settings):
    task = PeriodicTask.objects.get(name="purge-expired")
    assert task.task == "privacy.tasks.purge_expired"
    assert task.queue == "training"
    assert task.crontab is not None and int(task.crontab.hour) < 6
    assert "privacy.tasks.purge_expired" in celery_app.tasks
    settings.RETENTION_BATCH_SIZE = 1
    dated(InteractionFactory.create(), created=ago(91))
    kept = InteractionFactory.create()
    result = purge_expired()
    assert result[retention.INTERACTIONS] == 1
    assert list(Interaction.objects.all()) == [kept]


def test_it_follows_the_retention_the_shop_sets():
    shop = ShopSettings.load()
    shop.retention_tracking_days = 5
    shop.save()
    dated(InteractionFactory.create(), created=ago(6))
    kept = dated(InteractionFactory.create(), created=ago(4))
    assert retention_purge(batch_size=10)[retention.INTERACTIONS] == 1
    assert list(Interaction.objects.all()) == [kept]


def test_it_refuses_a_retention_under_a_day_in_the_admin(client):
    admin = StaffFactory.create(username="root", is_superuser=True)
    client.force_login(admin)
    shop = ShopSettings.load()
    shop.retention_conversations_days = 0
    with pytest.raises(ValidationError) as refused:
        shop.full_clean()
    assert "retention_conversations_days" in refused.value.message_dict
    url = reverse("admin:chatbot_shopsettings_change", args=[1])
    page = client.get(url, secure=True)
    assert b"Retention" in page.content
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name != "opening_hours"
    }
    data["opening_hours"] = '{"mon": "09:00-17:00"}'
    data["retention_tracking_days"] = "0"
    response = client.post(url, data, secure=True)
    assert response.status_code == 200
    assert "retention_tracking_days" in response.context["adminform"].form.errors
    assert ShopSettings.load().retention_tracking_days == 90
    data["retention_tracking_days"] = "30"
    assert client.post(url, data, secure=True).status_code == 302
    assert ShopSettings.load().retention_tracking_days == 30
