"""Redaction at every boundary where text leaves the live conversation.

The corpus (tests/data/redaction_corpus.yaml) says, for each of its strings, what a
training example, an export and the stored message keep of it. Each boundary test
sends the whole corpus through that boundary's real code path (store the messages
through the service, review them, export the CSV, read analytics, the API, the
webhook payloads) and lists every string it got wrong.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.urls import reverse

from api.models import WebhookDelivery
from chatbot import analytics, events, review, services
from chatbot.admin.conversations import spreadsheet_safe
from chatbot.events import Event
from chatbot.models import (
    CARD_NOTICE,
    Boundary,
    Conversation,
    Customer,
    Message,
    ShopSettings,
)
from config.asgi import application
from ml.redaction import ALWAYS, CONTACTS, Kind, iban_valid, luhn_valid, redact
from tests.factories import (
    ConversationFactory,
    StaffFactory,
    WebhookSubscriptionFactory,
    api_key,
)

CORPUS_FILE = Path(__file__).parent / "data" / "redaction_corpus.yaml"
ORDER_NUMBERS = r"NW-\d{5}"  # the demo shop's, as the corpus assumes


@dataclass(frozen=True)
class Case:
    text: str
    kept: str  # training / export, contacts not masked
    masked: str  # training / export, contacts masked
    stored: str  # stored with store-time card masking on

    def expected(self, *, contacts: bool) -> str:
        return self.masked if contacts else self.kept


def load_corpus() -> list[Case]:
    cases = []
    for entry in yaml.safe_load(CORPUS_FILE.read_text(encoding="utf-8")):
        kept = entry.get("kept", entry["text"])
        cases.append(
            Case(
                text=entry["text"],
                kept=kept,
                masked=entry.get("masked", kept),
                stored=entry.get("stored", entry["text"]),
            )
        )
    return cases


CORPUS = load_corpus()


def mismatches(
    cases: Iterable[Case], got: Callable[[Case], str], want: Callable[[Case], str]
) -> list[str]:
    """One line per case whose boundary kept something else than expected."""
    return [
        f"{case.text!r}: expected {want(case)!r}, got {got(case)!r}"
        for case in cases
        if got(case) != want(case)
    ]


def shop_settings(*, contacts: bool, store_cards: bool = False) -> ShopSettings:
    shop = ShopSettings.load()
    shop.order_number_pattern = ORDER_NUMBERS
    shop.redact_contacts_in_training = contacts
    shop.redact_contacts_in_exports = contacts
    shop.redact_cards_on_store = store_cards
    shop.save()
    return shop


def store_corpus(conversation: Conversation) -> dict[str, Message]:
    """Every corpus string as a customer message, through the chat's service."""
    stored = {}
    for n, case in enumerate(CORPUS):
        message, created = services.message_store(
            conversation_id=conversation.pk,
            sender=Message.Sender.CUSTOMER,
            text=case.text,
            client_msg_id=f"corpus-{n}",
        )
        assert created
        stored[case.text] = message
    return stored


def answer_each(conversation: Conversation, asked: dict[str, Message]) -> None:
    """A bot reply to each message that understood nothing (as the reply path
    stores one: ``reply-to:<id>``, with its prediction)."""
    for message in asked.values():
        services.message_store(
            conversation_id=conversation.pk,
            sender=Message.Sender.BOT,
            text="Sorry, I didn't get that.",
            client_msg_id=services.reply_id(message.pk),
            intent="oos",
            confidence=0.2,
        )


@pytest.fixture
def conversation(alice: Customer) -> Conversation:
    alice.email = "alice@example.com"
    alice.save()
    return ConversationFactory.create(customer=alice)


@pytest.fixture
def dpo(db: Any) -> Any:
    """Staff who may read transcripts and export them (a superuser)."""
    return StaffFactory.create(username="dpo", is_superuser=True)


def test_the_corpus_is_big_and_varied_enough():
    assert len(CORPUS) >= 100
    assert len({case.text for case in CORPUS}) == len(CORPUS)
    kinds = " ".join(case.masked for case in CORPUS)
    for mask in ("[card ", "[iban ", "[id]", "[email ", "[phone ", "[address]"):
        assert kinds.count(mask) >= 5, mask
    unchanged = [c for c in CORPUS if c.masked == c.text]
    assert len(unchanged) >= 30  # numbers and words that must be kept as written


# --- the module, on its own ----------------------------------------------------------


def test_it_masks_the_corpus_as_each_setting_says():
    wrong = mismatches(
        CORPUS,
        lambda c: redact(c.text, kinds=ALWAYS, order_numbers=ORDER_NUMBERS).text,
        lambda c: c.kept,
    )
    wrong += mismatches(
        CORPUS,
        lambda c: (
            redact(c.text, kinds=ALWAYS | CONTACTS, order_numbers=ORDER_NUMBERS).text
        ),
        lambda c: c.masked,
    )
    wrong += mismatches(
        CORPUS,
        lambda c: redact(c.text, kinds={Kind.CARD}, order_numbers=ORDER_NUMBERS).text,
        lambda c: c.stored,
    )
    assert wrong == []


def test_it_checks_the_checksums():
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")


def test_it_never_masks_the_shops_order_numbers_as_ids_or_phones():
    nino_shaped = r"[A-Z]{2}\d{6}[A-Z]"
    assert redact("order AB123456C", order_numbers=None).text == "order [id]"
    assert redact("order AB123456C", order_numbers=nino_shaped).text == (
        "order AB123456C"
    )
    # Several formats, compiled or not; phone-shaped order numbers stay too.
    formats: list[re.Pattern[str] | str] = [re.compile(r"NW-\d{5}"), r"0\d{9}"]
    both = ALWAYS | CONTACTS
    assert redact("0301234567", kinds=both).text == "[phone ••••67]"
    assert redact("0301234567", kinds=both, order_numbers=formats).text == (
        "0301234567"
    )
    # A card number stays masked even if it also matches: it is payment data.
    assert redact("4242424242424242", order_numbers=r"\d{16}").text == (
        "[card ••••4242]"
    )


def test_it_says_which_kinds_it_masked():
    found = redact(
        "4242 4242 4242 4242, alice@example.com", kinds=ALWAYS | CONTACTS
    ).kinds
    assert found == {Kind.CARD, Kind.EMAIL}
    assert not redact("Where is NW-12345?", kinds=ALWAYS | CONTACTS).changed


# --- the boundaries, through the real code paths -------------------------------------


def test_it_stores_the_corpus_with_card_numbers_masked_when_the_shop_says_so(
    conversation,
):
    shop_settings(contacts=True, store_cards=True)
    store_corpus(conversation)
    rows = {
        m.client_msg_id: m for m in Message.objects.filter(conversation=conversation)
    }
    by_case = {c.text: rows[f"corpus-{n}"] for n, c in enumerate(CORPUS)}
    assert mismatches(CORPUS, lambda c: by_case[c.text].text, lambda c: c.stored) == []
    # Exactly the masked ones carry the notice the customer is shown.
    noticed = {c.text for c in CORPUS if by_case[c.text].payload.get("notice")}
    assert noticed == {c.text for c in CORPUS if c.stored != c.text}
    assert by_case[CORPUS[0].text].payload["notice"] == CARD_NOTICE


def test_it_stores_the_text_as_written_when_store_time_masking_is_off(conversation):
    shop_settings(contacts=True, store_cards=False)
    stored = store_corpus(conversation)
    assert all(stored[c.text].text == c.text for c in CORPUS)
    assert not any("notice" in m.payload for m in stored.values())


@pytest.mark.parametrize("contacts", [True, False], ids=["contacts", "no-contacts"])
def test_it_keeps_the_corpus_redacted_in_training_examples(conversation, dpo, contacts):
    shop_settings(contacts=contacts)
    asked = store_corpus(conversation)
    answer_each(conversation, asked)
    replies = {
        m.client_msg_id: m
        for m in Message.objects.filter(
            conversation=conversation, sender=Message.Sender.BOT
        )
    }
    examples = {}
    for case in CORPUS:
        bot = replies[services.reply_id(asked[case.text].pk)]
        example = review.message_review(message=bot, intent_name="oos", reviewer=dpo)
        example.refresh_from_db()
        examples[case.text] = example.text
    wrong = mismatches(
        CORPUS, lambda c: examples[c.text], lambda c: c.expected(contacts=contacts)
    )
    assert wrong == []


@pytest.mark.parametrize("contacts", [True, False], ids=["contacts", "no-contacts"])
def test_it_keeps_the_corpus_redacted_in_the_csv_export(
    client, conversation, dpo, contacts
):
    shop_settings(contacts=contacts)
    stored = store_corpus(conversation)
    client.force_login(dpo)
    response = client.post(
        reverse("admin:chatbot_conversation_changelist"),
        {"action": "export_csv", "_selected_action": [conversation.pk]},
        secure=True,
    )
    assert response["Content-Type"] == "text/csv"
    rows = {
        int(row["seq"]): row
        for row in csv.DictReader(io.StringIO(response.content.decode()))
    }
    exported = {text: rows[m.seq]["text"] for text, m in stored.items()}
    # A cell a spreadsheet would run as a formula (+44 …) gets a leading quote.
    wrong = mismatches(
        CORPUS,
        lambda c: exported[c.text],
        lambda c: str(spreadsheet_safe(c.expected(contacts=contacts))),
    )
    assert wrong == []
    emails = {row["email"] for row in rows.values()}
    assert emails == (
        {"[email a••••@example.com]"} if contacts else {"alice@example.com"}
    )


@pytest.mark.parametrize("contacts", [True, False], ids=["contacts", "no-contacts"])
def test_it_keeps_the_corpus_redacted_in_analytics(
    client, conversation, dpo, contacts, monkeypatch
):
    shop_settings(contacts=contacts)
    asked = store_corpus(conversation)
    answer_each(conversation, asked)
    monkeypatch.setattr(analytics, "UNANSWERED_SHOWN", len(CORPUS))
    client.force_login(dpo)
    response = client.get("/console/analytics/", {"format": "csv"}, secure=True)
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = rows.index(["unanswered", "created", "conversation", ""])
    listed = rows[header + 1 :]
    assert {row[2] for row in listed} == {conversation.public_id}
    # Newest first: the corpus in reverse.
    shown = {case.text: row[0] for case, row in zip(CORPUS[::-1], listed, strict=True)}
    wrong = mismatches(
        CORPUS,
        lambda c: shown[c.text],
        lambda c: str(spreadsheet_safe(c.expected(contacts=contacts))),
    )
    assert wrong == []
    page = client.get("/console/analytics/", secure=True).content.decode()
    assert "4242 4242 4242 4242" not in page
    assert "[card ••••4242]" in page


def test_it_shows_no_customer_text_in_analytics_to_staff_who_may_not_read_transcripts(
    client, conversation, bob
):
    shop_settings(contacts=False)
    asked = store_corpus(conversation)
    answer_each(conversation, asked)
    client.force_login(bob)  # staff, without chatbot.view_conversation
    response = client.get("/console/analytics/", {"format": "csv"}, secure=True)
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = rows.index(["unanswered", "created", "conversation", ""])
    assert rows[header + 1 :] == []
    assert "fallback_rate" in {row[0] for row in rows if row}


@pytest.mark.parametrize("contacts", [True, False], ids=["contacts", "no-contacts"])
def test_it_keeps_the_corpus_redacted_in_api_transcripts(
    client, conversation, contacts, settings
):
    settings.SECURE_SSL_REDIRECT = False
    shop_settings(contacts=contacts)
    stored = store_corpus(conversation)
    key = api_key(scopes=["conversations:read"])
    response = client.get(
        f"/api/v1/conversations/{conversation.public_id}/messages",
        {"limit": 500},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.content
    by_seq = {item["seq"]: item["text"] for item in response.json()["items"]}
    returned = {text: by_seq[m.seq] for text, m in stored.items()}
    wrong = mismatches(
        CORPUS, lambda c: returned[c.text], lambda c: c.expected(contacts=contacts)
    )
    assert wrong == []
    detail = client.get(
        f"/api/v1/conversations/{conversation.public_id}",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert detail["customer"]["email"] == (
        "[email a••••@example.com]" if contacts else "alice@example.com"
    )


@pytest.mark.parametrize("contacts", [True, False], ids=["contacts", "no-contacts"])
def test_it_keeps_the_corpus_redacted_in_webhook_payloads(conversation, contacts):
    shop_settings(contacts=contacts)
    WebhookSubscriptionFactory.create(events=[Event.MESSAGE_STORED])
    stored = store_corpus(conversation)
    by_seq = {
        d.payload["data"]["message"]["seq"]: d.payload["data"]["message"]["text"]
        for d in WebhookDelivery.objects.filter(event=Event.MESSAGE_STORED)
    }
    sent = {text: by_seq[m.seq] for text, m in stored.items()}
    wrong = mismatches(
        CORPUS, lambda c: sent[c.text], lambda c: c.expected(contacts=contacts)
    )
    assert wrong == []


def test_it_masks_a_card_in_a_rating_comment_sent_to_webhooks(conversation):
    shop_settings(contacts=False)
    WebhookSubscriptionFactory.create(events=[Event.CSAT_RECEIVED])
    events.announce(
        Event.CSAT_RECEIVED,
        conversation=conversation,
        score=1,
        comment="you charged 4242 4242 4242 4242 twice",
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["data"]["csat"]["comment"] == (
        "you charged [card ••••4242] twice"
    )


# --- the bot never says a card number back -------------------------------------------


def test_it_never_stores_a_bot_reply_with_a_card_number(conversation):
    shop_settings(contacts=False, store_cards=False)
    reply, _ = services.message_store(
        conversation_id=conversation.pk,
        sender=Message.Sender.BOT,
        text='You also asked: "pay with 4242 4242 4242 4242". Shall we?',
        payload={
            "quick_replies": [
                {"title": "pay with 4242 4242 4242 4242", "payload": {"n": 1}}
            ]
        },
    )
    reply.refresh_from_db()
    assert reply.text == 'You also asked: "pay with [card ••••4242]". Shall we?'
    assert reply.payload["quick_replies"][0] == {
        "title": "pay with [card ••••4242]",
        "payload": {"n": 1},
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
async def test_it_shows_the_customer_their_message_masked_with_a_notice():
    await database_sync_to_async(shop_settings)(contacts=False, store_cards=True)
    ws = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://testserver")],
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "hello"})
    frames = [await ws.receive_json_from(), await ws.receive_json_from()]
    await ws.send_json_to(
        {
            "type": "message",
            "client_msg_id": "m-1",
            "text": "my card is 4242 4242 4242 4242, where is NW-12345?",
        }
    )
    while not (frames[-1]["type"] == "message" and frames[-1]["sender"] == "bot"):
        frames.append(await ws.receive_json_from(timeout=20))
    await ws.disconnect()
    ack = next(f for f in frames if f["type"] == "ack")
    masked = "my card is [card ••••4242], where is NW-12345?"
    assert ack["text"] == masked
    assert ack["notice"] == CARD_NOTICE
    own = next(
        f for f in frames if f["type"] == "message" and f["sender"] == "customer"
    )
    assert own["text"] == masked
    assert own["payload"]["notice"] == CARD_NOTICE
    # Nothing sent back, the bot's reply included, holds the number.
    assert "4242 4242" not in json.dumps(frames[2:], ensure_ascii=False)
    stored = await database_sync_to_async(
        lambda: list(Message.objects.values_list("text", flat=True))
    )()
    assert masked in stored
    assert not any("4242 4242" in text for text in stored)


# --- settings, the admin and the command ---------------------------------------------


def test_it_defaults_to_masking_training_contacts_and_stored_cards_only(db):
    shop = ShopSettings.load()
    assert shop.redact_contacts_in_training is True
    assert shop.redact_contacts_in_exports is False
    assert shop.redact_cards_on_store is True
    assert shop.redaction_kinds(Boundary.TRAINING) == ALWAYS | CONTACTS
    assert shop.redaction_kinds(Boundary.EXPORT) == ALWAYS
    assert shop.redaction_kinds(Boundary.STORE) == {Kind.CARD}


def test_it_shows_the_privacy_settings_in_the_admin(client, dpo):
    client.force_login(dpo)
    ShopSettings.load()
    page = client.get(
        reverse("admin:chatbot_shopsettings_change", args=[1]), secure=True
    ).content.decode()
    assert "Privacy" in page
    for field in (
        "redact_cards_on_store",
        "redact_contacts_in_training",
        "redact_contacts_in_exports",
    ):
        assert f'name="{field}"' in page
    assert "never share it" not in page  # the notice is the customer's, not here


@pytest.mark.parametrize(
    ("flag", "contacts", "expected"),
    [
        ("--store", True, ["[card ••••4242] alice@example.com", "NW-12345"]),
        ("--training", True, ["[card ••••4242] [email a••••@example.com]", "NW-12345"]),
        ("--export", False, ["[card ••••4242] alice@example.com", "NW-12345"]),
        ("--export", True, ["[card ••••4242] [email a••••@example.com]", "NW-12345"]),
    ],
)
def test_the_redact_command_prints_lines_as_a_boundary_keeps_them(
    db, flag, contacts, expected
):
    shop_settings(contacts=contacts, store_cards=True)
    out = io.StringIO()
    call_command(
        "redact",
        flag,
        stdin=io.StringIO("4242 4242 4242 4242 alice@example.com\nNW-12345\n"),
        stdout=out,
    )
    assert out.getvalue().splitlines() == expected


def test_the_redact_command_refuses_two_boundaries(db):
    with pytest.raises(Exception, match="not allowed with argument"):
        call_command("redact", "--store", "--export", stdin=io.StringIO(""))


def test_the_redact_command_rewrites_training_examples_taken_from_chats(db):
    from classifier.models import TrainingExample
    from ml.models import GoldenSet, ModelVersion

    shop_settings(contacts=True)
    golden_set = GoldenSet.objects.create(kind=ModelVersion.Kind.INTENT)
    review_source = TrainingExample.Source.REVIEW
    old = TrainingExample.objects.create(
        text="refund to 4242 4242 4242 4242, alice@example.com",
        source=review_source,
        message_id=1,
        golden=True,
    )
    # Its redacted text is already there: the old one goes.
    TrainingExample.objects.create(
        text="pay with [card ••••4242]", source=review_source, message_id=2
    )
    twin = TrainingExample.objects.create(
        text="pay with 4242424242424242", source=review_source, message_id=3
    )
    # The team's own examples are theirs: left as written.
    seed = TrainingExample.objects.create(
        text="my card 4242 4242 4242 4242 was declined",
        source=TrainingExample.Source.SEED,
    )
    out = io.StringIO()
    call_command("redact", "--rewrite-training-examples", stdout=out)
    assert out.getvalue().strip() == "Redacted 2 training example(s)."
    old.refresh_from_db()
    assert old.text == "refund to [card ••••4242], [email a••••@example.com]"
    assert not TrainingExample.objects.filter(pk=twin.pk).exists()
    seed.refresh_from_db()
    assert seed.text == "my card 4242 4242 4242 4242 was declined"
    version = golden_set.version
    golden_set.refresh_from_db()
    assert golden_set.version == version + 1
    # Run again: nothing left to do.
    out = io.StringIO()
    call_command("redact", "--rewrite-training-examples", stdout=out)
    assert out.getvalue().strip() == "Redacted 0 training example(s)."


def test_it_masks_what_the_bots_buttons_quote_in_api_payloads(
    client, conversation, settings
):
    settings.SECURE_SSL_REDIRECT = False
    shop_settings(contacts=True)
    services.message_store(
        conversation_id=conversation.pk,
        sender=Message.Sender.BOT,
        text="Shall we look at your other question?",
        payload={
            "quick_replies": [
                {"title": "IBAN DE89 3704 0044 0532 0130 00", "payload": {"n": 1}},
                {"title": "mail alice@example.com about NW-12345", "payload": {}},
            ],
            "confidence": 0.5,
        },
    )
    key = api_key(scopes=["conversations:read"])
    item = client.get(
        f"/api/v1/conversations/{conversation.public_id}/messages",
        headers={"Authorization": f"Bearer {key}"},
    ).json()["items"][0]
    assert item["payload"] == {
        "quick_replies": [
            {"title": "IBAN [iban ••••3000]", "payload": {"n": 1}},
            {"title": "mail [email a••••@example.com] about NW-12345", "payload": {}},
        ],
        "confidence": 0.5,
    }
