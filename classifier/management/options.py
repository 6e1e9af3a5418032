"""Command-line options shared by ``train_intents`` and ``evaluate_intents``."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandParser


def _count(minimum: int) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of at least {minimum}, got {value!r}"
            )
        return number

    return parse


def add_training_options(parser: CommandParser) -> None:
    parser.add_argument(
        "--epochs",
        type=_count(0),
        default=None,
        help="Encoder fine-tuning epochs (0 trains only a head on the frozen "
        "encoder: fast, a little less accurate). Default: 3.",
    )
    parser.add_argument(
        "--ensemble",
        type=_count(1),
        default=None,
        help="Fine-tuned members whose probabilities are averaged (training time "
        "grows with it). Default: 3.",
    )


def training_overrides(options: dict[str, Any]) -> dict[str, int]:
    """The ``TrainConfig`` fields the options set."""
    names = {"epochs": "finetune_epochs", "ensemble": "ensemble_size"}
    return {
        field: options[option]
        for option, field in names.items()
        if options.get(option) is not None
    }
