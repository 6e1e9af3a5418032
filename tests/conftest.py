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
    """A customer."""
    from tests.factories import CustomerFactory

    return CustomerFactory.create(name="Alice")


@pytest.fixture
def charlie(db: Any) -> Any:
    """Another customer, who must never see Alice's conversation."""
    from tests.factories import CustomerFactory

    return CustomerFactory.create(name="Charlie")


@pytest.fixture
def bob(db: Any) -> Any:
    """Support staff."""
    from tests.factories import StaffFactory

    return StaffFactory.create(username="bob")


@pytest.fixture(autouse=True)
def fresh_registry_cache() -> Iterator[None]:
    """Each test starts with no cached "active model" answer from another test, and
    no model loaded by another test."""
    from django.core.cache import cache

    from ml import hotswap
    from ml.models import ModelVersion

    keys = [f"ml:active:{kind}" for kind in ModelVersion.Kind.values]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)
    # Nor a served model, nor a loader thread holding a database connection.
    hotswap.reset()


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own channel layer: a layer keeps locks and connections
    bound to the event loop that first used them, and every async test has its own
    loop (a shared layer fails with "bound to a different event loop")."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


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


@pytest.fixture(scope="session")
def demo_intent_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An intent model trained once per test run on the demo shop's intents.

    The encoder stays frozen (only the head trains) to keep the suite fast; the
    full pipeline with fine-tuning is measured by the benchmarks instead.
    """
    from classifier import datasets
    from classifier.training import fit_intent_model

    intent_set = datasets.read(Path(__file__).parent.parent / DEMO_INTENTS)
    texts, labels = zip(*intent_set.examples, strict=True)
    model = fit_intent_model(list(texts), list(labels), finetune_epochs=0, seed=0)
    return model.save(tmp_path_factory.mktemp("intent-model"))


@pytest.fixture
def demo_shop(db: Any) -> None:
    """The demo catalog, help centre, orders and intents, with embeddings."""
    from django.core.management import call_command

    from chatbot.demo import articles_load, orders_load
    from chatbot.dialogue.knowledge import article_embed
    from chatbot.models import Article
    from recommender.embeddings import product_embed
    from recommender.services import DEMO_CATALOG, products_import

    products_import(DEMO_CATALOG)
    product_embed()
    articles_load()
    article_embed(Article.objects.all())
    orders_load()
    call_command("import_intents", DEMO_INTENTS, source="seed", verbosity=0)


@pytest.fixture
def active_intent_model(
    demo_shop: None, demo_intent_model_dir: Path, settings: Any, tmp_path: Path
) -> Any:
    """The demo intent model, registered and active (as the worker will see it)."""
    from django.core.cache import cache

    from ml import registry

    settings.MODEL_DIR = tmp_path / "models"
    version = registry.register(
        kind="intent", source_dir=demo_intent_model_dir, metrics={}, trained_on={}
    )
    registry.activate(version)
    # Not every test commits (on_commit may not run): forget the cached answer here.
    cache.delete(f"ml:active:{version.kind}")
    return version


DEMO_INTENTS = "classifier/demo/intents.yaml"


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Run Celery tasks in-process (consumer tests); end-to-end tests use a worker."""
    from config import celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
