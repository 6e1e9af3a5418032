from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.datasets import DatasetError
from classifier.management.options import add_training_options, training_overrides


class Command(BaseCommand):
    help = (
        "Train a fresh intent model on --train with the production pipeline and score "
        "it on --test; never touches the active model. Writes JSON and two plots."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--train", type=Path, required=True)
        parser.add_argument("--test", type=Path, required=True)
        parser.add_argument("--val", type=Path, default=None)
        parser.add_argument("--json", type=Path, required=True, dest="out_json")
        parser.add_argument("--seed", type=int, default=0)
        add_training_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # Benchmarks (and matplotlib) load only when this command runs.
        from benchmarks.intents import evaluate

        overrides = training_overrides(options)
        bar: Any = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:  # made on the first step: bad input prints no empty bar
                bar = tqdm(desc="Training", unit="step", total=total, file=sys.stderr)
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            result = evaluate(
                train_csv=options["train"],
                test_csv=options["test"],
                val_csv=options["val"],
                out_json=options["out_json"],
                seed=options["seed"],
                progress=progress,
                **overrides,
            )
        except DatasetError as error:
            raise CommandError(str(error)) from None
        finally:
            if bar is not None:
                bar.close()
        shown = [
            "accuracy",
            "macro_f1",
            "in_scope_accuracy",
            "oos_recall",
            "oos_precision",
            "train_seconds",
            "predict_ms_p50",
        ]
        for key in shown:
            if key in result:
                self.stdout.write(f"{key:>18}: {result[key]}")
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['out_json']}"))
