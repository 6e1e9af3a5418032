from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live import (
    Process,
    child_env,
    start_web,
    wait_for_idle_workers,
    web_process,
    worker_process,
)


@dataclass
class Stack:
    """A real ASGI server and a real Celery worker on the test database."""

    web: Process
    port: int
    worker: Process
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def live_stack(
    django_db_setup: Any,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("live")
    from config import celery_app

    celery_app.control.purge()  # tasks queued by earlier in-process tests
    with django_db_blocker.unblock():
        env = child_env()
    web, port = web_process(log_dir)
    worker = worker_process(log_dir)
    worker.start(env)
    start_web(web, port, env)
    yield Stack(web=web, port=port, worker=worker, log_dir=log_dir)
    web.stop()
    worker.stop()


@pytest.fixture
def alice(db: Any) -> Any:
    from chatbot.models import Customer

    return Customer.objects.create(name="Alice", email="alice@example.com")


@pytest.fixture
def charlie(db: Any) -> Any:
    from chatbot.models import Customer

    return Customer.objects.create(name="Charlie", email="charlie@example.com")


@pytest.fixture
def bob(db: Any) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        "bob", "bob@example.com", "bob-password-123", is_staff=True
    )


@pytest.fixture(autouse=True)
def fresh_registry_cache() -> Iterator[None]:
    """Each test starts with no cached "active model" answer from another test."""
    from django.core.cache import cache

    from ml.models import ModelVersion

    keys = [f"ml:active:{kind}" for kind in ModelVersion.Kind.values]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture(autouse=True)
def settle_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test with real workers, wait until they are idle."""
    yield
    if "live_stack" in request.fixturenames:
        wait_for_idle_workers()


@pytest.fixture(autouse=True)
def no_background_embedding(settings: Any) -> None:
    """Saving a product or article queues its embedding; tests that want it say so."""
    settings.EMBED_ON_SAVE = False
