"""manage.py backup / restore: a populated instance survives a wipe, and a
tampered archive changes nothing."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection

from chatbot.models import Conversation, Message
from classifier import serving
from ml import registry
from ml.models import ModelVersion
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
QUESTION = "where is my order?"


@pytest.fixture
def populated(active_intent_model: ModelVersion) -> Iterator[Conversation]:
    """The demo shop, an active intent model and Alice's conversation."""
    conversation = ConversationFactory.create(customer=CustomerFactory.create())
    MessageFactory.create(conversation=conversation, text="hello")
    MessageFactory.create(
        conversation=conversation, sender=Message.Sender.BOT, text="Hi! How can I help?"
    )
    MessageFactory.create(conversation=conversation, text=QUESTION)
    serving.live_model.reset()
    yield conversation
    serving.live_model.reset()
    if not table_count():  # a failed restore must not break the tests after this
        call_command("migrate", verbosity=0)


def table_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def transcript(conversation_id: int) -> list[tuple[int, str, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("seq", "sender", "text")
    )


def model_files(model_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(model_dir).as_posix(): p.read_bytes()
        for p in sorted(model_dir.rglob("*"))
        if p.is_file()
    }


def wipe(model_dir: Path) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    shutil.rmtree(model_dir)
    ContentType.objects.clear_cache()
    registry.forget_active_versions()
    serving.live_model.reset()


def backup(path: Path) -> None:
    call_command("backup", str(path), no_progress=True, stdout=io.StringIO())


def restore(path: Path, **options: Any) -> str:
    out = io.StringIO()
    call_command("restore", str(path), no_progress=True, stdout=out, **options)
    registry.forget_active_versions()
    serving.live_model.reset()
    return out.getvalue()


def test_a_wiped_instance_restored_serves_the_same_conversations_and_model(
    populated: Conversation, settings: Any, tmp_path: Path
) -> None:
    before = serving.classify(QUESTION)
    assert before is not None
    messages = transcript(populated.pk)
    model_dir = Path(settings.MODEL_DIR)
    artifacts = model_files(model_dir)
    archive = tmp_path / "backup.tar.gz"

    backup(archive)
    wipe(model_dir)
    assert table_count() == 0 and not model_dir.exists()
    output = restore(archive)

    assert "Restored" in output
    assert transcript(populated.pk) == messages
    assert model_files(model_dir) == artifacts
    after = serving.classify(QUESTION)
    assert after is not None
    assert (after.intent, after.model_version_id, after.model_version) == (
        before.intent,
        before.model_version_id,
        before.model_version,
    )
    assert after.confidence == pytest.approx(before.confidence)


def tampered_copy(archive: Path, target: Path, member: str) -> None:
    """The same archive with one byte of ``member`` changed, manifest untouched."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for info in source:
            data = source.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == member:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            out.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("member", ["database.dump", "models/intent/v1/config.json"])
def test_it_refuses_a_tampered_archive_and_changes_nothing(
    populated: Conversation, settings: Any, tmp_path: Path, member: str
) -> None:
    model_dir = Path(settings.MODEL_DIR)
    archive, tampered = tmp_path / "backup.tar.gz", tmp_path / "tampered.tar.gz"
    backup(archive)
    # What happened after the backup: a restore replaces it, a refusal keeps it.
    later = ConversationFactory.create(customer=CustomerFactory.create(name="Charlie"))
    (model_dir / "intent" / "v1" / "notes.txt").write_text("after the backup")
    artifacts = model_files(model_dir)
    tampered_copy(archive, tampered, member)

    with pytest.raises(CommandError, match="does not match the manifest"):
        restore(tampered, force=True)

    assert Conversation.objects.filter(pk=later.pk).exists()
    assert model_files(model_dir) == artifacts

    restore(archive, force=True)
    assert not Conversation.objects.filter(pk=later.pk).exists()
    assert Conversation.objects.filter(pk=populated.pk).exists()
    assert "intent/v1/notes.txt" not in model_files(model_dir)


def test_it_refuses_to_overwrite_a_database_with_tables_without_force(
    populated: Conversation, tmp_path: Path
) -> None:
    archive = tmp_path / "backup.tar.gz"
    backup(archive)
    later = ConversationFactory.create(customer=CustomerFactory.create(name="Charlie"))

    with pytest.raises(CommandError, match=r"already has \d+ tables.*--force"):
        restore(archive)

    assert Conversation.objects.filter(pk=later.pk).exists()
