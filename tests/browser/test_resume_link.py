"""The link in an emailed agent reply opens that conversation in the widget."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_emailed_link_opens_the_conversation_in_a_browser_that_never_saw_it(
    live_stack, page
):
    from chatbot.models import Conversation, Message
    from tests.factories import AgentFactory, ConversationFactory, MessageFactory

    conversation = ConversationFactory.create(
        status=Conversation.Status.WITH_AGENT,
        state={"followup_email": "alice@example.org"},
    )
    MessageFactory.create(conversation=conversation, text="Where is my parcel?")
    MessageFactory.create(
        conversation=conversation,
        sender=Message.Sender.AGENT,
        agent=AgentFactory.create(),
        text="Hi Alice, your parcel left our warehouse today.",
    )

    page.goto(f"{live_stack.url}/#concierge-resume={conversation.link_token()}")

    expect(page.get_by_test_id("concierge-panel")).to_be_visible()
    bubbles = page.get_by_test_id("concierge-message")
    expect(bubbles).to_have_count(2)
    expect(bubbles.last).to_have_text("Hi Alice, your parcel left our warehouse today.")
    # The link is taken out of the address bar (and out of the history).
    assert "concierge-resume" not in page.url


def test_an_expired_or_altered_link_opens_nothing_and_says_so(live_stack, page):
    page.goto(f"{live_stack.url}/#concierge-resume=not-a-signed-link")

    expect(page.get_by_test_id("concierge-notice")).to_contain_text("expired")
    expect(page.get_by_test_id("concierge-message")).to_have_count(0)
    # The widget carries on with a conversation of its own.
    page.get_by_test_id("concierge-input").fill("Where is my order?")
    page.get_by_test_id("concierge-send").click()
    bot = page.locator("[data-testid=concierge-message][data-sender=bot]")
    expect(bot).to_have_count(1)
