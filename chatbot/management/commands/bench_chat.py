from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Drive N customers over real websockets against the chat (a question every "
        "few seconds, each waiting for the reply) and against the bare echo socket "
        "on the same server; report ack and reply latency, replies/s, errors and "
        "lost messages. Starts `make run`'s stack unless --url names a running one "
        "(which must use this command's database, run with BENCH_ECHO=1 for the "
        "baseline and exempt this address from the rate limits: RATE_LIMIT_EXEMPT)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1)
        parser.add_argument("--seconds", type=float, default=30.0)
        parser.add_argument("--json", type=Path, required=True)
        parser.add_argument("--url", default=None, help="e.g. http://127.0.0.1:8000")
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="Seconds between one customer's messages (jittered by 20%%).",
        )
        parser.add_argument("--reply-timeout", type=float, default=30.0)
        parser.add_argument(
            "--ramp",
            action="store_true",
            help="Find the largest N whose reply p95 stays under 2 s.",
        )
        parser.add_argument("--ramp-steps", type=int, default=3)
        parser.add_argument("--no-echo", action="store_true")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--idle",
            type=int,
            default=None,
            metavar="N",
            help="Instead of the phases: hold N idle chat connections on one "
            "server process and report its memory per connection.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from benchmarks.chat import run

        if int(options["customers"]) < 1:
            raise CommandError("--customers must be at least 1")
        if float(options["seconds"]) <= 0 or float(options["interval"]) <= 0:
            raise CommandError("--seconds and --interval must be positive")
        if options["idle"] is not None and int(options["idle"]) < 1:
            raise CommandError("--idle must be at least 1")

        def say(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        try:
            result = run(
                url=options["url"],
                customers=int(options["customers"]),
                seconds=float(options["seconds"]),
                interval=float(options["interval"]),
                reply_timeout=float(options["reply_timeout"]),
                ramp_steps=int(options["ramp_steps"]) if options["ramp"] else None,
                log_dir=Path(settings.DATA_DIR) / "bench-logs",
                seed=int(options["seed"]),
                echo=not options["no_echo"],
                idle=options["idle"],
                progress=say,
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        out = Path(options["json"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        if "idle" in result:
            held = result["idle"]
            self.stdout.write(
                f"held {held['opened']} idle connections; "
                f"{held['memory_per_connection_kb']} KiB each"
            )
        if "ramp" in result:
            found = result["ramp"]["max_customers_p95_under_2s"]
            self.stdout.write(f"largest N with reply p95 under 2 s: {found}")
        self.stdout.write(self.style.SUCCESS(f"Wrote {out}"))
