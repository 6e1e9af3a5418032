"""The retraining loop end to end: corrections in the admin, the scheduled run on
the training queue (real beat, real workers), promotion, the next reply."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from chatbot.models import Message
from classifier.models import TrainingExample
from config import celery_app
from devserver.processes import beat_command
from ml.models import ModelVersion, TrainingRun
from ops.schedule import schedule_setup
from tests.chat import Customer
from tests.factories import IntentFactory, StaffFactory, TrainingExampleFactory
from tests.live import Process, child_env, start_web, web_process, worker_process
from tests.test_intent_model import OOS, SMALL
from tests.test_retraining import GOLDEN, GOLDEN_OOS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAID = [
    ("i want to send these boots back", "return_item"),
    ("has the parcel with my boots left yet", "order_status"),
    ("hiya!", "greeting"),
]


async def _say(port: int, texts: list[str]) -> tuple[str, list[int]]:
    async with Customer(port) as alice:
        frames = [await alice.say(text) for text in texts]
        return alice.session["conversation"], [frame["seq"] for frame in frames]


def chat(port: int, texts: list[str]) -> list[Message]:
    """Alice says ``texts`` in a new conversation; the bot's replies, as stored."""
    public_id, seqs = asyncio.run(_say(port, texts))
    return [
        Message.objects.get(conversation__public_id=public_id, seq=seq, sender="bot")
        for seq in seqs
    ]


def wait_for(predicate: Any, *, timeout: float, what: str, logs: list[Process]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in logs)
    raise AssertionError(f"no {what} within {timeout:.0f} s\n{tails}")


@pytest.mark.timeout(900)
def test_corrections_retrain_on_schedule_and_the_next_reply_uses_the_new_version(
    settings: Any, tmp_path: Path
) -> None:
    # The shop: seed examples, a golden set, and a first version, live.
    settings.MODEL_DIR = tmp_path / "models"
    intents = {name: IntentFactory.create(name=name) for name in SMALL}
    for name, texts in SMALL.items():
        for text in texts:
            TrainingExampleFactory.create(text=text, intent=intents[name])
        for text in GOLDEN[name]:
            TrainingExampleFactory.create(text=text, intent=intents[name], golden=True)
    for text in OOS:
        TrainingExampleFactory.create(text=text, intent=None)
    for text in GOLDEN_OOS:
        TrainingExampleFactory.create(text=text, intent=None, golden=True)
    call_command("train_intents", "--epochs", "0", "--activate", verbosity=0)
    first = ModelVersion.objects.get(status="active")

    env = {
        **child_env(),
        "MODEL_DIR": str(tmp_path / "models"),
        "INTENT_FINETUNE_EPOCHS": "0",
    }
    # A Redis database of its own: the session's live stack (if a test started it)
    # has a worker on every queue of the shared one, which could take the training
    # task this test checks the training worker received.
    env["REDIS_URL"] = urlsplit(env["REDIS_URL"])._replace(path="/7").geturl()
    web, port = web_process(tmp_path)
    inference = worker_process(tmp_path, queues="inference")
    training = worker_process(tmp_path, queues="training")
    beat = Process("beat", beat_command(schedule=tmp_path / "beat"), tmp_path / "b.log")
    processes = [web, inference, training, beat]
    try:
        inference.start(env)
        training.start(env)
        start_web(web, port, env)

        # Alice chats; the replies are recorded with the version that classified.
        bot_messages = chat(port, [text for text, _ in SAID])
        assert {m.model_version_id for m in bot_messages} == {first.pk}

        # Bob corrects what the bot understood, in the admin.
        bob = StaffFactory.create(username="bob", is_superuser=True)
        admin = Client()
        admin.force_login(bob)
        for message, (_, intent) in zip(bot_messages, SAID, strict=True):
            response = admin.post(
                f"/admin/chatbot/message/{message.pk}/correct/",
                {"intent": intent},
                secure=True,
            )
            assert response.status_code == 302
        assert (
            TrainingExample.objects.filter(source="review", added_by=bob).count() == 3
        )

        # The operator moves tonight's retraining to now, once, in the admin.
        schedule_setup()
        task = PeriodicTask.objects.get(name="train-intents")
        task.crontab = None
        task.interval, _ = IntervalSchedule.objects.get_or_create(
            every=1, period=IntervalSchedule.SECONDS
        )
        task.one_off = True
        task.save()
        beat.start(env)

        run = wait_for(
            lambda: TrainingRun.objects.filter(
                trigger="schedule", finished__isnull=False
            ).first(),
            timeout=600,
            what="finished scheduled run",
            logs=processes,
        )
        assert run.outcome == "promoted", (run.reason, run.error, run.log)
        assert run.version is not None and run.version.status == "active"
        assert run.snapshot["by_source"]["review"] == 2  # the third is held out
        assert run.snapshot["holdout"]["examples"] == 1
        received = "Task classifier.tasks.train_intents["
        assert received in training.output()
        assert received not in inference.output()

        # The inference worker swaps the new version in, in the background (while
        # it does, the old one answers); the next message is answered by the new
        # version, recorded on it.
        wait_for(
            lambda: (
                f"serving {run.version} (loaded in background" in inference.output()
            ),
            timeout=60,
            what="the inference worker serving the new version",
            logs=processes,
        )
        (answered,) = chat(port, ["hello again"])
        assert answered.model_version_id == run.version.pk != first.pk
    finally:
        for process in processes:
            process.stop()
        celery_app.control.purge()
