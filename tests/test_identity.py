"""Verified shopper identity: the shop signs a logged-in shopper, the widget's hello
carries it, the consumer links the conversation (in-process, real Redis and
PostgreSQL). Anything not signed by the shop's secret, for these very values, within
the max age, links no one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command

from chatbot import identity
from chatbot.models import Conversation, Customer, Order
from config.asgi import application
from tests.chat import frames_until, said
from tests.factories import IntentFactory, OrderFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
]
ORIGIN = (b"origin", b"http://testserver")
SECRET = "test-shop-identity-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def shop_secret(settings: Any) -> None:
    settings.SHOP_IDENTITY_SECRET = SECRET
    settings.SHOP_IDENTITY_MAX_AGE = 3600


def signed(
    shopper_id: str = "42",
    email: str = "alice@example.com",
    name: str = "Alice",
    *,
    age: int = 0,
    secret: str = SECRET,
) -> dict[str, Any]:
    """An identity as the shop's page hands it to the widget."""
    timestamp = int(time.time()) - age
    return {
        "id": shopper_id,
        "email": email,
        "name": name,
        "timestamp": timestamp,
        "signature": identity.sign(
            secret=secret,
            timestamp=timestamp,
            shopper_id=shopper_id,
            email=email,
            name=name,
        ),
    }


async def hello(**fields: Any) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "hello", **fields})
    session = await ws.receive_json_from()
    assert session["type"] == "session", session
    assert (await ws.receive_json_from())["type"] == "status"
    return ws, session


@database_sync_to_async
def customer_of(session: dict[str, Any]) -> Customer:
    conversation = Conversation.objects.select_related("customer").get(
        public_id=session["conversation"]
    )
    return conversation.customer


@database_sync_to_async
def identified(shopper_id: str) -> list[Customer]:
    return list(Customer.objects.filter(external_id=shopper_id))


# --- what links, and what doesn't -----------------------------------------------


async def test_it_links_a_validly_signed_shopper_to_the_conversation():
    ws, session = await hello(identity=signed())
    await ws.disconnect()
    customer = await customer_of(session)
    assert session["identity"] == "verified"
    assert customer.external_id == "42"
    assert customer.email == "alice@example.com"
    assert customer.name == "Alice"
    assert customer.identified_at is not None
    assert customer.verified_email == "alice@example.com"


@pytest.mark.parametrize(
    ("identity_fields", "error"),
    [
        # Signed with another secret: a forgery.
        (signed(secret="not-the-shops-secret-at-all-0123456789"), "bad_signature"),
        # The shop signed shopper 42; the page claims 43 with 42's signature.
        ({**signed("42"), "id": "43"}, "bad_signature"),
        # A signed identity with the email swapped for the victim's.
        ({**signed(), "email": "victim@example.com"}, "bad_signature"),
        # An email added to an identity signed without one.
        ({**signed(email=""), "email": "alice@example.com"}, "bad_signature"),
        # Replayed: signed two hours ago, past SHOP_IDENTITY_MAX_AGE.
        (signed(age=2 * 3600), "expired"),
        # From the future, past the allowed clock skew.
        (signed(age=-3600), "expired"),
        ({**signed(), "signature": ""}, "missing_fields"),
        ({k: v for k, v in signed().items() if k != "timestamp"}, "missing_fields"),
        ({k: v for k, v in signed().items() if k != "id"}, "missing_fields"),
        ({"id": "42", "email": "alice@example.com"}, "missing_fields"),
        ("42", "missing_fields"),
        ({**signed(), "signature": "zz" * 32}, "invalid_field"),
        ({**signed(), "timestamp": "yesterday"}, "invalid_field"),
        ({**signed(), "name": ["Alice"]}, "invalid_field"),
        # Signed, but no address: nothing to find orders by.
        (signed(email="alice at example"), "invalid_field"),
    ],
    ids=[
        "forged",
        "another-shopper",
        "swapped-email",
        "unsigned-email",
        "replayed",
        "future",
        "no-signature",
        "no-timestamp",
        "no-id",
        "unsigned",
        "not-an-object",
        "signature-not-hex",
        "timestamp-not-a-number",
        "name-not-text",
        "signed-non-email",
    ],
)
async def test_it_links_no_one_with_an_identity_the_shop_did_not_sign(
    identity_fields, error
):
    ws, session = await hello(identity=identity_fields)
    await ws.disconnect()
    customer = await customer_of(session)
    assert session["identity"] == "refused"
    assert session["identity_error"] == error
    assert customer.external_id == ""
    assert customer.identified_at is None
    # An unsigned email is not "verified", and nothing is stored from it.
    assert customer.email == ""
    assert customer.verified_email == ""
    assert await identified("42") == [] and await identified("43") == []


async def test_it_trusts_no_identity_while_the_shop_has_no_secret(settings):
    settings.SHOP_IDENTITY_SECRET = ""
    ws, session = await hello(identity=signed(secret=""))
    await ws.disconnect()
    assert session["identity_error"] == "not_configured"
    assert (await customer_of(session)).external_id == ""


async def test_a_hello_without_identity_is_answered_as_before():
    ws, session = await hello()
    await ws.disconnect()
    assert "identity" not in session
    assert (await customer_of(session)).external_id == ""


# --- history across devices, sign-in and sign-out ---------------------------------


async def test_a_second_device_of_the_same_shopper_resumes_their_conversation():
    laptop, first = await hello(identity=signed())
    await laptop.send_json_to(
        {"type": "message", "client_msg_id": "m1", "text": "hello from the laptop"}
    )
    await frames_until(laptop, lambda f: f["type"] == "ack")
    await laptop.disconnect()

    # The phone has no token: only the signed id says who this is.
    phone, second = await hello(identity=signed())
    await phone.send_json_to({"type": "resync", "since_seq": 0})
    history = await frames_until(
        phone, lambda f: f["type"] == "message" and f["sender"] == "customer"
    )
    await phone.disconnect()
    assert second["conversation"] == first["conversation"]
    assert history[-1]["text"] == "hello from the laptop"
    assert len(await identified("42")) == 1


async def test_a_visitor_who_signs_in_keeps_the_conversation_they_started():
    ws, anonymous = await hello()
    await ws.disconnect()
    ws, signed_in = await hello(
        token=anonymous["token"],
        conversation=anonymous["conversation"],
        identity=signed(),
    )
    await ws.disconnect()
    assert signed_in["conversation"] == anonymous["conversation"]
    assert (await customer_of(signed_in)).external_id == "42"


async def test_signing_in_on_a_visitors_device_opens_the_shoppers_own_conversation():
    ws, own = await hello(identity=signed())
    await ws.disconnect()
    # Someone else chatted anonymously on this device before Alice signed in.
    ws, stranger = await hello()
    await ws.disconnect()
    ws, session = await hello(
        token=stranger["token"],
        conversation=stranger["conversation"],
        identity=signed(),
    )
    await ws.disconnect()
    assert session["conversation"] == own["conversation"]
    assert (await customer_of(stranger)).external_id == ""


async def test_a_signed_in_shoppers_device_shows_nothing_of_theirs_after_sign_out():
    ws, alice = await hello(identity=signed())
    await ws.disconnect()
    # Alice logged out; the next person on this computer has her token in storage.
    ws, after = await hello(token=alice["token"], conversation=alice["conversation"])
    await ws.disconnect()
    assert after["conversation"] != alice["conversation"]
    assert (await customer_of(after)).external_id == ""
    # Nor may another shopper's signed identity reach her conversation.
    ws, charlie = await hello(
        token=alice["token"],
        conversation=alice["conversation"],
        identity=signed("77", "charlie@example.com", "Charlie"),
    )
    await ws.disconnect()
    assert charlie["conversation"] != alice["conversation"]
    assert (await customer_of(charlie)).external_id == "77"


async def test_a_linked_device_carries_on_when_the_pages_signature_has_aged():
    ws, first = await hello(identity=signed())
    await ws.disconnect()
    # The tab stayed open for hours: its signature is too old to link anyone new,
    # but this device's token is Alice's and the page still signs Alice.
    ws, later = await hello(
        token=first["token"],
        conversation=first["conversation"],
        identity=signed(age=5 * 3600),
    )
    await ws.disconnect()
    assert later["identity_error"] == "expired"
    assert later["conversation"] == first["conversation"]
    # Without that token the aged signature links no one.
    ws, elsewhere = await hello(identity=signed(age=5 * 3600))
    await ws.disconnect()
    assert elsewhere["conversation"] != first["conversation"]


async def test_it_updates_email_and_name_when_the_shop_signs_new_ones():
    ws, _ = await hello(identity=signed())
    await ws.disconnect()
    ws, session = await hello(
        identity=signed("42", "alice.new@example.com", "Alice Smith")
    )
    await ws.disconnect()
    customer = await customer_of(session)
    assert (customer.email, customer.name) == ("alice.new@example.com", "Alice Smith")


# --- the order question without the email -----------------------------------------


@database_sync_to_async
def orders(*numbers: str, email: str = "alice@example.com") -> list[Order]:
    IntentFactory.create(name="order_status")
    return [
        OrderFactory.create(
            number=number,
            email=email,
            status=Order.Status.SHIPPED,
            carrier="UPS",
            tracking_number="1Z999AA10123456784",
        )
        for number in numbers
    ]


async def ask_where_is_my_order(ws: WebsocketCommunicator) -> dict[str, Any]:
    """Ask as the clarification button would (no intent model in these tests)."""
    await ws.send_json_to(
        {
            "type": "postback",
            "client_msg_id": "q1",
            "title": "Where is my order?",
            "payload": {"intent": "order_status"},
        }
    )
    frames = await frames_until(
        ws, lambda f: f["type"] == "message" and f["sender"] == "bot"
    )
    return frames[-1]


async def test_a_signed_in_shoppers_order_is_found_without_asking_the_email():
    await orders("NW-40001")
    ws, _ = await hello(identity=signed())
    answer = await ask_where_is_my_order(ws)
    await ws.disconnect()
    assert said("order_status", answer["text"]), answer["text"]
    assert "NW-40001" in answer["text"]


async def test_a_shopper_with_several_orders_is_asked_which_and_gets_it():
    await orders("NW-40001", "NW-40002")
    ws, _ = await hello(identity=signed())
    question = await ask_where_is_my_order(ws)
    buttons = question["payload"]["quick_replies"]
    assert said("ask_which_order", question["text"])
    assert sorted(b["payload"]["order_number"] for b in buttons) == [
        "NW-40001",
        "NW-40002",
    ]
    chosen = next(b for b in buttons if b["payload"]["order_number"] == "NW-40002")
    await ws.send_json_to({"type": "postback", "client_msg_id": "q2", **chosen})
    frames = await frames_until(
        ws, lambda f: f["type"] == "message" and f["sender"] == "bot"
    )
    await ws.disconnect()
    assert said("order_status", frames[-1]["text"])
    assert "NW-40002" in frames[-1]["text"]


async def test_an_unsigned_email_is_asked_for_as_from_anyone():
    await orders("NW-40001")
    ws, _ = await hello(
        identity={**signed(secret="forged-forged-forged-forged-forged-0"), "id": "42"}
    )
    answer = await ask_where_is_my_order(ws)
    await ws.disconnect()
    assert said("ask_order_number", answer["text"])
    assert "NW-40001" not in answer["text"]


async def test_another_shoppers_orders_are_never_offered():
    await orders("NW-40001", email="charlie@example.com")
    ws, _ = await hello(identity=signed())
    answer = await ask_where_is_my_order(ws)
    await ws.disconnect()
    assert "NW-40001" not in answer["text"]
    assert said("no_orders_on_account", answer["text"], within=True)
    assert said("ask_order_number", answer["text"], within=True)


@database_sync_to_async
def followup_email_given(session: dict[str, Any], address: str) -> Customer:
    from chatbot import services
    from chatbot.dialogue.decision import Decision, Reply

    conversation = Conversation.objects.get(public_id=session["conversation"])
    decision = Decision(reply=Reply(text="ok"), state={}, followup_email=address)
    services._apply(decision, conversation=conversation, message_id=0)
    return Customer.objects.get(pk=conversation.customer_id)


async def test_an_email_typed_later_never_replaces_the_signed_one():
    ws, session = await hello(identity=signed())
    await ws.disconnect()
    customer = await followup_email_given(session, "mallory@example.com")
    assert customer.verified_email == "alice@example.com"


# --- the helper for shop developers ---------------------------------------------


def test_sign_identity_prints_a_snippet_the_server_accepts(capsys, settings):
    call_command("sign_identity", "--id", "42", "--email", "a@b.c", "--name", "Alice")
    out = capsys.readouterr().out
    assert 'data-shopper-id="42"' in out
    assert 'data-shopper-email="a@b.c"' in out
    fields = dict(re.findall(r'data-shopper-(\w+)="([^"]*)"', out))
    result = identity.verify(
        {
            "id": fields["id"],
            "email": fields["email"],
            "name": fields["name"],
            "timestamp": fields["timestamp"],
            "signature": fields["signature"],
        }
    )
    assert result.verified


def test_sign_identity_refuses_without_a_secret(settings):
    from django.core.management.base import CommandError

    settings.SHOP_IDENTITY_SECRET = ""
    with pytest.raises(CommandError, match="SHOP_IDENTITY_SECRET"):
        call_command("sign_identity", "--id", "42")


def test_the_signed_string_is_the_documented_one():
    # docs/identity.md shows this very example; shops reproduce it byte for byte.
    assert (
        identity.signed_string(
            timestamp=1764547200, shopper_id="42", email="a@b.c", name="Alice"
        )
        == "1764547200\n42\na@b.c\nAlice"
    )
    assert (
        identity.sign(
            secret="s3cret",
            timestamp=1764547200,
            shopper_id="42",
            email="a@b.c",
            name="Alice",
        )
        == DOCUMENTED_SIGNATURE
    )


# The HMAC-SHA256 of the example above with the secret "s3cret", as docs/identity.md
# prints it (computed independently with `openssl dgst -sha256 -hmac s3cret`).
DOCUMENTED_SIGNATURE = (
    "0616cfc6e3a93733793af16d300914e5c78fb781e87640cee791350484dc3000"
)


DOCS = Path(__file__).resolve().parent.parent / "docs" / "identity.md"


def documented(language: str) -> str:
    """The signing code docs/identity.md gives shops in ``language``."""
    found = re.search(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)
    assert found is not None
    return found.group(1)


def test_the_documented_python_signer_makes_identities_the_server_accepts():
    namespace: dict[str, Any] = {}
    exec(documented("python"), namespace)  # noqa: S102 - our own documentation
    made = namespace["concierge_identity"](SECRET, "42", "a@b.c", "Alice")
    assert identity.verify(made).verified
    assert not identity.verify({**made, "id": "43"}).verified


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_the_documented_node_signer_makes_identities_the_server_accepts():
    script = documented("js") + (
        f"console.log(JSON.stringify(conciergeIdentity({json.dumps(SECRET)}, "
        '"42", "a@b.c", "Alice")));'
    )
    run = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, check=True, timeout=30
    )
    made = json.loads(run.stdout)
    assert identity.verify(made).verified
    assert not identity.verify({**made, "email": "b@b.c"}).verified
