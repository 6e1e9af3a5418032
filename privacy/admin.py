"""Admin pages of the privacy app."""

from __future__ import annotations
