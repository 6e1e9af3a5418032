"""Benchmark the recommender on a public data set (see shared/data/README.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

DEFAULT_OUT = Path("benchmarks/results/recsys_amazon_office.json")


class Command(BaseCommand):
    help = (
        "Chronological leave-one-out of our recommender against popularity, "
        "ItemKNN and ALS, with a cold-start score; writes a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--items", required=True, type=Path, help="items.jsonl")
        parser.add_argument(
            "--interactions", required=True, type=Path, help="interactions.csv"
        )
        parser.add_argument("--json", type=Path, default=DEFAULT_OUT, help="output")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--time-budget",
            type=float,
            default=None,
            help="Seconds of training per model (default: the model's own).",
        )
        parser.add_argument(
            "--epochs", type=int, default=None, help="At most this many epochs."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Benchmarks (and torch) load only when this command runs.
        from benchmarks.recommender import DataError, run_benchmark
        from recommender.model import TrainConfig

        # call_command() passes strings through without the parser's type=Path.
        paths = {key: Path(options[key]) for key in ("items", "interactions", "json")}
        for key in ("items", "interactions"):
            if not paths[key].is_file():
                raise CommandError(f"{paths[key]}: no such file")
        config = TrainConfig()
        if options["time_budget"] is not None:
            config.time_budget_s = options["time_budget"]
        if options["epochs"] is not None:
            config.epochs = options["epochs"]
        quiet = options["verbosity"] == 0
        try:
            results = run_benchmark(
                paths["items"],
                paths["interactions"],
                seed=options["seed"],
                config=config,
                progress=None if quiet else self._progress,
            )
        except DataError as error:
            raise CommandError(str(error)) from None
        out = paths["json"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        if not quiet:
            self.stdout.write(self._table(results))
            self.stdout.write(f"wrote {out}")

    def _progress(
        self, items: Iterable[Any], desc: str, total: int | None
    ) -> Iterable[Any]:
        return tqdm(items, desc=desc, total=total, file=self.stderr._out, leave=False)

    @staticmethod
    def _table(results: dict[str, Any]) -> str:
        lines = [f"{'model':<12} {'HR@10':>8} {'NDCG@10':>8}"]
        for name, row in results["summary"].items():
            lines.append(f"{name:<12} {row['hr@10']:>8.4f} {row['ndcg@10']:>8.4f}")
        cold = results["cold_start"]
        lines.append(
            f"cold start ({cold['test_cases']} cases): content "
            f"{cold['content']['ndcg@10']:.4f}, hybrid {cold['hybrid']['ndcg@10']:.4f}"
            " NDCG@10"
        )
        lines.append(
            f"train {results['train_seconds']} s, total {results['total_seconds']} s; "
            f"skipped {results['data']['skipped_unknown_items']} unknown-item rows"
        )
        return "\n".join(lines)
