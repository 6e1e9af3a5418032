"""Erasure and access requests: a customer who chatted, browsed, looked up an order,
returned it and was reviewed into training data is exported, then erased; after
that no row in any table of any app holds their address, their words or a link to
them, and the export held every row that did."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from chatbot import services
from chatbot.models import (
    Conversation,
    ConversationNote,
    Customer,
    Message,
    Order,
    OrderActionCode,
    OrderItem,
    ReturnRequest,
    ShopSettings,
)
from chatbot.review import message_review
from classifier.models import TrainingExample
from ml.models import GoldenSet, ModelVersion
from privacy.collectors import ERASED_EMAIL
from privacy.erasure import erasure_plan, subject_erase
from privacy.export import subject_export
from privacy.models import DataSubjectRequest
from privacy.subjects import SubjectError, subject_find
from recommender.models import Interaction
from tests.factories import (
    CustomerFactory,
    IntentFactory,
    InteractionFactory,
    MessageFactory,
    OrderFactory,
    OrderItemFactory,
    ProductFactory,
    TrainingExampleFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db

ALICE = "alice@example.com"
# What Alice writes is hers: distinctive enough that finding it anywhere is hers.
SCARF = "my blue scarf zq81 came with a torn seam"


@dataclass
class Story:
    """Alice's rows as the chat made them, and Charlie's, which must survive."""

    alice: Customer
    alice_phone: Customer  # Alice on another device: no email, typed it in chat
    charlie: Customer
    order: Order
    charlie_order: Order
    texts: list[str] = field(default_factory=list)  # what Alice wrote

    @property
    def customer_ids(self) -> set[int]:
        return {self.alice.pk, self.alice_phone.pk}


def chat(capture: Any) -> Callable[..., Message]:
    """``say(conversation, text, postback=None)``: store a customer message and
    run the reply path on it, as the reply task does; returns the bot's reply."""

    def say(
        conversation: Conversation, text: str, postback: dict[str, Any] | None = None
    ) -> Message:
        with capture(execute=True):  # the code mail and webhooks go after commit
            message, _ = services.message_store(
                conversation_id=conversation.pk,
                sender=Message.Sender.CUSTOMER,
                text=text,
                payload={"postback": postback} if postback else {},
                client_address="198.51.100.20",
            )
            reply = services.bot_reply(message_id=message.pk)
        assert reply is not None
        return reply

    return say


@pytest.fixture
def story(bob: Any, django_capture_on_commit_callbacks: Any) -> Story:
    say = chat(django_capture_on_commit_callbacks)
    WebhookSubscriptionFactory.create()
    IntentFactory.create(name="return_item")
    now = timezone.now()
    order = OrderFactory.create(
        email=ALICE,
        customer_name="Alice Liddell",
        status=Order.Status.DELIVERED,
        delivered_at=now - timedelta(days=2),
    )
    OrderItemFactory.create(order=order, name="Blue scarf")
    charlie_order = OrderFactory.create(
        email="charlie@example.com", customer_name="Charlie Brown"
    )

    alice = CustomerFactory.create(
        name="Alice", email=ALICE, external_id="shop-user-42", identified_at=now
    )
    InteractionFactory.create(customer_id=alice.pk)
    conversation = services.conversation_for_customer(customer=alice, public_id=None)
    assert conversation is not None
    texts = [SCARF, f"{order.number} {ALICE}"]
    first_reply = say(conversation, SCARF)
    looked_up = say(conversation, texts[1])
    assert order.number in looked_up.text  # the order form found it
    # A return, confirmed with the code mailed to the order's address.
    texts.append("I would like to send the scarf zq81 back")
    say(conversation, texts[-1], {"intent": "return_item"})
    answers = {"order_number": order.number, "email": ALICE}
    for _ in range(4):  # the form asks for what it lacks, then to confirm
        if mail.outbox:
            break
        conversation.refresh_from_db()
        asking = conversation.state["form"]["asking"]
        if asking == "confirm":
            say(conversation, "Yes, start it", {"confirm": True})
        else:  # the order number is the shop's, kept on the anonymised order
            say(conversation, answers[asking])
    code = mail.outbox[-1].subject.rsplit(" ", 1)[-1]
    say(conversation, code)
    texts.append(code)
    assert ReturnRequest.objects.filter(order=order).exists()

    # A reviewer corrects the bot's reading of her first message.
    example = message_review(
        message=first_reply, intent_name="return_item", reviewer=bob
    )
    assert example.text == SCARF
    example.golden = True  # and it is frozen into the evaluation set
    example.save()
    # She browsed; an agent noted something; staff edited her in the admin.
    product = ProductFactory.create()
    InteractionFactory.create(customer_id=alice.pk, product=product)
    InteractionFactory.create(
        customer_id=alice.pk,
        product=product,
        kind=Interaction.Kind.CHAT_CLICK,
        conversation_id=conversation.pk,
    )
    ConversationNote.objects.create(
        conversation=conversation, author=bob, text="Scarf zq81: offered a refund"
    )
    LogEntry.objects.create(
        user=bob,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(alice.pk),
        object_repr=str(alice),
        action_flag=CHANGE,
        change_message="Changed name.",
    )
    # Alice again, on her phone: no email of her own, but she typed it.
    alice_phone = CustomerFactory.create(name="", email="")
    phone_chat = services.conversation_for_customer(
        customer=alice_phone, public_id=None
    )
    assert phone_chat is not None
    texts.append(f"is there news on my refund? I am {ALICE} zq81")
    say(phone_chat, texts[-1])

    # Charlie: a conversation, an order, a click, a training example of his own.
    charlie = CustomerFactory.create(name="Charlie")
    charlie_chat = services.conversation_for_customer(customer=charlie, public_id=None)
    assert charlie_chat is not None
    say(charlie_chat, "do you sell red wool hats")
    InteractionFactory.create(customer_id=charlie.pk, product=product)
    TrainingExampleFactory.create(text="do you sell red wool hats")
    # The recommender's golden set has a case of each of them.
    GoldenSet.objects.create(
        kind=ModelVersion.Kind.RECOMMENDER,
        cases=[
            {"customer": alice.pk, "history": ["A"], "target": "B", "from_id": 1},
            {"customer": charlie.pk, "history": ["C"], "target": "D", "from_id": 2},
        ],
    )
    return Story(
        alice=alice,
        alice_phone=alice_phone,
        charlie=charlie,
        order=order,
        charlie_order=charlie_order,
        texts=texts,
    )


# --- the generic scan ------------------------------------------------------------

LINK_NAMES = {"customer": Customer, "conversation": Conversation, "message": Message}


@dataclass(frozen=True)
class Person:
    """What identifies a person's rows: words and ids to look for."""

    needles: list[str]
    uuids: list[str]
    ids: dict[type[models.Model], set[int]]

    @classmethod
    def of(cls, story: Story) -> Person:
        conversations = Conversation.objects.filter(customer__in=story.customer_ids)
        customers = Customer.objects.filter(pk__in=story.customer_ids)
        uuids = [str(u) for u in customers.values_list("uuid", flat=True)]
        shop_ids = customers.exclude(external_id="").values_list("external_id")
        needles = [ALICE, *story.texts, *uuids, *{i for (i,) in shop_ids}]
        needles += list(conversations.values_list("public_id", flat=True))
        return cls(
            needles=needles,
            uuids=uuids,
            ids={
                Customer: set(story.customer_ids),
                Conversation: set(conversations.values_list("pk", flat=True)),
                Message: set(
                    Message.objects.filter(conversation__in=conversations).values_list(
                        "pk", flat=True
                    )
                ),
            },
        )


def json_links(value: Any, ids: dict[type[models.Model], set[int]]) -> bool:
    """Whether a JSON value names one of ``ids`` under a key like ``customer`` or
    ``conversation_id``."""
    if isinstance(value, dict):
        for key, item in value.items():
            model = LINK_NAMES.get(str(key).removesuffix("_id"))
            if model is not None and isinstance(item, int) and item in ids[model]:
                return True
            if json_links(item, ids):
                return True
    if isinstance(value, list):
        return any(json_links(item, ids) for item in value)
    return False


def rows_holding(person: Person) -> set[tuple[str, Any]]:
    """``(app_label.Model, pk)`` of every row, in every table of every installed
    app, that holds one of the person's words or a link to one of their rows."""
    found: set[tuple[str, Any]] = set()
    ct_of = {m: ContentType.objects.get_for_model(m) for m in person.ids}
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        label = model._meta.label
        rows = model._default_manager.all()

        def hit(q: Any, rows: Any = rows, label: str = label) -> None:
            found.update(
                (label, pk) for pk in rows.filter(q).values_list("pk", flat=True)
            )

        names = {f.name for f in model._meta.concrete_fields}
        for f in model._meta.concrete_fields:
            if isinstance(f, (models.CharField, models.TextField)):
                for needle in person.needles:
                    hit(models.Q(**{f"{f.attname}__icontains": needle}))
            elif isinstance(f, models.UUIDField):
                hit(models.Q(**{f"{f.attname}__in": person.uuids}))
            elif isinstance(f, models.JSONField):
                as_text = model._default_manager.annotate(
                    _text=Cast(f.attname, TextField())
                )
                for needle in person.needles:
                    found.update(
                        (label, pk)
                        for pk in as_text.filter(_text__icontains=needle).values_list(
                            "pk", flat=True
                        )
                    )
                for pk, value in rows.values_list("pk", f.attname):
                    if json_links(value, person.ids):
                        found.add((label, pk))
            elif f.is_relation and f.related_model in person.ids:
                hit(models.Q(**{f"{f.attname}__in": person.ids[f.related_model]}))
            elif isinstance(f, models.IntegerField):
                linked = LINK_NAMES.get(f.name.removesuffix("_id"))
                if linked is not None:
                    hit(models.Q(**{f"{f.attname}__in": person.ids[linked]}))
        # A generic link (the admin's log): a content type and an object id.
        if "content_type" in names and "object_id" in names:
            for linked, pks in person.ids.items():
                hit(
                    models.Q(
                        content_type=ct_of[linked],
                        object_id__in=[str(pk) for pk in pks],
                    )
                )
    return found


def exported_rows(data: dict[str, Any]) -> set[tuple[str, Any]]:
    return {(label, row["pk"]) for label, rows in data["rows"].items() for row in rows}


# --- the tests -------------------------------------------------------------------


def test_it_erases_every_row_that_holds_them_and_the_export_had_them_all(story, bob):
    person = Person.of(story)
    held = rows_holding(person)
    # The scan sees what the story made (else it proves nothing below).
    kinds = {label for label, _ in held}
    assert {
        "chatbot.Customer",
        "chatbot.Conversation",
        "chatbot.Message",
        "chatbot.ConversationNote",
        "chatbot.Order",
        "recommender.Interaction",
        "classifier.TrainingExample",
        "api.WebhookDelivery",
        "admin.LogEntry",
        "ml.GoldenSet",
    } <= kinds
    charlie_before = {
        "conversations": Conversation.objects.filter(customer=story.charlie).count(),
        "messages": Message.objects.filter(
            conversation__customer=story.charlie
        ).count(),
        "interactions": Interaction.objects.filter(
            customer_id=story.charlie.pk
        ).count(),
        "examples": TrainingExample.objects.filter(text__contains="red wool").count(),
    }

    export = subject_export(
        email=ALICE, by=bob, by_name="bob", via=DataSubjectRequest.Via.ADMIN
    )
    missing = held - exported_rows(export.data)
    assert not missing, f"the export left out {sorted(missing)}"
    assert {
        "chatbot.ReturnRequest",
        "chatbot.OrderActionCode",
        "chatbot.OrderItem",
    } <= set(export.data["rows"])

    record = subject_erase(
        email=ALICE, by=bob, by_name="bob", via=DataSubjectRequest.Via.ADMIN
    )

    assert rows_holding(person) == set()
    # Her order is the shop's: kept, unlinked, anonymised, with its items.
    story.order.refresh_from_db()
    assert (story.order.email, story.order.customer_name) == (ERASED_EMAIL, "")
    assert OrderItem.objects.filter(order=story.order).count() == 1
    assert not ReturnRequest.objects.filter(order=story.order).exists()
    assert not OrderActionCode.objects.filter(order=story.order).exists()
    golden = GoldenSet.objects.get()
    assert [c["customer"] for c in golden.cases] == [story.charlie.pk]
    assert golden.version == 2
    # Charlie lost nothing.
    assert charlie_before == {
        "conversations": Conversation.objects.filter(customer=story.charlie).count(),
        "messages": Message.objects.filter(
            conversation__customer=story.charlie
        ).count(),
        "interactions": Interaction.objects.filter(
            customer_id=story.charlie.pk
        ).count(),
        "examples": TrainingExample.objects.filter(text__contains="red wool").count(),
    }
    story.charlie_order.refresh_from_db()
    assert story.charlie_order.email == "charlie@example.com"
    # The record: counts, no data.
    assert record.kind == DataSubjectRequest.Kind.ERASURE
    assert record.customers == 2
    assert record.rows["chatbot.Customer"] == 2
    assert record.rows["chatbot.Message"] == len(person.ids[Message])
    assert record.anonymised == {"chatbot.Order": 1, "ml.GoldenSet": 1}
    assert record.total == sum(record.rows.values())
    assert ALICE not in json.dumps(
        list(DataSubjectRequest.objects.values()), default=str
    )
    assert list(DataSubjectRequest.objects.about_email(ALICE)) == [
        record,
        export.record,
    ]


def test_the_plan_lists_what_the_erasure_then_removes(story):
    subject = subject_find(email=ALICE)
    plan = {
        line.label: (line.count, line.action.value) for line in erasure_plan(subject)
    }

    record = subject_erase(email=ALICE, by_name="dpo", via="command")

    deleted = {label: n for label, (n, action) in plan.items() if action == "deleted"}
    assert deleted == record.rows
    anonymised = {
        label: n for label, (n, action) in plan.items() if action == "anonymised"
    }
    assert anonymised == record.anonymised
    assert plan["chatbot.OrderItem"] == (1, "kept (exported only)")


def test_it_deletes_their_orders_when_the_shop_says_so(story):
    shop = ShopSettings.load()
    shop.erasure_deletes_orders = True
    shop.save()

    record = subject_erase(customer_id=story.alice.pk, by_name="dpo", via="command")

    assert not Order.objects.filter(pk=story.order.pk).exists()
    assert record.rows["chatbot.Order"] == 1
    assert record.rows["chatbot.OrderItem"] == 1
    assert Order.objects.filter(pk=story.charlie_order.pk).exists()


def test_by_customer_it_erases_that_record(story):
    # A signed-in shopper is one record on every device (chatbot.identity).
    subject_erase(customer_id=story.alice.pk, by_name="dpo", via="command")

    assert not Customer.objects.filter(pk=story.alice.pk).exists()
    # Her phone's record is another record (only erasing by email finds it).
    assert Customer.objects.filter(pk=story.alice_phone.pk).exists()


def test_an_erasure_that_fails_changes_nothing(story, monkeypatch):
    from privacy import collectors

    def broken(self: Any, subject: Any, pks: Any) -> dict[str, int]:
        raise RuntimeError("disk full")

    before = Message.objects.count()
    monkeypatch.setattr(collectors.OrderCollector, "erase", broken)

    with pytest.raises(RuntimeError):
        subject_erase(email=ALICE, by_name="dpo", via="command")

    assert Message.objects.count() == before
    assert Customer.objects.filter(pk=story.alice.pk).exists()
    assert not DataSubjectRequest.objects.exists()


@pytest.mark.parametrize(
    "named",
    [{}, {"customer_id": 1, "email": ALICE}, {"email": "not an address"}],
)
def test_it_refuses_a_request_that_names_nobody(db, named):
    with pytest.raises(SubjectError):
        subject_erase(**named, by_name="dpo", via="command")
    assert not DataSubjectRequest.objects.exists()


def test_it_refuses_an_unknown_customer(db):
    with pytest.raises(SubjectError, match="no customer with id 999"):
        subject_find(customer_id=999)


def test_an_address_is_matched_whole(db):
    CustomerFactory.create(name="Malice", email="malice@example.com")
    CustomerFactory.create(name="Au", email="alice@example.com.au")

    assert subject_find(email=ALICE).customer_ids == frozenset()


# --- the commands ----------------------------------------------------------------


def test_the_command_lists_then_asks_and_a_no_erases_nothing(story, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    with pytest.raises(CommandError, match="Nothing was erased"):
        call_command("erase_customer", email=ALICE, stdout=out)

    table = out.getvalue()
    assert "messages" in table and "deleted" in table and "anonymised" in table
    assert Customer.objects.filter(pk=story.alice.pk).exists()
    assert not DataSubjectRequest.objects.exists()


def test_the_command_erases_with_yes_and_records_who(story):
    out = io.StringIO()

    call_command("erase_customer", "--yes", email=ALICE, by="dpo-jane", stdout=out)

    assert not Customer.objects.filter(pk=story.alice.pk).exists()
    record = DataSubjectRequest.objects.get()
    assert (record.requested_by_name, record.via) == ("dpo-jane", "command")
    assert f"request #{record.pk}" in out.getvalue()


def test_the_command_records_an_erasure_of_nobody_without_asking(db, monkeypatch):
    def never(prompt: str) -> str:
        raise AssertionError("asked with nothing to erase")

    monkeypatch.setattr("builtins.input", never)
    out = io.StringIO()

    call_command("erase_customer", email="nobody@example.com", stdout=out)

    assert "Nothing is held about this person." in out.getvalue()
    record = DataSubjectRequest.objects.get()
    assert (record.total, record.customers) == (0, 0)
    assert list(DataSubjectRequest.objects.about_email("nobody@example.com")) == [
        record
    ]


def test_the_export_command_writes_json_and_an_escaped_transcript(
    story, tmp_path: Path, django_capture_on_commit_callbacks: Any
):
    say = chat(django_capture_on_commit_callbacks)
    conversation = story.alice.conversations.get()
    say(conversation, "<script>alert('zq81')</script>")

    call_command("export_customer", customer=story.alice.pk, out=tmp_path / "out")

    data = json.loads((tmp_path / "out" / "data.json").read_text())
    messages = [r["fields"]["text"] for r in data["rows"]["chatbot.Message"]]
    assert SCARF in messages
    html = (tmp_path / "out" / "transcript.html").read_text()
    assert SCARF in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;zq81&#x27;)&lt;/script&gt;" in html
    record = DataSubjectRequest.objects.get()
    assert record.kind == DataSubjectRequest.Kind.EXPORT
    assert record.rows["chatbot.Message"] == len(messages)
    # Nothing was erased by an export.
    assert Customer.objects.filter(pk=story.alice.pk).exists()


def test_the_export_command_refuses_a_folder_already_used(story, tmp_path: Path):
    (tmp_path / "data.json").write_text("{}")

    with pytest.raises(CommandError, match="exists"):
        call_command("export_customer", customer=story.alice.pk, out=tmp_path)

    assert not DataSubjectRequest.objects.exists()


def test_an_export_masks_a_card_number_stored_before_masking_was_on(
    story, tmp_path: Path
):
    # Stored raw: the shop had store-time card masking off when Alice wrote it.
    conversation = story.alice.conversations.get()
    MessageFactory.create(
        conversation=conversation,
        text="my card is 4242 4242 4242 4242, and my email is alice@example.com",
    )

    call_command("export_customer", customer=story.alice.pk, out=tmp_path / "out")

    data = (tmp_path / "out" / "data.json").read_text()
    html = (tmp_path / "out" / "transcript.html").read_text()
    for kept in (data, html):
        assert "4242 4242 4242 4242" not in kept
        assert "[card ••••4242]" in kept
        # Her own email is hers to see: only what is always masked is.
        assert "my email is alice@example.com" in kept
