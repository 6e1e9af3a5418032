"""The Celery application: two queues, ``inference`` (chat replies) and ``training``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("concierge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each worker process's start-up: thread cap and warm start (config/worker.py).
from config import worker  # noqa: E402, F401
