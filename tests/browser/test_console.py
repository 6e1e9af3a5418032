"""The agent console in real Chromium, with a customer's widget in a second page."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bob(db: Any) -> Any:
    """A support agent, with every console permission."""
    from tests.factories import AgentFactory

    return AgentFactory.create(username="bob")


def in_a_thread(change: Any) -> None:
    from django.db import connection

    def run() -> None:
        try:
            change()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def log_in(page: Any, url: str) -> None:
    page.goto(url + "/admin/login/?next=/console/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "bob-password-123")
    page.click("input[type=submit]")
    expect(page.get_by_test_id("console-connection")).to_have_text("Live")


def test_an_agent_takes_over_a_waiting_conversation_and_the_customer_gets_the_reply(
    live_stack, browser, alice, bob
):
    from chatbot.models import Conversation, Message
    from tests.factories import (
        CannedResponseFactory,
        ConversationFactory,
        MessageFactory,
    )

    conversation = ConversationFactory.create(
        customer=alice,
        status=Conversation.Status.WAITING_FOR_AGENT,
        waiting_since=timezone.now() - timedelta(minutes=3),
        state={"handoff": {"reason": "pressed “talk to a person”", "tried": []}},
    )
    MessageFactory.create(  # seq 1
        conversation=conversation,
        sender=Message.Sender.CUSTOMER,
        text="A person, please",
    )
    CannedResponseFactory.create(
        shortcut="thanks", title="Thank you", text="Thanks for waiting, Alice!"
    )

    # The customer: a returning visitor whose widget holds her token and conversation.
    customer_context = browser.new_context()
    customer = customer_context.new_page()
    customer.set_default_timeout(20_000)
    prefix = f"concierge:{live_stack.url}:"
    customer.add_init_script(
        f"localStorage.setItem({prefix + 'token'!r}, {alice.token!r});"
        f"localStorage.setItem({prefix + 'conversation'!r}, "
        f"{conversation.public_id!r});"
    )
    customer.goto(live_stack.url + "/")
    customer.get_by_test_id("concierge-launcher").click()
    expect(customer.get_by_test_id("concierge-message")).to_have_count(1)

    # The agent logs in through the admin and lands on the console.
    agent_context = browser.new_context()
    agent = agent_context.new_page()
    agent.set_default_timeout(20_000)
    agent.goto(live_stack.url + "/console/")
    expect(agent).to_have_url(re.compile(r"/admin/login/\?next=/console/"))
    agent.fill("#id_username", "bob")
    agent.fill("#id_password", "bob-password-123")
    agent.click("input[type=submit]")
    expect(agent.get_by_test_id("console-connection")).to_have_text("Live")

    row = agent.locator(
        f"[data-testid=console-conversation][data-conversation='{conversation.public_id}']"
    )
    expect(row).to_have_attribute("data-status", "waiting_for_agent")
    expect(row.get_by_test_id("console-wait")).to_contain_text("waiting 3 min")
    row.click()
    expect(agent.get_by_test_id("console-handoff")).to_contain_text("talk to a person")
    agent.get_by_test_id("console-take").click()
    expect(agent.get_by_test_id("console-detail-status")).to_have_attribute(
        "data-status", "with_agent"
    )
    expect(customer.get_by_test_id("concierge-status")).to_have_attribute(
        "data-status", "with_agent"
    )

    # A canned response found by its shortcut; typing shows in the widget.
    reply = agent.get_by_test_id("console-reply")
    reply.press_sequentially("/tha")
    expect(customer.get_by_test_id("concierge-typing")).to_have_text("Agent is typing…")
    agent.locator("[data-testid=console-canned-item][data-shortcut=thanks]").click()
    expect(reply).to_have_value("Thanks for waiting, Alice!")
    agent.get_by_test_id("console-send").click()

    from_agent = customer.locator("[data-testid=concierge-message][data-sender=agent]")
    expect(from_agent).to_have_text("Thanks for waiting, Alice!")
    expect(
        agent.locator("[data-testid=console-message][data-sender=agent] .text")
    ).to_have_text("Thanks for waiting, Alice!")

    # The customer answers; the agent sees it live.
    customer.get_by_test_id("concierge-input").fill("Great, thank you")
    customer.get_by_test_id("concierge-send").click()
    expect(
        agent.locator("[data-testid=console-message][data-sender=customer] .text").last
    ).to_have_text("Great, thank you")

    agent.get_by_test_id("console-resolve").click()
    expect(customer.get_by_test_id("concierge-csat")).to_be_visible()
    customer_context.close()
    agent_context.close()


def test_the_console_beeps_and_notifies_when_a_conversation_starts_waiting(
    live_stack, browser, alice, bob
):
    from chatbot.models import Conversation, Message
    from chatbot.services import console_broadcast
    from tests.factories import ConversationFactory, MessageFactory

    conversation = ConversationFactory.create(customer=alice)
    MessageFactory.create(  # seq 1
        conversation=conversation, sender=Message.Sender.CUSTOMER, text="Hello"
    )
    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=live_stack.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Count the generated tones and the notifications instead of hearing them.
    page.add_init_script(
        """
        window.__beeps = 0; window.__notes = [];
        const Real = window.AudioContext;
        window.AudioContext = class extends Real {
          createOscillator() {
            const osc = super.createOscillator();
            const start = osc.start.bind(osc);
            osc.start = (...a) => { window.__beeps++; return start(...a); };
            return osc;
          }
        };
        window.Notification = class {
          static permission = "granted";
          static requestPermission() { return Promise.resolve("granted"); }
          constructor(title, options) { window.__notes.push([title, options.body]); }
        };
        """
    )
    page.goto(live_stack.url + "/admin/login/?next=/console/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "bob-password-123")
    page.click("input[type=submit]")
    expect(page.get_by_test_id("console-connection")).to_have_text("Live")
    row = page.locator(f"[data-conversation='{conversation.public_id}']")
    expect(row).to_have_attribute("data-status", "bot")
    assert page.evaluate("window.__beeps") == 0

    conversation.status = Conversation.Status.WAITING_FOR_AGENT
    conversation.waiting_since = timezone.now()
    conversation.save()
    # Playwright's event loop owns this thread; broadcast from another, as a worker
    # would.
    sender = threading.Thread(target=console_broadcast, args=(conversation,))
    sender.start()
    sender.join()

    expect(row).to_have_attribute("data-status", "waiting_for_agent")
    expect(page.locator("body")).to_have_attribute(
        "data-last-alert", conversation.public_id
    )
    assert page.evaluate("window.__beeps") == 1
    assert page.evaluate("window.__notes") == [
        ["A customer is waiting", "Alice: Hello"]
    ]
    context.close()


def test_the_console_hides_what_the_agent_may_no_longer_do_and_closes_when_deactivated(
    live_stack, browser, alice, bob
):
    from django.contrib.auth.models import Permission

    from chatbot.models import Conversation, Message

    conversation = Conversation.objects.create(
        customer=alice,
        status=Conversation.Status.WAITING_FOR_AGENT,
        waiting_since=timezone.now(),
        last_seq=1,
    )
    Message.objects.create(
        conversation=conversation, seq=1, sender="customer", text="Hello"
    )
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_stack.url)
    page.locator(f"[data-conversation='{conversation.public_id}']").click()
    resolve = page.get_by_test_id("console-resolve")
    expect(resolve).to_be_visible()
    expect(page.get_by_test_id("console-take")).to_be_visible()

    # An administrator's change, made off Playwright's thread (its event loop owns
    # this one, and the change broadcasts to the console through the channel layer).
    in_a_thread(
        lambda: bob.user_permissions.remove(
            Permission.objects.get(codename="resolve_conversation")
        )
    )
    expect(resolve).to_be_hidden()
    expect(page.get_by_test_id("console-take")).to_be_visible()

    def deactivate() -> None:
        bob.is_active = False
        bob.save()

    in_a_thread(deactivate)
    expect(page.get_by_test_id("console-connection")).to_contain_text("Not allowed")
    context.close()
