"""Helpers the model apps' training and the benchmarks share.

Cheap to import: torch loads inside the functions that use it, so
``classifier.model`` stays free of torch until a model is built or loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ml.encoder import get_encoder

__all__ = [
    "Progress",
    "encode_texts",
    "file_sha256",
    "limit_threads",
    "no_progress",
    "thread_limit",
    "torch_threads",
]

# Wraps a long loop, e.g. tqdm: ``progress(iterable, desc, total)``.
Progress = Callable[[Iterable[Any], str, int | None], Iterable[Any]]


def no_progress(items: Iterable[Any], desc: str, total: int | None) -> Iterable[Any]:
    """The :data:`Progress` that shows nothing."""
    return items


_limit: int | None = None


def limit_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads for the rest of this process's life.

    A Celery worker's processes call it when they start (``config.worker``): each
    one runs one task at a time, and together they should not run more threads
    than there are cores. A model loaded later never raises the count above it
    (see :func:`thread_limit`); ``None`` lifts the limit (tests).

    Args:
        threads: the cap, or ``None``.
    """
    global _limit
    _limit = threads
    if threads is not None:
        import torch  # torch loads late: importing this module must stay cheap

        torch.set_num_threads(threads)


def thread_limit() -> int | None:
    """The cap :func:`limit_threads` set in this process, if any."""
    return _limit


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Cap torch's intra-op threads inside the block, then restore the cap before.

    The encoder's cap suits a web process; a batch job on a shared machine runs
    faster with fewer threads than cores (OpenMP threads spin-wait).
    """
    import torch  # torch loads late: importing this module must stay cheap

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode_texts(
    texts: list[str], *, progress: Progress = no_progress, chunk: int = 256
) -> np.ndarray:
    """Embed many texts with the shared encoder, bypassing its cache.

    Args:
        texts: the texts.
        progress: wraps the loop over chunks.
        chunk: texts per progress step.

    Returns:
        ``(len(texts), dim)`` float32, L2-normalized.
    """
    encoder = get_encoder()
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    parts = [
        encoder.encode_uncached(part)
        for part in progress(chunks, "embed item texts", len(chunks))
    ]
    return np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
