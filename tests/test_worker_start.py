"""What a worker process does when it starts, and how it broadcasts."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator

import pytest
import redis
import torch
from asgiref.sync import async_to_sync
from celery.signals import worker_process_init
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from chatbot import services
from classifier import serving
from config.worker import lower_priority
from ml.encoder import get_encoder, reset_encoder
from ml.torch_utils import limit_threads


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    limit_threads(None)
    torch.set_num_threads(before)


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_caps_its_threads_and_loads_the_model_before_its_first_task(
    active_intent_model, settings, restore_threads
):
    settings.WORKER_TORCH_THREADS = 1
    settings.WORKER_NICENESS = 0  # this is the test process: keep its priority
    torch.set_num_threads(3)
    serving.live_model.reset()

    worker_process_init.send(sender="worker@test")

    assert torch.get_num_threads() == 1
    loaded = serving.loaded_version()
    assert loaded is not None and loaded.pk == active_intent_model.pk


def test_a_worker_process_gives_the_web_server_priority_over_its_model_work():
    before = os.nice(0)
    # A forked child, as a prefork pool process is: its niceness is its own.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        niceness = pool.apply(lower_priority, (7,))
    assert niceness == min(before + 7, 19)
    assert os.nice(0) == before


def test_a_model_loaded_after_the_cap_never_raises_the_thread_count(
    settings, restore_threads
):
    settings.TORCH_THREADS = 2
    limit_threads(1)
    reset_encoder()
    try:
        get_encoder()
        assert torch.get_num_threads() == 1
    finally:
        reset_encoder()  # the next test's encoder is an ordinary one


def connections_received(client: redis.Redis) -> int:
    stats: dict[str, int] = client.info("stats")  # type: ignore[assignment]
    return int(stats["total_connections_received"])


def test_broadcasts_from_a_worker_reuse_one_redis_connection_pool():
    client = redis.Redis.from_url(str(django_settings.REDIS_URL))
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("pool-test", channel)
    services.broadcast("pool-test", {"type": "chat.test", "n": 0})  # opens the pool

    before = connections_received(client)
    for n in range(1, 11):
        services.broadcast("pool-test", {"type": "chat.test", "n": n})
    opened = connections_received(client) - before

    # Before: a new event loop, pool and connection per broadcast (10 or more).
    assert opened <= 2
    received = [async_to_sync(layer.receive)(channel) for _ in range(11)]
    assert [event["n"] for event in received] == list(range(11))
    client.close()
