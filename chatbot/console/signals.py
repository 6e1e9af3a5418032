"""Tell a user's open consoles when what they may do changed, so that a deactivated
agent, or one whose permission was taken away, is disconnected within seconds.

Every change that can affect a user's console permissions sends a
``console.permissions`` event to their ``console.user.<id>`` group after the
commit; each console socket re-reads the user and closes, or updates the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from chatbot import services
from chatbot.console import permissions

DISPATCH = "chatbot.console.permissions"
# Set on the instance by a pre_clear/pre_delete receiver: after a clear or a delete
# the rows that name the users are gone.
STASH = "_console_affected_user_ids"


def users_changed(user_ids: Iterable[int]) -> None:
    """After commit, ask the consoles of ``user_ids`` to re-check their permissions."""
    ids = sorted(set(user_ids))
    if not ids:
        return

    def send() -> None:
        for user_id in ids:
            services.broadcast(
                permissions.user_group(user_id), {"type": "console.permissions"}
            )

    transaction.on_commit(send)


def _users_of_groups(group_ids: Iterable[int]) -> list[int]:
    return list(
        get_user_model()
        .objects.filter(groups__in=list(group_ids))
        .values_list("pk", flat=True)
    )


def user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    # A login saves last_login only; a new user has no console open yet.
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return
    users_changed([instance.pk])


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    users_changed([instance.pk])


def user_relation_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """``user.user_permissions``/``user.groups`` changed (``instance`` is the user),
    or ``permission.user_set``/``group.user_set`` (``pk_set`` holds the users, and
    is empty on a clear)."""
    if not reverse:
        if action in ("post_add", "post_remove", "post_clear"):
            users_changed([instance.pk])
    elif action == "pre_clear":
        setattr(instance, STASH, list(instance.user_set.values_list("pk", flat=True)))
    elif action == "post_clear":
        users_changed(getattr(instance, STASH, []))
    elif action in ("post_add", "post_remove"):
        users_changed(pk_set)


def group_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """``group.permissions`` changed (``instance`` is the group), or
    ``permission.group_set`` (``pk_set`` holds the groups, empty on a clear)."""
    if not reverse:
        if action in ("post_add", "post_remove", "post_clear"):
            users_changed(_users_of_groups([instance.pk]))
    elif action == "pre_clear":
        setattr(instance, STASH, _users_of_groups(instance.group_set.all()))
    elif action == "post_clear":
        users_changed(getattr(instance, STASH, []))
    elif action in ("post_add", "post_remove"):
        users_changed(_users_of_groups(pk_set))


def group_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    setattr(instance, STASH, _users_of_groups([instance.pk]))


def group_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    users_changed(getattr(instance, STASH, []))


def connect() -> None:
    """Connect the receivers (from ``ChatbotConfig.ready``)."""
    user = get_user_model()
    post_save.connect(user_saved, sender=user, dispatch_uid=f"{DISPATCH}.saved")
    post_delete.connect(user_deleted, sender=user, dispatch_uid=f"{DISPATCH}.deleted")
    for relation in ("user_permissions", "groups"):
        m2m_changed.connect(
            user_relation_changed,
            sender=getattr(user, relation).through,
            dispatch_uid=f"{DISPATCH}.{relation}",
        )
    m2m_changed.connect(
        group_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid=f"{DISPATCH}.group_permissions",
    )
    pre_delete.connect(
        group_deleting, sender=Group, dispatch_uid=f"{DISPATCH}.group_deleting"
    )
    post_delete.connect(
        group_deleted, sender=Group, dispatch_uid=f"{DISPATCH}.group_deleted"
    )
