from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def encoder() -> Any:
    """The real sentence encoder, loaded once for the session."""
    # Imported here: the encoder loads torch, and only tests that ask for it pay.
    from ml.encoder import get_encoder

    return get_encoder()
