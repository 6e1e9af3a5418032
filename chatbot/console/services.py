"""What an agent does to a conversation: take, reply, note, hand back, resolve, assign.

Every function takes the acting user and checks their permissions first (raising
``Forbidden``): the console is for staff with ``chatbot.view_conversation``, and
each action needs its own (``chatbot.console.permissions``). Acting on a conversation
another agent holds also needs the assign permission.

Every function locks the conversation row (``select_for_update``), so two agents
acting at once are serialised and both consoles end up showing the same state. The
broadcasts go out only after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from chatbot import services
from chatbot.console import permissions
from chatbot.models import (
    AgentPresence,
    Conversation,
    ConversationNote,
    Message,
    ShopSettings,
)
from chatbot.selectors import PRESENCE_TIMEOUT

logger = logging.getLogger(__name__)


class ConsoleError(Exception):
    """An agent action that can't be done now; the message says why, for the agent."""

    code = "console_error"


class AlreadyTaken(ConsoleError):
    code = "already_taken"


class NotYours(ConsoleError):
    code = "not_assigned"


class ConversationClosed(ConsoleError):
    code = "conversation_resolved"


class UnknownAgent(ConsoleError):
    code = "unknown_agent"


class Forbidden(ConsoleError):
    code = "forbidden"


def require_permission(user: Any, name: str) -> None:
    """Raise ``Forbidden`` unless ``user`` may use the console and do ``name``.

    Raises:
        Forbidden: with a message naming what is missing.
    """
    perm, what = permissions.CONSOLE[name]
    if not permissions.may_use_console(user) or not user.has_perm(perm):
        raise Forbidden(f"You don't have permission to {what}")


def _require_may_act_on(conversation: Conversation, agent: Any) -> None:
    """Another agent's conversation is theirs: only those who may assign act on it."""
    held = conversation.status == Conversation.Status.WITH_AGENT
    if (
        held
        and conversation.assigned_agent_id != agent.pk
        and not agent.has_perm(permissions.ASSIGN)
    ):
        raise Forbidden(
            f"{_name(conversation.assigned_agent)} has this conversation; you don't "
            "have permission to act on another agent's conversation"
        )


def _locked(conversation_id: int) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation_id)


def _announce(conversation: Conversation, *, queue_changed: bool) -> None:
    """After commit: the customer's status line, the consoles, the waiting queue."""

    def send() -> None:
        services.status_broadcast(conversation)
        services.console_broadcast(conversation)
        if queue_changed:
            services.queue_broadcast()

    transaction.on_commit(send)


def _name(user: Any) -> str:
    return str(user.get_username()) if user is not None else "someone"


def conversation_take(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Give the conversation to ``agent``; the bot stops answering.

    Raises:
        Forbidden: ``agent`` may not reply.
        AlreadyTaken: another agent has it (the second of two agents racing).
        ConversationClosed: it is resolved.
    """
    require_permission(agent, "reply")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == Conversation.Status.WITH_AGENT:
            if conversation.assigned_agent_id == agent.pk:
                return conversation  # a double click, not a conflict
            raise AlreadyTaken(
                f"{_name(conversation.assigned_agent)} has already taken this "
                "conversation"
            )
        _require_open(conversation)
        _change(conversation, lambda: conversation.take(agent_id=agent.pk))
    return conversation


def _change(conversation: Conversation, change: Callable[[], None]) -> None:
    """Make a status change of the (locked) conversation; announce it after commit."""
    was_waiting = conversation.status == Conversation.Status.WAITING_FOR_AGENT
    change()
    _announce(conversation, queue_changed=was_waiting)


def _require_open(conversation: Conversation) -> None:
    if conversation.status == Conversation.Status.RESOLVED:
        raise ConversationClosed("This conversation is resolved")


def _require_assigned(conversation: Conversation, agent: AbstractBaseUser) -> None:
    _require_open(conversation)
    if (
        conversation.status != Conversation.Status.WITH_AGENT
        or conversation.assigned_agent_id != agent.pk
    ):
        raise NotYours("Take the conversation over before you do that")


def conversation_reply(
    *,
    conversation_id: int,
    agent: AbstractBaseUser,
    text: str,
    client_msg_id: str | None = None,
) -> Message:
    """Send the customer a message from ``agent``, who must have the conversation."""
    require_permission(agent, "reply")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_assigned(conversation, agent)
        message, created = services.message_store(
            conversation_id=conversation.pk,
            sender=Message.Sender.AGENT,
            text=text,
            client_msg_id=client_msg_id,
            agent=agent,
        )
        if created and conversation.state.get("followup_email"):
            # They left an address because nobody was there: the reply reaches
            # them by email too, whether or not the chat is still open.
            transaction.on_commit(lambda: reply_email_enqueue(message.pk))
    return message


def reply_email_enqueue(message_id: int) -> None:
    # A real cycle: the task module calls back into these services.
    from chatbot.tasks import email_agent_reply

    try:
        email_agent_reply.delay(message_id)
    except Exception:
        # The reply is stored and shown in the chat; only its copy by email is lost.
        logger.exception("could not enqueue the email of agent reply %s", message_id)


def agent_reply_email(*, message_id: int) -> bool:
    """Email an agent's reply to the address the customer left, with a signed link
    that reopens the conversation in the widget. Once per reply, however often it
    runs: the row lock and the ``emailed`` mark make a second run a no-op.

    Returns whether a mail went out now. A failed send raises (the task retries).
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("conversation", "agent")
            .filter(pk=message_id, sender=Message.Sender.AGENT, emailed=None)
            .first()
        )
        if message is None:
            return False
        conversation = message.conversation
        address = conversation.state.get("followup_email")
        if not address:
            return False
        shop = ShopSettings.load().name
        link = f"{settings.SHOP_URL}#concierge-resume={conversation.link_token()}"
        days = max(1, settings.CONVERSATION_LINK_MAX_AGE // 86400)
        who = _name(message.agent) if message.agent else "Our team"
        send_mail(
            f"{shop}: a reply to your chat",
            f"{who} from {shop} replied to your chat:\n\n{message.text}\n\n"
            f"To read the whole conversation and answer, open this link (it works "
            f"for {days} days, and only for this conversation):\n{link}\n\n"
            f"You can also simply reply in the chat on our website.\n",
            None,
            [address],
        )
        message.emailed = timezone.now()
        message.save(update_fields=["emailed"])
    return True


def conversation_note(
    *, conversation_id: int, agent: AbstractBaseUser, text: str
) -> ConversationNote:
    """Add an internal note; it goes to agent consoles only, never the customer."""
    require_permission(agent, "note")
    with transaction.atomic():
        conversation = Conversation.objects.get(pk=conversation_id)
        note = ConversationNote.objects.create(
            conversation=conversation, author_id=agent.pk, text=text
        )
        event = {
            "type": "console.note",
            "conversation": conversation.public_id,
            "note": note.as_frame(),
        }
        transaction.on_commit(lambda: services.broadcast(services.CONSOLE_GROUP, event))
    return note


def conversation_hand_back(
    *, conversation_id: int, agent: AbstractBaseUser
) -> Conversation:
    """Give the conversation back to the bot, which answers the next message."""
    require_permission(agent, "reply")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_open(conversation)
        _require_may_act_on(conversation, agent)
        if conversation.status != Conversation.Status.BOT:
            _change(conversation, conversation.hand_back)
    return conversation


def conversation_resolve(
    *, conversation_id: int, agent: AbstractBaseUser
) -> Conversation:
    """Close the conversation; the customer's widget then asks for a rating."""
    require_permission(agent, "resolve")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_may_act_on(conversation, agent)
        if conversation.status != Conversation.Status.RESOLVED:
            _change(conversation, lambda: conversation.resolve(by_agent_id=agent.pk))
    return conversation


def conversation_assign(
    *, conversation_id: int, agent: AbstractBaseUser, to_agent_id: int
) -> Conversation:
    """Assign (or transfer) the conversation to an agent who may reply."""
    require_permission(agent, "assign")
    target = permissions.assignable_agents().filter(pk=to_agent_id).first()
    if target is None:
        raise UnknownAgent("No such support agent")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_open(conversation)
        # A transfer keeps the handling time running from the first take.
        _change(
            conversation,
            lambda: conversation.take(agent_id=target.pk, restart_clock=False),
        )
    return conversation


def presence_touch(*, agent: AbstractBaseUser) -> None:
    """Record that ``agent``'s console is open; the queue counts agents online.

    Only agents who may reply count: a console that can only watch answers no one.
    """
    if "reply" not in permissions.granted(agent):
        return
    now = timezone.now()
    presence, created = AgentPresence.objects.get_or_create(
        user_id=agent.pk, defaults={"last_seen": now}
    )
    came_online = created or presence.last_seen < now - PRESENCE_TIMEOUT
    if not created:
        presence.last_seen = now
        presence.save(update_fields=["last_seen"])
    if came_online:
        # One more agent online shortens everyone's expected wait.
        transaction.on_commit(services.queue_broadcast)
