"""The staff access log: one row per opening of a transcript in the console (a real
websocket), the admin and the API; nobody else ever reaches a transcript, so no
row is written for them; the log itself is read-only in the admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chatbot.models import Conversation
from config.asgi import application
from privacy.models import StaffAccess
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    MessageFactory,
    StaffFactory,
    api_key,
)
from tests.test_console import ORIGIN, console, cookie_for, opened


def rows() -> list[tuple[str, str, str, str]]:
    """(user name, API key, place, conversation id) of every row, oldest first."""
    return [
        (r.username, r.api_key_name, r.place, r.conversation_public_id)
        for r in StaffAccess.objects.order_by("opened_at", "pk")
    ]


def chat(customer: Any) -> Conversation:
    conversation = ConversationFactory.create(customer=customer)
    MessageFactory.create(conversation=conversation, text="my parcel is late")
    return conversation


# --- the console ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
async def test_it_writes_one_row_when_an_agent_opens_a_transcript_in_the_console(
    alice,
):
    bob = await database_sync_to_async(AgentFactory.create)(username="bob")
    first, second = [await database_sync_to_async(chat)(alice) for _ in range(2)]
    headers = [await database_sync_to_async(cookie_for)(bob)]
    ws, _ = await console(headers)
    detail = await opened(ws, first)
    assert detail["conversation"]["id"] == first.public_id
    log = await database_sync_to_async(rows)()
    assert log == [("bob", "", "console", first.public_id)]

    # The same opening: ``open`` again on this socket (the page refreshing the
    # detail), and the socket reconnecting, which sends ``open`` again.
    await opened(ws, first)
    await ws.disconnect()
    ws, _ = await console(headers)
    await opened(ws, first)
    assert await database_sync_to_async(rows)() == log

    # Another transcript is another opening.
    await opened(ws, second)
    assert await database_sync_to_async(rows)() == [
        *log,
        ("bob", "", "console", second.public_id),
    ]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
async def test_it_writes_no_row_for_staff_the_console_refuses(alice):
    conversation = await database_sync_to_async(chat)(alice)
    no_view = await database_sync_to_async(StaffFactory.create)(username="erin")
    ws = WebsocketCommunicator(
        application,
        "/ws/console/",
        headers=[ORIGIN, await database_sync_to_async(cookie_for)(no_view)],
    )
    connected, _ = await ws.connect()
    assert not connected
    anonymous = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, _ = await anonymous.connect()
    assert not connected
    assert await database_sync_to_async(StaffAccess.objects.count)() == 0
    assert await database_sync_to_async(Conversation.objects.count)() == 1
    assert conversation.pk is not None


def test_it_counts_a_reopening_after_some_minutes_as_a_new_opening(db, alice, bob):
    conversation = chat(alice)
    opened_at = timezone.now()
    StaffAccess.record(
        place="console", conversations=[conversation], user=bob, now=opened_at
    )
    StaffAccess.record(
        place="console",
        conversations=[conversation],
        user=bob,
        now=opened_at + StaffAccess.SAME_OPENING - timedelta(seconds=1),
    )
    assert StaffAccess.objects.count() == 1
    StaffAccess.record(
        place="console",
        conversations=[conversation],
        user=bob,
        now=opened_at + StaffAccess.SAME_OPENING + timedelta(seconds=1),
    )
    # Another place, or another user, is another opening at once.
    StaffAccess.record(
        place="admin", conversations=[conversation], user=bob, now=opened_at
    )
    dave = StaffFactory.create(username="dave")
    StaffAccess.record(
        place="console", conversations=[conversation], user=dave, now=opened_at
    )
    assert sorted(rows()) == sorted(
        [
            ("bob", "", "console", conversation.public_id),
            ("bob", "", "console", conversation.public_id),
            ("bob", "", "admin", conversation.public_id),
            ("dave", "", "console", conversation.public_id),
        ]
    )


# --- the admin ---------------------------------------------------------------------


@pytest.fixture
def superbob(bob: Any) -> Any:
    bob.is_superuser = True
    bob.save()
    return bob


def test_it_writes_one_row_when_staff_open_a_transcript_in_the_admin(
    client, superbob, alice
):
    conversation = chat(alice)
    client.force_login(superbob)
    url = reverse("admin:chatbot_conversation_change", args=[conversation.pk])
    page = client.get(url, secure=True)
    assert page.status_code == 200
    assert b"my parcel is late" in page.content
    assert rows() == [("bob", "", "admin", conversation.public_id)]
    # Shown again at once (a reload, "save and continue"): the same opening.
    assert client.get(url, secure=True).status_code == 200
    assert rows() == [("bob", "", "admin", conversation.public_id)]
    entry = StaffAccess.objects.get()
    assert entry.user == superbob and entry.conversation == conversation


def test_it_writes_one_row_per_transcript_exported_as_csv(
    client, superbob, alice, charlie
):
    alices, charlies, _ = chat(alice), chat(charlie), chat(charlie)
    client.force_login(superbob)
    response = client.post(
        reverse("admin:chatbot_conversation_changelist"),
        {"action": "export_csv", "_selected_action": [alices.pk, charlies.pk]},
        secure=True,
    )
    assert response["Content-Type"] == "text/csv"
    assert sorted(rows()) == sorted(
        [
            ("bob", "", "admin", alices.public_id),
            ("bob", "", "admin", charlies.public_id),
        ]
    )


def test_it_writes_no_row_when_the_admin_refuses_the_transcript(client, bob, alice):
    conversation = chat(alice)
    url = reverse("admin:chatbot_conversation_change", args=[conversation.pk])
    # Nobody logged in: the login page.
    assert client.get(url, secure=True).status_code == 302
    # A logged-in customer-side user who is not staff: the login page too.
    outsider = StaffFactory.create(username="mallory", is_staff=False)
    client.force_login(outsider)
    assert client.get(url, secure=True).status_code == 302
    # Staff without the permission to view conversations: refused.
    client.force_login(bob)
    assert client.get(url, secure=True).status_code == 403
    assert StaffAccess.objects.count() == 0


# --- the API -----------------------------------------------------------------------


@pytest.fixture
def plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


def api_get(client: Client, path: str, *, key: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.usefixtures("plain_http")
def test_it_writes_one_row_when_a_key_reads_a_transcript(client, alice):
    conversation = chat(alice)
    MessageFactory.create(conversation=conversation, text="and it was damaged")
    key = api_key(scopes=["conversations:read"], name="Helpdesk sync")
    path = f"/api/v1/conversations/{conversation.public_id}/messages"
    page = api_get(client, f"{path}?limit=1", key=key)
    assert page.status_code == 200
    assert rows() == [("", "Helpdesk sync", "api", conversation.public_id)]
    # The next page of the same transcript: the same opening.
    assert api_get(client, f"{path}?since_seq=1", key=key).status_code == 200
    assert rows() == [("", "Helpdesk sync", "api", conversation.public_id)]
    assert StaffAccess.objects.get().user is None


@pytest.mark.usefixtures("plain_http")
def test_it_writes_no_row_for_a_refused_key_or_a_read_without_the_transcript(
    client, alice
):
    conversation = chat(alice)
    path = f"/api/v1/conversations/{conversation.public_id}"
    catalog_only = api_key(scopes=["catalog"], name="Catalog sync")
    assert api_get(client, f"{path}/messages", key=catalog_only).status_code == 403
    assert api_get(client, f"{path}/messages", key="ck_nope").status_code == 401
    # The conversation's status and rating, without a message: no transcript read.
    reader = api_key(scopes=["conversations:read"], name="Helpdesk sync")
    assert api_get(client, path, key=reader).status_code == 200
    assert api_get(client, "/api/v1/conversations", key=reader).status_code == 200
    assert StaffAccess.objects.count() == 0


# --- the log in the admin ----------------------------------------------------------


def test_it_lists_the_log_read_only_filtered_and_searchable(client, superbob, alice):
    mine, other = chat(alice), chat(alice)
    dave = StaffFactory.create(username="dave")
    StaffAccess.record(place="console", conversations=[mine], user=dave)
    StaffAccess.record(place="admin", conversations=[other], user=superbob)
    StaffAccess.record(place="api", conversations=[mine], api_key_name="ERP")
    client.force_login(superbob)
    url = reverse("admin:privacy_staffaccess_changelist")

    def listed(**query: str) -> set[tuple[str, str, str]]:
        response = client.get(url, query, secure=True)
        assert response.status_code == 200
        found = response.context["cl"].result_list
        return {(r.username, r.place, r.conversation_public_id) for r in found}

    assert listed(place__exact="console") == {("dave", "console", mine.public_id)}
    assert listed(user__id__exact=str(superbob.pk)) == {
        ("bob", "admin", other.public_id)
    }
    assert listed(q=mine.public_id) == {
        ("dave", "console", mine.public_id),
        ("", "api", mine.public_id),
    }
    today = timezone.localdate()
    assert len(listed(opened_at__year=str(today.year))) == 3
    entry = StaffAccess.objects.get(place="admin")
    # Nobody edits, adds or deletes a line of the log by hand.
    add = reverse("admin:privacy_staffaccess_add")
    assert client.get(add, secure=True).status_code == 403
    delete = reverse("admin:privacy_staffaccess_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}, secure=True).status_code == 403
    change = reverse("admin:privacy_staffaccess_change", args=[entry.pk])
    client.post(change, {"username": "someone else"}, secure=True)
    entry.refresh_from_db()
    assert entry.username == "bob"
    assert StaffAccess.objects.count() == 3


def test_it_keeps_the_log_from_staff_without_the_permission(client, bob, alice):
    StaffAccess.record(place="console", conversations=[chat(alice)], user=bob)
    client.force_login(bob)
    url = reverse("admin:privacy_staffaccess_changelist")
    assert client.get(url, secure=True).status_code == 403


# --- access and erasure requests ----------------------------------------------------


def test_an_erasure_keeps_the_lines_but_not_whose_and_the_export_lists_them(
    bob, alice, charlie
):
    from privacy.erasure import subject_erase
    from privacy.export import subject_export
    from privacy.models import DataSubjectRequest

    alices, charlies = chat(alice), chat(charlie)
    [line] = StaffAccess.record(place="admin", conversations=[alices], user=bob)
    [other] = StaffAccess.record(place="admin", conversations=[charlies], user=bob)
    via = DataSubjectRequest.Via.ADMIN

    export = subject_export(customer_id=alice.pk, by=bob, by_name="bob", via=via)
    [exported] = export.data["rows"]["privacy.StaffAccess"]
    assert exported["pk"] == line.pk
    # When and where it was read; not by whom (the staff's data is theirs).
    assert exported["fields"]["conversation_public_id"] == alices.public_id
    assert exported["fields"]["place"] == "admin"
    assert "bob" not in str(exported)

    record = subject_erase(customer_id=alice.pk, by=bob, by_name="bob", via=via)
    assert record.anonymised["privacy.StaffAccess"] == 1
    line.refresh_from_db()
    assert (line.conversation_id, line.conversation_public_id) == (None, "")
    assert (line.username, line.place) == ("bob", "admin")
    other.refresh_from_db()
    assert other.conversation_public_id == charlies.public_id
    assert other.conversation == charlies
