from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

DEFAULT_CATALOG = Path("recommender/demo/catalog.jsonl")


class Command(BaseCommand):
    help = (
        "Play the dialogue stories in FILE... (YAML, see docs/dialogue-tests.md) over "
        "real websockets, one new customer per story, against --url or a stack of its "
        "own with the demo shop; report pass rates by category and every failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--json", type=Path, required=True, dest="out_json")
        parser.add_argument(
            "--url",
            default=None,
            help="A running stack (http://host:port). It must use this process's "
            "database and Redis (run with the same environment): the runner sets "
            "agents online and clears order-lookup lockouts there before each story.",
        )
        parser.add_argument("--category", default=None, help="Only this category.")
        parser.add_argument(
            "--catalog",
            type=Path,
            default=DEFAULT_CATALOG,
            help="The shop's catalog (JSON lines) the card checks read stock from.",
        )
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="Seconds to wait for a reply."
        )
        parser.add_argument(
            "--epochs",
            type=int,
            default=None,
            help="Intent model fine-tuning epochs "
            "(own stack only; default: as make run trains it).",
        )
        parser.add_argument("--ensemble", type=int, default=None)
        parser.add_argument(
            "--retrain",
            action="store_true",
            help="Train the demo intent model again instead of reusing the cached one.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Benchmarks load only when this command runs.
        from rich.console import Console
        from tqdm import tqdm

        from benchmarks.dialogue import driver, report, stack
        from benchmarks.dialogue.stories import Shop, StoryError, load

        try:
            stories = load(options["files"], category=options["category"])
        except StoryError as error:
            raise CommandError(str(error)) from None
        if not stories:
            raise CommandError("no conversations to play (check --category)")
        shop = Shop.from_catalog(options["catalog"])
        console = Console(file=sys.stdout, soft_wrap=True)

        def say(line: str) -> None:
            self.stderr.write(line)

        with contextlib.ExitStack() as stack_:
            if options["url"]:
                from django.conf import settings

                url = options["url"]
                controls = stack.shop_controls(str(settings.REDIS_URL))
            else:
                log_dir = Path(tempfile.mkdtemp(prefix="concierge-dialogue-logs-"))
                say(f"Starting a stack of its own (logs in {log_dir})…")
                try:
                    url, controls = stack_.enter_context(
                        stack.own_stack(
                            log_dir=log_dir,
                            epochs=options["epochs"],
                            ensemble=options["ensemble"],
                            retrain=options["retrain"],
                            say=say,
                        )
                    )
                except stack.StartError as error:
                    raise CommandError(str(error)) from None
            with tqdm(
                total=len(stories), desc="Conversations", unit="conv", file=sys.stderr
            ) as bar:

                def progress(result: driver.Result) -> None:
                    bar.set_postfix_str(result.story.id[:30])
                    bar.update()

                results = driver.run(
                    stories,
                    url=url,
                    shop=shop,
                    controls=controls,
                    timeout=options["timeout"],
                    progress=progress,
                )
        figures = report.summary(
            results,
            files=[str(f) for f in options["files"]],
            category=options["category"],
            url=options["url"] or "own stack",
            # How the own stack's demo intent model was trained (None: as make run).
            training={"epochs": options["epochs"], "ensemble": options["ensemble"]},
        )
        out: Path = options["out_json"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
        for result in results:
            if not result.passed:
                for line in report.failure_lines(result):
                    console.print(line, markup=False, highlight=False)
                console.print()
        self.print_table(console, figures, report)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out}"))

    def print_table(self, console: Any, figures: dict[str, Any], report: Any) -> None:
        from rich.table import Table

        table = Table(title="Dialogue stories")
        table.add_column("group")
        table.add_column("passed", justify="right")
        table.add_column("rate", justify="right")
        for row in report.table_rows(figures):
            table.add_row(*row)
        console.print(table)
