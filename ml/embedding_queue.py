"""Embed-on-save: the rows saved in one transaction reach their task as one batch.

A saved product or help-centre article is embedded by a Celery task after its
transaction commits. The batch of ids waiting for that commit lives in the
connection's own list of on-commit hooks (Django's ``connection.run_on_commit``),
nowhere else: whatever Django discards there, a rolled-back transaction or a
rolled-back savepoint that opened the batch, takes the batch with it, and the next
save starts a fresh one. (A batch kept beside the transaction, e.g. thread-local,
outlives a rollback, and then no later save on that thread is ever embedded.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.utils.module_loading import import_string

from ml.encoder import EMBEDDING_FIELDS

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ml.models import EmbeddedModel

__all__ = ["batch_on_commit", "embed_on_save"]

Send = Callable[[list[int]], Any]


class _Batch:
    """An on-commit hook that sends the ids gathered until the commit, once."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.ids: set[int] = set()
        self.sent = False

    def __call__(self) -> None:
        # Marked before sending: a test helper (captureOnCommitCallbacks) runs the
        # hooks without taking them off the list, and a sent batch takes no more ids.
        self.sent = True
        self.send(sorted(self.ids))


def _open_batch(connection: BaseDatabaseWrapper, send: Send) -> _Batch | None:
    # The list holds one entry per batch and per broadcast of the transaction: short.
    # Entries are (savepoint ids, hook, robust); indexed, as django-stubs knows
    # only the first two.
    for entry in connection.run_on_commit:
        hook = entry[1]
        if isinstance(hook, _Batch) and not hook.sent and hook.send == send:
            return hook
    return None


def batch_on_commit(
    send: Send, ids: Iterable[int], *, using: str | None = None
) -> None:
    """Call ``send`` with ``ids`` once the current transaction commits.

    Every call with an equal ``send`` in one transaction adds to one batch, so
    ``send`` runs once per transaction with all the ids, sorted. A rollback drops
    the batch like any on-commit hook; a rolled-back savepoint drops it only when
    the batch was opened inside it, and otherwise leaves in it the ids saved there
    (the embedding tasks are idempotent, so sending them costs a little work and
    loses nothing).

    Args:
        send: what takes the batch, e.g. a Celery task's ``delay``.
        ids: primary keys to add to the batch.
        using: the database alias; the default database when ``None``.
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        # Autocommit: at once, as transaction.on_commit does (and it raises under
        # manual transaction management, where no commit can be waited for).
        now = sorted(set(ids))
        transaction.on_commit(lambda: send(now), using=using)
        return
    batch = _open_batch(connection, send)
    if batch is None:
        batch = _Batch(send)
        transaction.on_commit(batch, using=using)
    batch.ids.update(ids)


def embed_on_save(model: type[EmbeddedModel], *, task: str) -> None:
    """Embed every saved ``model`` row in the background, after its commit.

    A save queues the row's id for ``task`` through :func:`batch_on_commit`; saves
    while ``settings.EMBED_ON_SAVE`` is off, fixture loads and the save that stores
    the embedding itself queue nothing.

    Args:
        model: a model with an embedding.
        task: dotted path of the Celery task that embeds a list of ids. It is
            imported at the first save, not here (from ``AppConfig.ready``).
    """

    def saved(
        sender: type[EmbeddedModel],
        instance: EmbeddedModel,
        *,
        raw: bool = False,
        using: str | None = None,
        update_fields: frozenset[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if not settings.EMBED_ON_SAVE or raw:
            return
        if update_fields and update_fields <= EMBEDDING_FIELDS:
            return
        batch_on_commit(import_string(task).delay, [instance.pk], using=using)

    post_save.connect(
        saved,
        sender=model,
        weak=False,  # the receiver is a closure: nothing else holds it
        dispatch_uid=f"embed-{model._meta.model_name}",
    )
