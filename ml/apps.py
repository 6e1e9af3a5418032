from __future__ import annotations

from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Model layer"
