"""What each Celery worker process does once when it starts, before its first task.

* Caps torch's threads (``WORKER_TORCH_THREADS``): the pool's processes each run
  one task at a time, and together they should run no more threads than there are
  cores, or OpenMP threads spin-waiting on each other take the web server's share
  of the CPU. Before this, the cap was applied only when the base encoder loaded,
  so a process whose first task was a classification ran uncapped.
* Lowers its CPU priority (``WORKER_NICENESS``): under a burst the model work
  would otherwise take the cores from the ASGI server, whose acks then wait
  seconds (the 200-customer collapse of issue #14). Niced, the bot's work waits
  in the queue while the web server keeps acking; on an idle machine a niced
  process runs as fast as any.
* Warm start, in a worker that serves the replies' queue: loads the active intent
  model, the active recommender and (when there is a catalog to search) the base
  encoder, so the first customer after a start does not wait for a cold load. The
  pool sends "ready" for a process only after this returns
  (``CELERY_WORKER_PROC_ALIVE_TIMEOUT`` allows for it).

A model that cannot load is logged and left to the first task that needs it, which
retries: a worker must start even when the registry is broken.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_process_init
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def _serves_replies() -> bool:
    """Whether this worker consumes the queue of the chat's replies."""
    from config.celery import app

    queues = app.amqp.queues.consume_from  # None: every queue
    return not queues or settings.CELERY_TASK_DEFAULT_QUEUE in queues


def _has_catalog() -> bool:
    """Whether there are products or articles that search will embed queries for (a
    model on a frozen encoder loads it with the model anyway)."""
    from chatbot.models import Article
    from recommender.models import Product

    return Product.objects.exists() or Article.objects.exists()


def lower_priority(niceness: int) -> int:
    """Add ``niceness`` to this process's nice value; the value it now has.

    A process can always lower its own priority, never raise it back without
    privileges: a forked pool process applies it once, at its start.
    """
    return os.nice(niceness) if niceness else os.nice(0)


@worker_process_init.connect
def warm_start(**kwargs: Any) -> None:
    """Lower the priority, cap the threads, then load the models."""
    from classifier import serving as classifier_serving
    from ml.encoder import get_encoder
    from ml.torch_utils import limit_threads
    from recommender import serving as recommender_serving

    lower_priority(int(settings.WORKER_NICENESS))
    limit_threads(int(settings.WORKER_TORCH_THREADS))
    if not _serves_replies():
        return  # a training-only worker loads what each run needs, when it runs
    for name, load in (
        ("encoder", lambda: _has_catalog() and get_encoder()),
        ("intent model", classifier_serving.warm),
        ("recommender", recommender_serving.warm),
    ):
        try:
            load()
        except Exception:
            logger.exception("warm start: could not load the %s", name)
    # The encoder may have set its own count while loading: the worker's cap wins.
    limit_threads(int(settings.WORKER_TORCH_THREADS))
    # This process's own connections, opened above; tasks open theirs as usual.
    connections.close_all()
