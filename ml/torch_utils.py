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

__all__ = ["Progress", "encode_texts", "file_sha256", "no_progress", "torch_threads"]

# Wraps a long loop, e.g. tqdm: ``progress(iterable, desc, total)``.
Progress = Callable[[Iterable[Any], str, int | None], Iterable[Any]]


def no_progress(items: Iterable[Any], desc: str, total: int | None) -> Iterable[Any]:
    """The :data:`Progress` that shows nothing."""
    return items


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
