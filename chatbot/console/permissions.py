"""Who may do what in the console.

The console needs ``chatbot.view_conversation`` to show anything (the list,
transcripts, customers' emails); each action needs its own permission on top, the
custom ones declared on ``Conversation.Meta.permissions``. The "Support agent" group
holds them all; superusers have every permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet

VIEW = "chatbot.view_conversation"
REPLY = "chatbot.reply_conversation"
ASSIGN = "chatbot.assign_conversation"
RESOLVE = "chatbot.resolve_conversation"
NOTE = "chatbot.add_conversationnote"

# Short name → (permission, what it lets an agent do). The short names are what the
# console's ``hello`` frame lists, so the page can hide what the agent can't do.
CONSOLE = {
    "view": (VIEW, "see conversations"),
    "reply": (REPLY, "take over conversations and reply"),
    "assign": (ASSIGN, "assign conversations or act on another agent's"),
    "resolve": (RESOLVE, "resolve conversations"),
    "note": (NOTE, "add internal notes"),
}


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's console sockets (told of changes)."""
    return f"console.user.{user_id}"


def may_use_console(user: Any) -> bool:
    """Whether ``user`` may open the console at all: active staff who may view."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(VIEW)
    )


def granted(user: Any) -> list[str]:
    """The short names of what ``user`` may do in the console (none if nothing)."""
    if not may_use_console(user):
        return []
    return [name for name, (perm, _) in CONSOLE.items() if user.has_perm(perm)]


def assignable_agents() -> QuerySet[Any]:
    """Active staff who may view and reply: those a conversation can be given to."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True)
    for perm in (VIEW, REPLY):
        app_label, codename = perm.split(".")
        permission = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        )
        # One filter() per permission: the user needs each, directly, through a
        # group, or as a superuser.
        users = users.filter(
            Q(is_superuser=True)
            | Q(user_permissions__in=permission)
            | Q(groups__permissions__in=permission)
        )
    return users.distinct()
