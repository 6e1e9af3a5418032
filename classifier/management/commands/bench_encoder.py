from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.datasets import DatasetError


def _bar(items: Iterable[Any], desc: str, total: int | None) -> Iterable[Any]:
    return tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False)


class Command(BaseCommand):
    help = (
        "Measure the served intent classifier against this machine's fp32 matmul "
        "peak: latency of one message, batched throughput, latency over the FLOP "
        "floor, roofline efficiency and accuracy on a labelled sample, per path."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from benchmarks.encoder import SAMPLE, Settings

        default = Settings()
        parser.add_argument("--json", type=Path, required=True)
        parser.add_argument(
            "--data",
            type=Path,
            default=SAMPLE,
            help="A text,intent CSV file of the served model's intents (default: "
            "the shop sample in benchmarks/data).",
        )
        parser.add_argument(
            "--model",
            type=Path,
            default=None,
            help="An intent model folder; default: the active intent model.",
        )
        parser.add_argument(
            "--torch-only",
            action="store_true",
            help="Measure torch only (no ONNX export and onnxruntime path).",
        )
        parser.add_argument("--runs", type=int, default=default.single_runs)
        parser.add_argument("--warmup", type=int, default=default.warmup)
        parser.add_argument("--batch-size", type=int, default=default.batch_size)
        parser.add_argument(
            "--batched-messages", type=int, default=default.batched_messages
        )
        parser.add_argument("--matmul-n", type=int, default=default.matmul_n)
        parser.add_argument(
            "--matmul-repeats", type=int, default=default.matmul_repeats
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from benchmarks.encoder import Settings, benchmark, paths_for

        for name in ("runs", "batch_size", "batched_messages", "matmul_n"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        if not Path(options["data"]).is_file():
            raise CommandError(f"--data: no such file {options['data']}")
        model, version = self.model(options["model"])
        measured = Settings(
            matmul_n=options["matmul_n"],
            matmul_repeats=max(1, options["matmul_repeats"]),
            warmup=max(0, options["warmup"]),
            single_runs=options["runs"],
            batch_size=options["batch_size"],
            batched_messages=options["batched_messages"],
        )
        threads = int(settings.TORCH_THREADS)
        try:
            with tempfile.TemporaryDirectory() as graph_dir:
                # The graph is exported here, so the two runtimes run one model.
                paths, served = paths_for(
                    model,
                    threads=threads,
                    graph_dir=None if options["torch_only"] else Path(graph_dir),
                )
                result = benchmark(
                    model,
                    paths=paths,
                    served=served,
                    sample=Path(options["data"]),
                    threads=threads,
                    settings=measured,
                    progress=_bar,
                    model_version=version,
                )
        except (DatasetError, ValueError, OSError) as error:
            raise CommandError(str(error)) from None
        out = Path(options["json"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        self.stdout.write(
            f"peak {result['peak_gflops']} GFLOP/s at {result['threads']} threads; "
            f"floor {result['floor_ms']} ms for one pass of "
            f"{result['median_tokens']} tokens"
        )
        for name, figures in result["paths"].items():
            self.stdout.write(
                f"{name:>12}: p50 {figures['p50_ms']} ms "
                f"({figures['latency_over_floor']}x floor), "
                f"{figures['batched_messages_per_s']} msg/s batched "
                f"({figures['roofline_efficiency']:.1%} of peak), "
                f"accuracy {figures['accuracy']:.3f}"
            )
        self.stdout.write(self.style.SUCCESS(f"Wrote {out}"))

    def model(self, folder: Path | None) -> tuple[Any, str]:
        from classifier.model import IntentModel
        from classifier.serving import live_model

        if folder is not None:
            try:
                return IntentModel.load(Path(folder)), str(folder)
            except (FileNotFoundError, ValueError) as error:
                raise CommandError(str(error)) from None
        loaded = live_model.get()
        if loaded is None:
            raise CommandError(
                "no active intent model: train one (`manage.py train_intents "
                "--activate`, or `manage.py setup_demo`) or pass --model FOLDER"
            )
        version, active = loaded
        return active, f"v{version.version}"
