"""A serving process for the hot-swap test: classifies in many threads at once.

``python -m tests.hotswap_stream OUT_DIR NAME`` warms the intent model as a worker
does at start, writes ``NAME.ready``, then classifies from ``THREADS`` threads,
writes ``NAME.switched`` when another version first answers, stops once
``OUT_DIR/stop`` exists and it has made at least ``AT_LEAST`` classifications, and
writes every classification to ``NAME.json``: its
place in the process's order of events when it started and when it ended, the
version that answered, how that model was loaded, or the error.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
from pathlib import Path

THREADS = 8
AT_LEAST = 300
TEXTS = [
    "where is my order",
    "hi there",
    "i want to send these shoes back",
    "has my parcel shipped yet??",
    "can u tell me a joke",
    "how do I return a jacket i bought last week",
]


def main(out_dir: Path, name: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from classifier import serving

    serving.warm()
    events = itertools.count()  # next() is atomic under the GIL
    results: list[dict[str, object]] = []
    stop = out_dir / "stop"

    started = serving.live_model.current()
    first = started.version.pk if started is not None else None
    switched = out_dir / f"{name}.switched"

    def stream(worker: int) -> None:
        for n in itertools.count():
            if len(results) >= AT_LEAST and stop.exists():
                return
            start = next(events)
            try:
                result = serving.classify(TEXTS[(worker + n) % len(TEXTS)])
            except Exception as error:  # the test counts these: there must be none
                results.append({"start": start, "error": repr(error)})
                continue
            if result is not None and result.model_version_id != first:
                switched.touch()
            results.append(
                {
                    "start": start,
                    "end": next(events),
                    "version": result.model_version_id if result else None,
                    "loaded_in": result.loaded_in if result else None,
                }
            )

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(THREADS)]
    (out_dir / f"{name}.ready").write_text(str(os.getpid()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (out_dir / f"{name}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
