"""The periodic tasks: created once, then the operators' — beat never writes over
them — and the embeddings' own queue."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config import celery_app
from devserver.processes import beat_command
from devserver.run import processes
from ml.encoder import text_sha256
from ml.tasks import sweep_embeddings
from ops.schedule import schedule_setup
from recommender.models import Product
from tests.factories import ArticleFactory, ProductFactory
from tests.live import Process, child_env

DEFAULTS = {
    "refresh-queue",
    "sweep-pending-replies",
    "train-intents",
    "train-recommender",
    "sweep-embeddings",
    "sweep-webhooks",
    "purge-expired",
}


def operator_edits() -> None:
    """What an operator changes in the admin: a time, an interval, a switch."""
    intents = PeriodicTask.objects.get(name="train-intents")
    intents.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="4", timezone="UTC"
    )
    intents.save()
    sweep = PeriodicTask.objects.get(name="sweep-pending-replies")
    sweep.interval, _ = IntervalSchedule.objects.get_or_create(
        every=7, period=IntervalSchedule.SECONDS
    )
    sweep.save()
    PeriodicTask.objects.filter(name="train-recommender").update(enabled=False)


def assert_edits_kept() -> None:
    intents = PeriodicTask.objects.get(name="train-intents")
    assert intents.interval is None
    assert intents.crontab is not None
    assert (intents.crontab.minute, intents.crontab.hour) == ("15", "4")
    sweep = PeriodicTask.objects.get(name="sweep-pending-replies")
    assert sweep.interval is not None and sweep.interval.every == 7
    assert not PeriodicTask.objects.get(name="train-recommender").enabled


@pytest.mark.django_db
def test_migrate_creates_the_periodic_tasks_nightly_and_hourly_on_their_queues():
    tasks = {task.name: task for task in PeriodicTask.objects.all()}
    assert set(tasks) >= DEFAULTS
    intents, recommender = tasks["train-intents"], tasks["train-recommender"]
    assert intents.crontab is not None and recommender.crontab is not None
    # Both at night, at different times, on the training queue.
    assert int(intents.crontab.hour) < 6 and int(recommender.crontab.hour) < 6
    assert intents.crontab.hour != recommender.crontab.hour
    assert {intents.queue, recommender.queue} == {"training"}
    sweep = tasks["sweep-embeddings"]
    assert sweep.crontab is not None and sweep.crontab.hour == "*"
    assert sweep.queue == "embeddings"


@pytest.mark.django_db
def test_setup_schedule_never_changes_a_task_an_operator_edited():
    operator_edits()
    PeriodicTask.objects.filter(name="sweep-embeddings").delete()
    call_command("setup_schedule", verbosity=0)
    assert_edits_kept()
    # A missing default comes back; nothing is duplicated.
    assert schedule_setup() == []
    assert PeriodicTask.objects.filter(name="sweep-embeddings").count() == 1


def start_beat(log_dir: Path, env: dict[str, str], n: int) -> Process:
    beat = Process(
        f"beat-{n}", beat_command(schedule=log_dir / "schedule"), log_dir / f"b{n}.log"
    )
    beat.start(env)
    # The schedule is set up (and, were there a CELERY_BEAT_SCHEDULE, written to
    # the rows) before beat sends its first task.
    deadline = time.monotonic() + 90
    while "Sending due task" not in beat.output():
        assert beat.process is not None and beat.process.poll() is None, beat.output()
        assert time.monotonic() < deadline, beat.output()
        time.sleep(0.5)
    return beat


def test_admin_edits_survive_a_restart_of_beat(transactional_db: Any, tmp_path: Path):
    schedule_setup()
    operator_edits()
    env = child_env()
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    try:
        start_beat(tmp_path, env, 1).stop()
        assert_edits_kept()
        start_beat(tmp_path, env, 2).stop()
        assert_edits_kept()
    finally:
        celery_app.control.purge()  # what beat sent: no worker here takes it
        client.close()


def test_embedding_tasks_go_to_their_own_queue_never_inference():
    router = celery_app.amqp.router
    for name in (
        "recommender.tasks.embed_products",
        "chatbot.tasks.embed_articles",
        "ml.tasks.sweep_embeddings",
    ):
        assert router.route({}, name)["queue"].name == "embeddings"
    assert router.route({}, "chatbot.tasks.reply_to_message")["queue"].name == (
        "inference"
    )
    assert router.route({}, "classifier.tasks.train_intents")["queue"].name == (
        "training"
    )


def test_make_run_starts_one_worker_per_queue():
    commands = processes(8000)
    queues = {
        name: command[command.index("-Q") + 1]
        for name, command in commands.items()
        if "worker" in command
    }
    assert sorted(queues.values()) == [
        "embeddings",
        "inference",
        "training",
        "webhooks",
    ]
    assert "beat" in commands["beat"]


@pytest.mark.django_db
def test_the_sweep_embeds_rows_missing_or_stale_and_skips_the_rest():
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    missing = ProductFactory.create(name="Wool Beanie")
    fresh = ProductFactory.create(name="Rain Jacket", embedding=vector)
    fresh.embedded_text_sha256 = text_sha256(fresh.search_text())
    fresh.save()
    stale = ProductFactory.create(
        name="Canvas Tote", embedding=vector, embedded_text_sha256="0" * 64
    )
    article = ArticleFactory.create()
    embedded = sweep_embeddings()
    assert embedded["recommender.Product"] == 2
    assert embedded["chatbot.Article"] == 1
    for product in (missing, stale):
        product.refresh_from_db()
        assert product.embedding is not None
        assert product.embedded_text_sha256 == text_sha256(product.search_text())
    fresh.refresh_from_db()
    np.testing.assert_allclose(np.asarray(fresh.embedding), vector, rtol=1e-6)
    article.refresh_from_db()
    assert article.embedding is not None
    assert sweep_embeddings()["recommender.Product"] == 0
    assert Product.objects.filter(embedding__isnull=True).count() == 0
