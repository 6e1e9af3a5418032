"""/healthz and /readyz, and the worker heartbeat that /readyz reads."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import torch
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from safetensors.torch import save_file

from devserver.processes import free_port
from ml import registry
from ml.models import ModelVersion
from ops import health, heartbeat
from tests.live import BASE_DIR, child_env, worker_process

# A probe comes by the container's address over plain HTTP; production redirects
# to HTTPS and knows only its public host names.
PROBE_HOST = "10.0.0.7:8000"


@pytest.fixture(autouse=True)
def production_like(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["shop.example"]
    settings.SECURE_SSL_REDIRECT = True


@pytest.fixture
def client_redis() -> Iterator[redis.Redis]:
    client = heartbeat.redis_client()
    yield client
    for key in client.scan_iter(match=heartbeat.KEY_PREFIX + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(autouse=True)
def forget_verified() -> Iterator[None]:
    health._verified.clear()
    yield
    health._verified.clear()


@pytest.fixture
def tiny_active_model(settings: Any, tmp_path: Path) -> ModelVersion:
    """An active intent version with a small artifact (the registry checks the
    files, not what they hold)."""
    settings.MODEL_DIR = tmp_path / "models"
    source = tmp_path / "trained"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({"value": 1}))
    save_file({"weight": torch.ones(2)}, str(source / "model.safetensors"))
    version = registry.register(
        kind="intent", source_dir=source, metrics={}, trained_on={}
    )
    registry.activate(version)
    registry.forget_active_versions()
    return version


def probe(path: str) -> tuple[int, dict[str, Any]]:
    response = Client().get(path, HTTP_HOST=PROBE_HOST)
    return response.status_code, json.loads(response.content)


def own_key(worker_name: str, client: redis.Redis) -> str:
    """The heartbeat node name of the worker started as ``worker_name``, once it
    beats (other tests' workers may beat on the same Redis)."""
    deadline = time.monotonic() + 60
    while True:
        for name in heartbeat.live_workers(client):
            if name.startswith(worker_name + "@"):
                return name
        assert time.monotonic() < deadline, f"{worker_name} never beat"
        time.sleep(0.2)


def a_worker_beats(client: redis.Redis, queues: list[str]) -> None:
    heartbeat.beat(client, nodename="celery@elsewhere", queues=queues)


def test_it_says_alive_by_the_containers_address_without_touching_the_database() -> (
    None
):
    # No django_db mark: any query would raise instead of answering.
    status, body = probe("/healthz")
    assert (status, body) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_it_is_ready_when_database_redis_a_worker_and_the_model_are(
    tiny_active_model: ModelVersion, client_redis: redis.Redis
) -> None:
    a_worker_beats(client_redis, ["inference", "training"])
    status, body = probe("/readyz")
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {
            name: {"state": "ok"}
            for name in ("database", "redis", "workers", "intent_model")
        },
    }


@pytest.mark.django_db
def test_it_is_not_ready_without_a_worker_of_the_reply_queue(
    tiny_active_model: ModelVersion, client_redis: redis.Redis
) -> None:
    a_worker_beats(client_redis, ["training"])
    status, body = probe("/readyz")
    assert status == 503
    assert body["status"] == "failing"
    assert body["checks"]["workers"]["state"] == "failing"
    assert "'inference' queue" in body["checks"]["workers"]["reason"]
    assert body["checks"]["database"] == {"state": "ok"}


@pytest.mark.django_db
def test_it_is_not_ready_without_an_active_intent_model(
    client_redis: redis.Redis,
) -> None:
    a_worker_beats(client_redis, ["inference"])
    status, body = probe("/readyz")
    assert status == 503
    assert body["checks"]["intent_model"] == {
        "state": "failing",
        "reason": "no active intent model",
    }


@pytest.mark.django_db
def test_it_is_not_ready_when_the_active_models_artifact_fails_its_hash(
    tiny_active_model: ModelVersion, client_redis: redis.Redis
) -> None:
    a_worker_beats(client_redis, ["inference"])
    artifact = Path(tiny_active_model.artifact_path)
    (artifact / "config.json").write_text(json.dumps({"value": 2}))
    status, body = probe("/readyz")
    assert status == 503
    assert body["checks"]["intent_model"]["state"] == "failing"
    assert "fails its hash check" in body["checks"]["intent_model"]["reason"]


@pytest.mark.django_db
def test_it_notices_a_verified_artifact_that_was_deleted_since(
    tiny_active_model: ModelVersion, client_redis: redis.Redis
) -> None:
    a_worker_beats(client_redis, ["inference"])
    assert probe("/readyz")[0] == 200
    shutil.rmtree(tiny_active_model.artifact_path)
    status, body = probe("/readyz")
    assert status == 503
    assert body["checks"]["intent_model"]["state"] == "failing"


@pytest.mark.django_db
def test_it_names_redis_failing_without_revealing_where_it_is(
    tiny_active_model: ModelVersion, settings: Any
) -> None:
    port = free_port()
    settings.REDIS_URL = f"redis://:hunter2@127.0.0.1:{port}/0"
    status, body = probe("/readyz")
    assert status == 503
    assert body["checks"]["redis"] == {"state": "failing", "reason": "ConnectionError"}
    assert body["checks"]["workers"]["state"] == "failing"
    assert str(port) not in json.dumps(body) and "hunter2" not in json.dumps(body)


@pytest.mark.django_db(transaction=True)
def test_it_names_the_database_failing_without_revealing_where_it_is() -> None:
    real_port = connection.settings_dict["PORT"]
    port = free_port()
    connection.close()
    connection.settings_dict["PORT"] = port
    try:
        status, body = probe("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert status == 503
    assert body["checks"]["database"] == {
        "state": "failing",
        "reason": "OperationalError",
    }
    assert str(port) not in json.dumps(body)


def test_the_worker_healthcheck_fails_when_no_worker_on_this_host_beats(
    monkeypatch: pytest.MonkeyPatch, client_redis: redis.Redis
) -> None:
    a_worker_beats(client_redis, ["inference"])  # on another host
    monkeypatch.setattr(heartbeat.socket, "gethostname", lambda: "this-host")
    with pytest.raises(CommandError, match="no worker on this host"):
        call_command("worker_alive", stdout=io.StringIO())
    heartbeat.beat(client_redis, nodename="celery@this-host", queues=["training"])
    out = io.StringIO()
    call_command("worker_alive", stdout=out)
    assert out.getvalue().strip() == "alive"


def test_other_methods_and_paths_are_the_sites_own() -> None:
    # Not answered by the probe: the site's host check refuses the unknown host.
    assert Client().post("/readyz", HTTP_HOST=PROBE_HOST).status_code == 400
    assert Client().get("/healthz/", HTTP_HOST=PROBE_HOST).status_code == 400


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_beats_and_stops_beating_when_killed(
    tmp_path: Path, client_redis: redis.Redis
) -> None:
    env = {**child_env(), "WORKER_HEARTBEAT_SECONDS": "1"}
    worker = worker_process(tmp_path, queues="inference")
    worker.start(env)
    try:
        name = own_key(worker.name, client_redis)
        assert heartbeat.live_workers(client_redis)[name] == ["inference"]
        alive = subprocess.run(
            [sys.executable, "manage.py", "worker_alive"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert alive.returncode == 0, alive.stderr
        time.sleep(4)  # beyond one TTL (3 s): the key is renewed, not just set once
        assert name in heartbeat.live_workers(client_redis)
        worker.kill()
        deadline = time.monotonic() + 10
        while name in heartbeat.live_workers(client_redis):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        worker.stop()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_cleanly_takes_its_heartbeat_with_it(
    tmp_path: Path, client_redis: redis.Redis
) -> None:
    worker = worker_process(tmp_path, queues="inference")
    worker.start(child_env())
    try:
        name = own_key(worker.name, client_redis)
    finally:
        worker.stop()
    # The default interval is 10 s (a 30 s TTL): gone at once means deleted.
    assert name not in heartbeat.live_workers(client_redis)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_real_server_is_ready_with_a_real_worker_and_the_demo_model(
    live_stack: Any, active_intent_model: ModelVersion
) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the stack's own http URL
        f"{live_stack.url}/readyz", headers={"Host": PROBE_HOST}
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                body = json.loads(response.read())
                break
        except urllib.error.HTTPError as error:
            # The stack's worker beats within a moment of starting.
            assert time.monotonic() < deadline, error.read()
            time.sleep(0.5)
    assert body["status"] == "ok"
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "inference"
    assert os.environ.get("SECURE_SSL_REDIRECT") != "1"
