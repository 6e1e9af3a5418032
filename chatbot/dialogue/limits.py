"""Order lookups limited per client address, per email and per order number.

A failed lookup (no order with that number and email, whichever was wrong) counts
against all three keys, across every conversation and every server, in the shared
cache. After a key's free failures each further one doubles the wait before that
key may be looked up again, up to a cap: guessing gets slow fast, while the real
owner is only ever delayed, never locked out. Someone with many addresses still
meets the email and number keys; shoppers behind one address get more room.

The policy reads the wait (a lookup); the service records failures (an effect).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache

from chatbot.dialogue.decision import LookupKeys


@dataclass(frozen=True)
class Limit:
    free: int  # failures before any wait
    first_wait: int  # seconds, doubled with each further failure
    max_wait: int


LIMITS = {
    "client": Limit(free=10, first_wait=30, max_wait=15 * 60),
    "email": Limit(free=3, first_wait=30, max_wait=15 * 60),
    "number": Limit(free=3, first_wait=30, max_wait=15 * 60),
}
# Failures are forgotten a day after the last one.
MEMORY = 24 * 3600


def cache_keys(keys: LookupKeys) -> dict[str, str]:
    """The cache key of each limited value; emails are hashed, not stored."""
    values = {
        "client": keys.client,
        "email": keys.email.lower(),
        "number": keys.number.upper(),
    }
    return {
        kind: f"lookup-fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"
        for kind, value in values.items()
        if value
    }


def wait(limit: Limit, *, failures: int, last: float, now: float) -> int:
    """Seconds until a key with ``failures``, the last at ``last``, may be tried."""
    if failures < limit.free:
        return 0
    delay = min(limit.max_wait, limit.first_wait * 2 ** min(failures - limit.free, 30))
    return max(0, int(last + delay - now + 0.999))


def lookup_wait(*, client: str | None, email: str, number: str) -> int:
    """Seconds before an order lookup with these keys may run; 0 when it may now."""
    keys = cache_keys(LookupKeys(client=client, email=email, number=number))
    found = cache.get_many(list(keys.values()))
    now = time.time()
    waits = [0]
    for kind, key in keys.items():
        if key in found:
            failures, last = found[key]
            waits.append(wait(LIMITS[kind], failures=failures, last=last, now=now))
    return max(waits)


def record_failure(keys: LookupKeys) -> None:
    """Count a failed lookup against each of its keys."""
    now = time.time()
    stored = cache_keys(keys)
    found = cache.get_many(list(stored.values()))
    # A read-modify-write: two failures at the same instant may count once, which
    # the doubling absorbs; a lost count never unlocks anything early.
    cache.set_many(
        {key: (found.get(key, (0, 0.0))[0] + 1, now) for key in stored.values()},
        timeout=MEMORY,
    )


def forget(keys: LookupKeys) -> None:
    """Drop the counts of these keys (for tests and for staff clearing a lock)."""
    cache.delete_many(list(cache_keys(keys).values()))
