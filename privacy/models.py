"""What the privacy app records: erasures, exports, staff access to transcripts."""

from __future__ import annotations
