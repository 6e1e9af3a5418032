"""Training runs in the admin: the list with its chart, a live page, "retrain now"."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from classifier import tasks
from config import celery_app
from ml.models import TrainingRun
from tests.factories import ModelVersionFactory, StaffFactory, TrainingExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def training_queue() -> Any:
    client = redis.Redis.from_url(str(settings.REDIS_URL))
    client.delete("training")
    yield client
    client.delete("training")
    client.close()


def promoted(version: int, value: float, days_ago: int) -> TrainingRun:
    when = timezone.now() - timedelta(days=days_ago)
    return TrainingRun.objects.create(
        kind="intent",
        trigger="schedule",
        outcome="promoted",
        reason="golden macro-F1 better",
        version=ModelVersionFactory.create(version=version, status="retired"),
        metrics={"primary": "macro_f1", "candidate": {"golden": {"macro_f1": value}}},
        started=when - timedelta(minutes=3),
        finished=when,
    )


def test_it_lists_runs_with_a_chart_of_the_promoted_versions(admin_client: Any):
    promoted(1, 0.81, days_ago=3)
    promoted(2, 0.86, days_ago=1)
    TrainingRun.objects.create(
        kind="intent",
        trigger="operator",
        outcome="rejected",
        reason="recall dropped",
        finished=timezone.now(),
    )
    page = admin_client.get("/admin/ml/trainingrun/", secure=True).content.decode()
    assert page.count("<circle") == 2  # one point per promoted version
    assert "Intent classifier: promoted versions&#x27; golden-set score" in page
    assert "recall dropped" in page
    assert "3 min 00 s" in page
    assert "Retrain the intent classifier now" in page
    assert 'http-equiv="refresh"' not in page  # nothing is running


def test_a_running_runs_page_follows_it_and_a_finished_one_stands_still(
    admin_client: Any,
):
    run = TrainingRun.objects.create(
        kind="intent",
        trigger="operator",
        stage="training",
        percent=42,
        started=timezone.now(),
        log="12:00:01 training…",
    )
    url = f"/admin/ml/trainingrun/{run.pk}/change/"
    page = admin_client.get(url, secure=True).content.decode()
    assert 'http-equiv="refresh"' in page
    assert "training — 42 %" in page
    run.finished, run.outcome = timezone.now(), "promoted"
    run.save()
    page = admin_client.get(url, secure=True).content.decode()
    assert 'http-equiv="refresh"' not in page


def test_retrain_now_queues_a_run_on_the_training_queue(
    admin_client: Any, training_queue: Any, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/ml/trainingrun/retrain/intent/", secure=True
        )
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/ml/trainingrun/{run.pk}/change/")
    assert run.requested_by is not None
    assert (run.trigger, run.stage, run.requested_by.username) == (
        "operator",
        "queued",
        "admin",
    )
    (raw,) = training_queue.lrange("training", 0, -1)
    message = json.loads(raw)
    assert message["headers"]["task"] == "classifier.tasks.train_intents"
    assert f"'run_id': {run.pk}" in message["headers"]["kwargsrepr"]
    celery_app.control.purge()


def test_staff_without_the_permission_cannot_retrain(client: Any, training_queue: Any):
    bob = StaffFactory.create(username="bob")
    bob.user_permissions.add(Permission.objects.get(codename="view_trainingrun"))
    client.force_login(bob)
    assert client.get("/admin/ml/trainingrun/", secure=True).status_code == 200
    response = client.post("/admin/ml/trainingrun/retrain/intent/", secure=True)
    assert response.status_code == 403
    assert not TrainingRun.objects.exists()
    assert training_queue.llen("training") == 0


def test_a_run_that_cannot_train_says_why(settings: Any, tmp_path: Any):
    settings.MODEL_DIR = tmp_path / "models"
    TrainingExampleFactory.create(text="hi", intent__name="greeting")
    assert tasks.train_intents() is None
    run = TrainingRun.objects.get()
    assert (run.trigger, run.outcome, run.stage) == ("schedule", "failed", "failed")
    assert "at least 2 are needed" in run.reason
    assert run.finished is not None and run.version is None
