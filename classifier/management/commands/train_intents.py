from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.management.options import add_training_options, training_overrides
from classifier.training import TrainingError, intent_model_train, promote_if_not_worse


class Command(BaseCommand):
    help = (
        "Train an intent model on the database's examples and register it as a "
        "candidate; --activate puts it live if it does no worse than the active one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--activate", action="store_true")
        parser.add_argument(
            "--force", action="store_true", help="Activate even if it scores lower."
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
        with tqdm(total=1, desc="Training", unit="step", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                version = intent_model_train(progress=progress, **overrides)
            except TrainingError as error:
                raise CommandError(str(error)) from None
        m = version.metrics
        self.stdout.write(
            f"Registered {version}: accuracy {m['accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f} on {m['n_held_out']} held-out examples."
        )
        if activate:
            if promote_if_not_worse(version, force=force):
                self.stdout.write(self.style.SUCCESS(f"Activated {version}."))
            else:
                raise CommandError(
                    f"Not activated: macro-F1 {m['macro_f1']:.3f} is below the active "
                    f"model's {m['compared_with_active']['macro_f1']:.3f} (--force to "
                    "activate anyway)."
                )
