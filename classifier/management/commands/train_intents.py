from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.management.options import add_training_options, training_overrides
from classifier.training import TrainingError, intent_model_train
from ml.models import ModelVersion, TrainingRun
from ml.runs import recording, run_create


class Command(BaseCommand):
    help = (
        "Train an intent model on the database's examples and register it as a "
        "candidate, recorded as a training run; --activate puts it live if the "
        "promotion rule (golden set) accepts it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--activate", action="store_true")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Activate even if the promotion rule rejects it.",
        )
        add_training_options(parser)

    def handle(
        self,
        *args: Any,
        activate: bool,
        force: bool,
        **options: Any,
    ) -> None:
        overrides = training_overrides(options)
        run = run_create(
            kind=ModelVersion.Kind.INTENT, trigger=TrainingRun.Trigger.COMMAND
        )
        # The bar shows what the admin shows for the run: its stage and percent.
        with tqdm(
            total=100,
            desc="Starting",
            unit="%",
            file=sys.stderr,
            disable=options["verbosity"] == 0,
        ) as bar:

            def echo(stage: str, percent: int) -> None:
                bar.set_description(stage.capitalize(), refresh=False)
                bar.n = percent
                bar.refresh()

            try:
                with recording(run, echo=echo) as recorder:
                    version = intent_model_train(
                        recorder=recorder, promote=activate, force=force, **overrides
                    )
            except TrainingError as error:
                raise CommandError(str(error)) from None
        golden = version.metrics["golden"]
        scored = (
            f"golden macro-F1 {golden['macro_f1']:.3f} on {golden['examples']} "
            "golden examples"
            if "macro_f1" in golden
            else "no golden examples to score it on"
        )
        self.stdout.write(f"Registered {version} (run #{run.pk}): {scored}.")
        if not (activate or force):
            self.stdout.write(run.reason)
        elif run.outcome == TrainingRun.Outcome.PROMOTED:
            self.stdout.write(self.style.SUCCESS(f"Activated {version}: {run.reason}"))
        else:
            raise CommandError(
                f"Not activated: {run.reason} (--force to activate anyway)."
            )
