"""Training runs as rows: started, advanced stage by stage, finished with an outcome.

Training calls a :class:`RunRecorder`; it writes the run's stage, percent and log
tail to the database at most once every ``WRITE_EVERY`` seconds (a stage change or
a log line is written at once), so a run of thousands of steps costs a few hundred
small updates, and the admin shows it live.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from ml.models import ModelVersion, TrainingRun

logger = logging.getLogger(__name__)

WRITE_EVERY = 1.0
LOG_LINES = 40
# The Celery task that trains each kind, by name (this layer imports no app).
TRAINING_TASKS = {
    ModelVersion.Kind.INTENT: "classifier.tasks.train_intents",
    ModelVersion.Kind.RECOMMENDER: "recommender.tasks.train_recommender",
}

Echo = Callable[[str, int], None]


class RunRecorder:
    """What a training run reports, written to its row.

    Args:
        run: the row.
        echo: also called with ``(stage, percent)`` on every report (a terminal's
            progress bar); never throttled.
    """

    def __init__(self, run: TrainingRun, *, echo: Echo | None = None) -> None:
        self.run = run
        self.echo = echo
        self._written = 0.0
        self._span = (0, 100)

    def stage(self, name: str, *, start: int, end: int) -> None:
        """Enter a stage that covers ``start`` to ``end`` percent of the run."""
        self._span = (start, end)
        self.run.stage = name
        self.run.percent = start
        self.say(f"{name}…")

    def progress(self, done: int, total: int) -> None:
        """``done`` of ``total`` steps of the current stage."""
        start, end = self._span
        fraction = min(max(done / total, 0.0), 1.0) if total else 1.0
        self.run.percent = int(start + (end - start) * fraction)
        if self.echo is not None:
            self.echo(self.run.stage, self.run.percent)
        if time.monotonic() - self._written >= WRITE_EVERY:
            self._write()

    def say(self, line: str) -> None:
        """Append a line to the run's log (the last ``LOG_LINES`` are kept)."""
        logger.info("run %s: %s", self.run.pk, line)
        stamp = timezone.now().strftime("%H:%M:%S")
        lines = [*self.run.log.splitlines(), f"{stamp} {line}"][-LOG_LINES:]
        self.run.log = "\n".join(lines)
        if self.echo is not None:
            self.echo(self.run.stage, self.run.percent)
        self._write()

    def _write(self) -> None:
        self._written = time.monotonic()
        # An update of these fields alone: the admin may be editing nothing else,
        # but the outcome is written by promotion and must not be overwritten.
        TrainingRun.objects.filter(pk=self.run.pk).update(
            stage=self.run.stage, percent=self.run.percent, log=self.run.log
        )

    def snapshot(self, snapshot: dict[str, Any]) -> None:
        self.run.snapshot = snapshot
        self.run.save(update_fields=["snapshot"])

    def metrics(self, metrics: dict[str, Any]) -> None:
        self.run.metrics = metrics
        self.run.save(update_fields=["metrics"])


def run_create(*, kind: str, trigger: str, requested_by: Any = None) -> TrainingRun:
    """A queued run (the admin's "retrain now"; a schedule's run starts at once)."""
    return TrainingRun.objects.create(
        kind=kind, trigger=trigger, requested_by=requested_by
    )


def run_enqueue(*, kind: str, requested_by: Any) -> TrainingRun:
    """Queue a run of ``kind`` on the training queue, asked for by an operator."""
    with transaction.atomic():
        run = run_create(
            kind=kind, trigger=TrainingRun.Trigger.OPERATOR, requested_by=requested_by
        )
        transaction.on_commit(
            lambda: current_app.send_task(
                TRAINING_TASKS[ModelVersion.Kind(kind)],
                kwargs={"run_id": run.pk},
                queue="training",
            )
        )
    return run


def run_for_task(*, kind: str, run_id: int | None) -> TrainingRun | None:
    """The run a training task works on: the queued one it was given, or a new
    scheduled one. ``None`` when that run already finished (a redelivered task)."""
    if run_id is None:
        return run_create(kind=kind, trigger=TrainingRun.Trigger.SCHEDULE)
    run = TrainingRun.objects.filter(pk=run_id, kind=kind).first()
    if run is None or run.finished is not None or run.started is not None:
        return None
    return run


@contextmanager
def recording(run: TrainingRun, *, echo: Echo | None = None) -> Iterator[RunRecorder]:
    """Start ``run``; on leaving, finish it, or mark it failed with the error.

    The error is re-raised: the caller (a task, a command) owns what happens next.
    """
    run.started = timezone.now()
    run.stage = "starting"
    run.save(update_fields=["started", "stage"])
    recorder = RunRecorder(run, echo=echo)
    try:
        yield recorder
    except BaseException as error:
        run.outcome = TrainingRun.Outcome.FAILED
        run.error = "".join(traceback.format_exception_only(error)).strip()[:2000]
        run.reason = run.error.splitlines()[-1][:300] if run.error else "failed"
        recorder.say(f"failed: {run.reason}")
        raise
    finally:
        run.finished = timezone.now()
        if run.outcome == TrainingRun.Outcome.RUNNING:
            run.outcome = TrainingRun.Outcome.REGISTERED
        run.stage = "done" if run.outcome != TrainingRun.Outcome.FAILED else "failed"
        if run.outcome != TrainingRun.Outcome.FAILED:
            run.percent = 100
        if echo is not None:
            echo(run.stage, run.percent)
        run.save(
            update_fields=[
                "finished",
                "outcome",
                "stage",
                "percent",
                "error",
                "reason",
                "log",
            ]
        )
