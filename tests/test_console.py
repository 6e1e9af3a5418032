"""The agent console: staff-only access, takeover, replies, notes, races (real
websockets through config.asgi, real PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import importlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from chatbot.console import services
from chatbot.models import (
    AgentPresence,
    Conversation,
    ConversationNote,
    Customer,
    Message,
)
from config.asgi import application
from tests.chat import frames_until
from tests.factories import (
    CONSOLE_PERMISSIONS,
    AgentFactory,
    CannedResponseFactory,
    ConversationFactory,
    MessageFactory,
    StaffFactory,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
]
ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def bob(db: Any) -> Any:
    """A support agent, with every console permission."""
    return AgentFactory.create(username="bob")


@pytest.fixture
def dave(db: Any) -> Any:
    """A second support agent."""
    return AgentFactory.create(username="dave")


def agent_without(missing: str, username: str = "erin") -> Any:
    """Staff with every console permission but ``missing``."""
    return AgentFactory.create(
        username=username,
        permissions=[p for p in CONSOLE_PERMISSIONS if p != f"chatbot.{missing}"],
    )


def cookie_for(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def waiting_conversation(customer: Customer, *, minutes_ago: int = 5) -> Conversation:
    conversation = ConversationFactory.create(
        customer=customer,
        status=Conversation.Status.WAITING_FOR_AGENT,
        waiting_since=timezone.now() - timedelta(minutes=minutes_ago),
        state={
            "handoff": {
                "reason": "two failed turns",
                "top_intents": [["order_status", 0.41], ["refund", 0.22]],
                "form": {"name": "order_lookup", "slots": {"order": "A-1001"}},
                "tried": ["re-asked", "clarified"],
            }
        },
    )
    MessageFactory.create(conversation=conversation, text="I need a person")
    MessageFactory.create(
        conversation=conversation,
        sender="bot",
        text="Let me get someone.",
        intent="handoff",
        confidence=0.42,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=2)
    conversation.refresh_from_db()
    return conversation


async def console(headers: list[tuple[bytes, bytes]]) -> tuple[Any, dict[str, Any]]:
    ws = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, *headers])
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from()
    assert hello["type"] == "hello"
    return ws, hello


async def widget(customer: Customer, conversation: Conversation) -> Any:
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN])
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to(
        {
            "type": "hello",
            "token": customer.token,
            "conversation": conversation.public_id,
        }
    )
    assert (await ws.receive_json_from())["type"] == "session"
    assert (await ws.receive_json_from())["type"] == "status"
    return ws


def of_type(kind: str, **fields: Any) -> Any:
    return lambda f: f["type"] == kind and all(f.get(k) == v for k, v in fields.items())


def summary_of(public_id: str, **fields: Any) -> Any:
    return lambda f: (
        f["type"] == "conversation"
        and f["conversation"]["id"] == public_id
        and all(f["conversation"].get(k) == v for k, v in fields.items())
    )


async def opened(ws: Any, conversation: Conversation) -> dict[str, Any]:
    await ws.send_json_to({"type": "open", "conversation": conversation.public_id})
    frames = await frames_until(ws, of_type("detail"))
    return frames[-1]


@database_sync_to_async
def reload(conversation: Conversation) -> Conversation:
    conversation.refresh_from_db()
    return conversation


# --- who may connect ---------------------------------------------------------------


async def test_it_refuses_the_console_socket_to_anonymous_visitors():
    ws = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, code = await ws.connect()
    assert not connected
    assert code == 4403


async def test_it_refuses_the_console_socket_to_a_customer_token(alice):
    ws = WebsocketCommunicator(
        application, f"/ws/console/?token={alice.token}", headers=[ORIGIN]
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_it_refuses_the_console_socket_to_a_logged_in_non_staff_user():
    user = await database_sync_to_async(StaffFactory.create)(
        username="mallory", is_staff=False
    )
    header = await database_sync_to_async(cookie_for)(user)
    ws = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, header])
    connected, _ = await ws.connect()
    assert not connected


async def test_it_refuses_a_staff_session_opened_from_a_widget_shop_origin(
    bob, settings
):
    settings.WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
    header = await database_sync_to_async(cookie_for)(bob)
    shop = (b"origin", b"https://shop.example")
    chat = WebsocketCommunicator(application, "/ws/chat/", headers=[shop])
    assert (await chat.connect())[0]  # the shop may open the chat
    await chat.disconnect()
    ws = WebsocketCommunicator(application, "/ws/console/", headers=[shop, header])
    connected, _ = await ws.connect()
    assert not connected


# --- the list ---------------------------------------------------------------------


async def test_it_lists_waiting_conversations_first_longest_wait_on_top(
    alice, charlie, bob
):
    chatting = await database_sync_to_async(ConversationFactory.create)(
        customer=alice, last_seq=1
    )
    newer = await database_sync_to_async(waiting_conversation)(alice, minutes_ago=1)
    older = await database_sync_to_async(waiting_conversation)(charlie, minutes_ago=9)
    ws, hello = await console([await database_sync_to_async(cookie_for)(bob)])
    ids = [c["id"] for c in hello["conversations"]]
    assert ids == [older.public_id, newer.public_id, chatting.public_id]
    assert hello["conversations"][0]["waiting_since"] == older.waiting_since.isoformat()
    assert hello["conversations"][0]["reason"] == "two failed turns"
    await ws.disconnect()


async def test_it_updates_the_list_live_when_a_customer_writes(alice, bob):
    conversation = await database_sync_to_async(ConversationFactory.create)(
        customer=alice
    )
    ws, hello = await console([await database_sync_to_async(cookie_for)(bob)])
    assert hello["conversations"] == []  # an empty conversation is not listed
    customer = await widget(alice, conversation)
    await customer.send_json_to(
        {"type": "message", "client_msg_id": "c1", "text": "Hello?"}
    )
    frames = await frames_until(ws, summary_of(conversation.public_id))
    # The console re-reads the row: it shows the newest message stored so far
    # (with eager tasks the bot may already have answered).
    texts = await database_sync_to_async(
        lambda: list(conversation.messages.values_list("text", flat=True))
    )()
    assert "Hello?" in texts
    assert frames[-1]["conversation"]["last_message"] in texts
    await customer.disconnect()
    await ws.disconnect()


async def test_it_records_presence_on_connect_and_on_a_heartbeat(alice, bob):
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    presence = await database_sync_to_async(AgentPresence.objects.get)(user=bob)
    long_ago = timezone.now() - timedelta(hours=1)
    await database_sync_to_async(AgentPresence.objects.filter(pk=presence.pk).update)(
        last_seen=long_ago
    )
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    await ws.send_json_to({"type": "heartbeat"})
    await opened(ws, conversation)  # frames are handled in order: heartbeat is done
    presence = await database_sync_to_async(AgentPresence.objects.get)(user=bob)
    assert presence.last_seen > long_ago + timedelta(minutes=59)
    await ws.disconnect()


# --- one conversation --------------------------------------------------------------


async def test_it_shows_the_transcript_with_intents_and_the_handoff_pack(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    await database_sync_to_async(ConversationNote.objects.create)(
        conversation=conversation, author=bob, text="VIP customer"
    )
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    detail = await opened(ws, conversation)
    bot = detail["messages"][1]
    assert (bot["sender"], bot["intent"], bot["confidence"]) == ("bot", "handoff", 0.42)
    assert detail["handoff"]["form"]["slots"] == {"order": "A-1001"}
    assert detail["handoff"]["tried"] == ["re-asked", "clarified"]
    assert [n["text"] for n in detail["notes"]] == ["VIP customer"]
    await ws.disconnect()


async def test_it_takes_over_and_the_customer_gets_the_agents_reply(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    customer = await widget(alice, conversation)
    await opened(ws, conversation)

    await ws.send_json_to({"type": "take", "conversation": conversation.public_id})
    status = await frames_until(customer, of_type("status", status="with_agent"))
    assert status[-1]["queue_position"] is None
    await frames_until(
        ws,
        summary_of(conversation.public_id, status="with_agent", assigned_agent="bob"),
    )
    taken = await reload(conversation)
    assert taken.assigned_agent_id == bob.pk
    assert taken.handed_over_at is not None
    assert not taken.bot_may_answer()

    await ws.send_json_to(
        {
            "type": "reply",
            "conversation": conversation.public_id,
            "client_msg_id": "r1",
            "text": "Hi Alice, Bob here.",
        }
    )
    got = await frames_until(customer, of_type("message", sender="agent"))
    assert got[-1]["text"] == "Hi Alice, Bob here."
    assert got[-1]["seq"] == 3
    ack = await frames_until(ws, of_type("ack"))
    assert ack[-1]["seq"] == 3
    stored = await database_sync_to_async(Message.objects.get)(
        conversation=conversation, seq=3
    )
    assert (stored.sender, stored.agent_id) == ("agent", bob.pk)
    await customer.disconnect()
    await ws.disconnect()


async def test_it_stops_the_bot_answering_once_a_person_has_taken_over(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    await database_sync_to_async(services.conversation_take)(
        conversation_id=conversation.pk, agent=bob
    )
    customer = await widget(alice, conversation)
    await customer.send_json_to(
        {"type": "message", "client_msg_id": "m1", "text": "Are you there?"}
    )
    await frames_until(customer, of_type("ack"))
    # Tasks run eagerly: had the bot answered, its message would be stored by now.
    senders = await database_sync_to_async(
        lambda: list(
            conversation.messages.order_by("seq").values_list("sender", flat=True)
        )
    )()
    assert senders == ["customer", "bot", "customer"]
    await customer.disconnect()


async def test_it_relays_typing_between_the_customer_and_the_agent(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    customer = await widget(alice, conversation)
    await opened(ws, conversation)

    await customer.send_json_to({"type": "typing"})
    await frames_until(ws, of_type("typing", sender="customer"))

    await ws.send_json_to({"type": "typing", "conversation": conversation.public_id})
    got = await frames_until(customer, of_type("typing"))
    assert got[-1] == {"type": "typing", "sender": "agent"}
    await customer.disconnect()
    await ws.disconnect()


async def test_it_keeps_internal_notes_from_the_customer(alice, bob, dave):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    other, _ = await console([await database_sync_to_async(cookie_for)(dave)])
    await opened(ws, conversation)
    customer = await widget(alice, conversation)
    await ws.send_json_to(
        {"type": "note", "conversation": conversation.public_id, "text": "Refund ok"}
    )
    note = await frames_until(other, of_type("note"))
    assert note[-1]["note"]["text"] == "Refund ok"
    assert note[-1]["note"]["author"] == "bob"
    assert await customer.receive_nothing(timeout=0.5)
    count = await database_sync_to_async(conversation.messages.count)()
    assert count == 2  # a note is not a message
    await customer.disconnect()
    await ws.disconnect()
    await other.disconnect()


async def test_it_refuses_a_reply_from_an_agent_who_has_not_taken_over(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    await ws.send_json_to(
        {
            "type": "reply",
            "conversation": conversation.public_id,
            "client_msg_id": "x",
            "text": "Hello",
        }
    )
    error = await frames_until(ws, of_type("error"))
    assert error[-1]["code"] == "not_assigned"
    assert await database_sync_to_async(conversation.messages.count)() == 2
    await ws.disconnect()


async def test_it_hands_back_to_the_bot_which_answers_again(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    await database_sync_to_async(services.conversation_take)(
        conversation_id=conversation.pk, agent=bob
    )
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    customer = await widget(alice, conversation)
    await ws.send_json_to({"type": "hand_back", "conversation": conversation.public_id})
    await frames_until(customer, of_type("status", status="bot"))
    assert (await reload(conversation)).assigned_agent_id is None
    await customer.send_json_to(
        {"type": "message", "client_msg_id": "h1", "text": "hello"}
    )
    await frames_until(customer, of_type("message", sender="bot"))
    await customer.disconnect()
    await ws.disconnect()


async def test_it_resolves_and_the_widget_gets_the_status_that_asks_for_a_rating(
    alice, bob
):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    customer = await widget(alice, conversation)
    await ws.send_json_to({"type": "take", "conversation": conversation.public_id})
    await ws.send_json_to({"type": "resolve", "conversation": conversation.public_id})
    await frames_until(customer, of_type("status", status="resolved"))
    resolved = await reload(conversation)
    assert resolved.resolved_at is not None
    await customer.send_json_to({"type": "csat", "score": 5})
    await customer.send_json_to({"type": "resync", "since_seq": 2})
    assert await customer.receive_nothing(timeout=0.5)  # the rating was accepted
    assert (await reload(conversation)).csat_score == 5
    await customer.disconnect()
    await ws.disconnect()


async def test_it_transfers_a_conversation_to_another_agent(alice, bob, dave):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    await ws.send_json_to({"type": "take", "conversation": conversation.public_id})
    await frames_until(ws, summary_of(conversation.public_id, assigned_agent="bob"))
    await ws.send_json_to(
        {"type": "assign", "conversation": conversation.public_id, "agent": dave.pk}
    )
    await frames_until(ws, summary_of(conversation.public_id, assigned_agent="dave"))
    assert (await reload(conversation)).assigned_agent_id == dave.pk
    await ws.send_json_to(
        {
            "type": "reply",
            "conversation": conversation.public_id,
            "client_msg_id": "late",
            "text": "still me",
        }
    )
    assert (await frames_until(ws, of_type("error")))[-1]["code"] == "not_assigned"
    await ws.disconnect()


async def test_it_refuses_to_assign_to_someone_who_is_not_staff(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    await ws.send_json_to(
        {"type": "assign", "conversation": conversation.public_id, "agent": 999999}
    )
    assert (await frames_until(ws, of_type("error")))[-1]["code"] == "unknown_agent"
    assert (await reload(conversation)).status == "waiting_for_agent"
    await ws.disconnect()


async def test_it_moves_the_next_customer_up_the_queue_after_a_take(
    alice, charlie, bob
):
    first = await database_sync_to_async(waiting_conversation)(alice, minutes_ago=9)
    second = await database_sync_to_async(waiting_conversation)(charlie, minutes_ago=1)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    customer = await widget(charlie, second)
    await ws.send_json_to({"type": "take", "conversation": first.public_id})
    frames = await frames_until(customer, of_type("status", queue_position=1))
    assert frames[-1]["status"] == "waiting_for_agent"
    await customer.disconnect()
    await ws.disconnect()


# --- two agents at once ------------------------------------------------------------


async def test_it_lets_only_one_of_two_agents_racing_take_the_conversation(
    alice, bob, dave
):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    bobs, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    daves, _ = await console([await database_sync_to_async(cookie_for)(dave)])
    take = {"type": "take", "conversation": conversation.public_id}
    await asyncio.gather(bobs.send_json_to(take), daves.send_json_to(take))

    taken = await reload(conversation)
    for _ in range(50):
        if taken.assigned_agent_id is not None:
            break
        await asyncio.sleep(0.1)
        taken = await reload(conversation)
    winner = "bob" if taken.assigned_agent_id == bob.pk else "dave"
    loser_ws = daves if winner == "bob" else bobs
    error = await frames_until(loser_ws, of_type("error"))
    assert error[-1]["code"] == "already_taken"
    assert winner in error[-1]["message"]
    # Both consoles end up showing the winner.
    for ws in (bobs, daves):
        await frames_until(
            ws,
            summary_of(
                conversation.public_id, status="with_agent", assigned_agent=winner
            ),
        )
    await bobs.disconnect()
    await daves.disconnect()


def test_it_serialises_concurrent_takes_with_a_row_lock(alice, bob, dave):
    conversation = waiting_conversation(alice)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def take(agent: Any) -> None:
        from django.db import connection

        barrier.wait()
        try:
            services.conversation_take(conversation_id=conversation.pk, agent=agent)
            outcomes[agent.username] = "took"
        except services.AlreadyTaken:
            outcomes[agent.username] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(a,)) for a in (bob, dave)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["refused", "took"]
    conversation.refresh_from_db()
    winner = next(name for name, result in outcomes.items() if result == "took")
    assert conversation.assigned_agent is not None
    assert conversation.assigned_agent.username == winner


# --- HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/console/", "/console/analytics/"])
def test_it_sends_anonymous_visitors_to_the_admin_login(client, url):
    response = client.get(url, secure=True)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ["/console/", "/console/analytics/", "/admin/"])
def test_it_keeps_logged_in_non_staff_users_out(client, url):
    user = StaffFactory.create(username="mallory", is_staff=False)
    client.force_login(user)
    response = client.get(url, secure=True)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_serves_the_console_to_staff_with_the_canned_responses(client, bob):
    CannedResponseFactory.create(
        shortcut="ret", title="Returns", text="You can return within 30 days."
    )
    client.force_login(bob)
    response = client.get("/console/", secure=True)
    assert response.status_code == 200
    assert b'id="canned-data"' in response.content
    assert b"You can return within 30 days." in response.content
    assert b"chatbot/console.js" in response.content


def test_it_creates_a_support_agent_group_with_exactly_the_agents_permissions():
    # Transactional tests flush what migrations wrote, so run the data migration's
    # function again here (it is idempotent, as a re-run migration must be).
    from django.apps import apps

    migration = importlib.import_module("chatbot.migrations.0004_support_agent_group")
    migration.create_group(apps, None)
    migration.create_group(apps, None)
    group = Group.objects.get(name="Support agent")
    codes = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert ("chatbot", "change_conversation") in codes
    assert ("chatbot", "add_conversationnote") in codes
    assert ("chatbot", "change_cannedresponse") in codes
    assert ("classifier", "add_trainingexample") in codes
    assert ("chatbot", "view_order") in codes
    # Nothing destructive, nothing about users or models.
    assert not any(code.startswith("delete_") for _, code in codes)
    assert ("chatbot", "change_order") not in codes
    assert not Permission.objects.filter(
        group=group, content_type__app_label__in=["auth", "ml"]
    ).exists()


# --- permissions -------------------------------------------------------------------


async def closed_with(ws: Any, *, within: float = 5.0) -> int:
    """The close code the server sends within ``within`` seconds (frames before it
    are skipped); fails with a timeout if the socket stays open."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        output = await ws.receive_output(timeout=max(0.01, deadline - loop.time()))
        if output["type"] == "websocket.close":
            return int(output["code"])


def holding(agent: Any, customer: Customer) -> Conversation:
    """A conversation ``agent`` has taken over."""
    conversation = waiting_conversation(customer)
    conversation.take(agent_id=agent.pk)
    return conversation


def support_group() -> Group:
    """The "Support agent" group as the migrations leave it (a transactional test
    starts without the rows data migrations wrote)."""
    from django.apps import apps

    importlib.import_module("chatbot.migrations.0004_support_agent_group").create_group(
        apps, None
    )
    importlib.import_module("chatbot.migrations.0008_console_permissions").grant(
        apps, None
    )
    return Group.objects.get(name="Support agent")


async def test_it_refuses_the_console_socket_to_staff_without_the_view_permission():
    # Staff with every other console permission: viewing is what the console needs.
    erin = await database_sync_to_async(agent_without)("view_conversation")
    mallory = await database_sync_to_async(StaffFactory.create)(username="mallory")
    for user in (erin, mallory):
        header = await database_sync_to_async(cookie_for)(user)
        ws = WebsocketCommunicator(
            application, "/ws/console/", headers=[ORIGIN, header]
        )
        connected, code = await ws.connect()
        assert not connected
        assert code == 4403


def test_it_refuses_the_console_page_to_staff_without_the_view_permission(client):
    client.force_login(StaffFactory.create(username="mallory"))
    response = client.get("/console/", secure=True)
    assert response.status_code == 403
    assert b"canned-data" not in response.content


def test_it_hides_on_the_page_what_the_agent_may_not_do(client):
    viewer = StaffFactory.create(
        username="vera", permissions=["chatbot.view_conversation"]
    )
    AgentFactory.create(username="dave")
    client.force_login(viewer)
    page = client.get("/console/", secure=True).content.decode()
    for needs in ("reply", "resolve", "assign", "note"):
        assert f'data-needs="{needs}" hidden' in page
    assert ">dave</option>" not in page  # no agent list for one who can't assign


async def test_it_tells_the_console_what_the_agent_may_do(bob):
    viewer = await database_sync_to_async(StaffFactory.create)(
        username="vera", permissions=["chatbot.view_conversation"]
    )
    ws, hello = await console([await database_sync_to_async(cookie_for)(bob)])
    assert hello["agent"]["permissions"] == [
        "view",
        "reply",
        "assign",
        "resolve",
        "note",
    ]
    await ws.disconnect()
    ws, hello = await console([await database_sync_to_async(cookie_for)(viewer)])
    assert hello["agent"]["permissions"] == ["view"]
    await ws.disconnect()


@pytest.mark.parametrize(
    ("action", "missing"),
    [
        ("take", "reply_conversation"),
        ("reply", "reply_conversation"),
        ("typing", "reply_conversation"),
        ("hand_back", "reply_conversation"),
        ("resolve", "resolve_conversation"),
        ("assign", "assign_conversation"),
        ("note", "add_conversationnote"),
    ],
)
async def test_it_refuses_each_action_without_its_permission(
    alice, dave, action, missing
):
    erin = await database_sync_to_async(agent_without)(missing)
    # Erin holds the conversation herself: only the permission is in the way.
    conversation = await database_sync_to_async(holding)(erin, alice)
    if action == "take":
        await database_sync_to_async(conversation.hand_back)()
    before = await reload(conversation)
    ws, _ = await console([await database_sync_to_async(cookie_for)(erin)])
    await ws.send_json_to(
        {
            "type": action,
            "conversation": conversation.public_id,
            "client_msg_id": "m1",
            "text": "Hello",
            "agent": dave.pk,
        }
    )
    error = (await frames_until(ws, of_type("error")))[-1]
    assert error["code"] == "forbidden"
    assert error["conversation"] == conversation.public_id
    after = await reload(conversation)
    assert (after.status, after.assigned_agent_id) == (
        before.status,
        before.assigned_agent_id,
    )
    assert after.last_seq == 2
    assert not await database_sync_to_async(ConversationNote.objects.exists)()
    await ws.disconnect()


@pytest.mark.parametrize("action", ["hand_back", "resolve"])
async def test_it_refuses_to_act_on_another_agents_conversation_without_assign(
    alice, bob, dave, action
):
    conversation = await database_sync_to_async(holding)(dave, alice)
    erin = await database_sync_to_async(agent_without)("assign_conversation")
    ws, _ = await console([await database_sync_to_async(cookie_for)(erin)])
    await ws.send_json_to({"type": action, "conversation": conversation.public_id})
    error = (await frames_until(ws, of_type("error")))[-1]
    assert error["code"] == "forbidden"
    assert "dave" in error["message"]
    after = await reload(conversation)
    assert (after.status, after.assigned_agent_id) == ("with_agent", dave.pk)
    await ws.disconnect()

    # Bob may assign, so he may act on Dave's conversation.
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    await ws.send_json_to({"type": action, "conversation": conversation.public_id})
    expected = "bot" if action == "hand_back" else "resolved"
    await frames_until(ws, summary_of(conversation.public_id, status=expected))
    await ws.disconnect()


def test_it_checks_permissions_in_the_service_layer(alice):
    erin = agent_without("resolve_conversation")
    conversation = waiting_conversation(alice)
    with pytest.raises(services.Forbidden):
        services.conversation_resolve(conversation_id=conversation.pk, agent=erin)
    erin.is_active = False
    erin.save()
    with pytest.raises(services.Forbidden):
        services.conversation_take(conversation_id=conversation.pk, agent=erin)
    conversation.refresh_from_db()
    assert conversation.status == "waiting_for_agent"


def test_it_offers_for_assignment_only_staff_who_may_reply(alice, bob, dave):
    StaffFactory.create(username="mallory")
    StaffFactory.create(username="vera", permissions=["chatbot.view_conversation"])
    StaffFactory.create(username="root", is_superuser=True)
    grouped = StaffFactory.create(username="gina")
    grouped.groups.add(support_group())
    AgentFactory.create(username="ivan", is_active=False)
    from chatbot.console import selectors

    assert [a["name"] for a in selectors.agents()] == ["bob", "dave", "gina", "root"]
    conversation = waiting_conversation(alice)
    vera = StaffFactory.create(username="vera")
    with pytest.raises(services.UnknownAgent):
        services.conversation_assign(
            conversation_id=conversation.pk, agent=bob, to_agent_id=vera.pk
        )


def test_it_gives_the_support_agent_group_the_console_permissions():
    from chatbot.console import permissions

    gina = StaffFactory.create(username="gina")
    gina.groups.add(support_group())
    assert permissions.granted(gina) == ["view", "reply", "assign", "resolve", "note"]


def revoke_by_deactivating(user: Any, group: Group) -> None:
    user.is_active = False
    user.save()


def revoke_staff(user: Any, group: Group) -> None:
    user.is_staff = False
    user.save()


def revoke_by_leaving_the_group(user: Any, group: Group) -> None:
    user.groups.remove(group)


def revoke_by_emptying_the_group(user: Any, group: Group) -> None:
    group.user_set.clear()


def revoke_from_the_group(user: Any, group: Group) -> None:
    group.permissions.remove(Permission.objects.get(codename="view_conversation"))


def revoke_everyones_view(user: Any, group: Group) -> None:
    Permission.objects.get(codename="view_conversation").group_set.clear()


def revoke_by_deleting_the_group(user: Any, group: Group) -> None:
    group.delete()


def revoke_by_deleting_the_user(user: Any, group: Group) -> None:
    user.delete()


@pytest.mark.parametrize(
    "revoke",
    [
        revoke_by_deactivating,
        revoke_staff,
        revoke_by_leaving_the_group,
        revoke_by_emptying_the_group,
        revoke_from_the_group,
        revoke_everyones_view,
        revoke_by_deleting_the_group,
        revoke_by_deleting_the_user,
    ],
)
async def test_it_closes_the_socket_within_seconds_when_the_console_is_taken_away(
    alice, revoke
):
    def agent_in_group() -> tuple[Any, Group]:
        group = support_group()
        gina = StaffFactory.create(username="gina")
        gina.groups.add(group)
        return gina, group

    gina, group = await database_sync_to_async(agent_in_group)()
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(gina)])
    await opened(ws, conversation)
    await database_sync_to_async(revoke)(gina, group)
    # Well before the periodic re-check (30 s): the change itself closes it.
    assert await closed_with(ws, within=5) == 4403


async def test_it_closes_the_socket_when_the_direct_permission_is_removed(bob):
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    view = await database_sync_to_async(Permission.objects.get)(
        codename="view_conversation"
    )
    await database_sync_to_async(bob.user_permissions.remove)(view)
    assert await closed_with(ws, within=5) == 4403


async def test_it_updates_the_console_when_an_action_permission_is_removed(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    resolve = await database_sync_to_async(Permission.objects.get)(
        codename="resolve_conversation"
    )
    await database_sync_to_async(bob.user_permissions.remove)(resolve)
    frame = (await frames_until(ws, of_type("permissions")))[-1]
    assert frame["permissions"] == ["view", "reply", "assign", "note"]
    await ws.send_json_to({"type": "resolve", "conversation": conversation.public_id})
    assert (await frames_until(ws, of_type("error")))[-1]["code"] == "forbidden"
    assert (await reload(conversation)).status == "waiting_for_agent"
    await ws.disconnect()


async def test_it_rechecks_the_permissions_before_every_frame(alice, bob):
    conversation = await database_sync_to_async(waiting_conversation)(alice)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    # An update() sends no signal: only the check before the frame can see it.
    await database_sync_to_async(
        StaffFactory._meta.model.objects.filter(pk=bob.pk).update
    )(is_active=False)
    await ws.send_json_to({"type": "take", "conversation": conversation.public_id})
    assert await closed_with(ws, within=5) == 4403
    assert (await reload(conversation)).status == "waiting_for_agent"


async def test_it_rechecks_the_permissions_periodically_as_a_backstop(bob, monkeypatch):
    from chatbot.console import consumers

    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.2)
    ws, _ = await console([await database_sync_to_async(cookie_for)(bob)])
    # A lost signal (an update() sends none); the socket is idle.
    await database_sync_to_async(
        StaffFactory._meta.model.objects.filter(pk=bob.pk).update
    )(is_staff=False)
    assert await closed_with(ws, within=5) == 4403


async def test_it_counts_only_agents_who_may_reply_as_online():
    viewer = await database_sync_to_async(StaffFactory.create)(
        username="vera", permissions=["chatbot.view_conversation"]
    )
    ws, _ = await console([await database_sync_to_async(cookie_for)(viewer)])
    await ws.send_json_to({"type": "heartbeat"})
    await ws.send_json_to({"type": "open", "conversation": "missing"})
    await frames_until(ws, of_type("error"))  # frames run in order: heartbeat done
    assert not await database_sync_to_async(AgentPresence.objects.exists)()
    await ws.disconnect()
