from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def fresh_registry_cache() -> Iterator[None]:
    """No cached "active model" answer leaks between tests."""
    from django.core.cache import cache

    key = "ml:active:recommender"
    cache.delete(key)
    yield
    cache.delete(key)


@pytest.fixture(autouse=True)
def model_dir(settings: Any, tmp_path: Any) -> None:
    settings.MODEL_DIR = tmp_path / "models"
    settings.EMBED_ON_SAVE = False


@pytest.fixture(autouse=True)
def fresh_live_model() -> Iterator[None]:
    from recommender.serving import live_model

    live_model.reset()
    yield
    live_model.reset()


@pytest.fixture(scope="session")
def encoder() -> Any:
    """The real sentence encoder, loaded once for the session."""
    from ml.encoder import get_encoder

    return get_encoder()


GROUPS = ("jacket", "shoe", "mug")


def group_vectors(per_group: int, *, dim: int = 384, seed: int = 0) -> np.ndarray:
    """Normalized vectors: items of one group close together, groups far apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GROUPS), dim))
    rows = []
    for centre in centres:
        for _ in range(per_group):
            rows.append(centre + 0.2 * rng.normal(size=dim))
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def chain_sequences(
    per_group: int, users: int, *, seed: int = 0
) -> dict[str, list[str]]:
    """Customers walk a group's items in order: jacket-0 → jacket-1 → jacket-2 …"""
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(users):
        group = GROUPS[user % len(GROUPS)]
        start = int(rng.integers(0, 2))
        length = int(rng.integers(3, per_group - start + 1))
        sequences[f"u{user}"] = [f"{group}-{i}" for i in range(start, start + length)]
    return sequences
