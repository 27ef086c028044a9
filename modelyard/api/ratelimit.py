"""Abuse limits, in each server process's memory: a token bucket per API key (off unless configured) and a
growing delay for clients that keep sending bad keys.

Both are per worker process: with ``--workers N`` a key may get up to N times its rate in total. Neither
needs the database, so neither costs the hot path a round trip.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: Clients (or keys) remembered at once; the least recently seen are forgotten first.
_MAX_TRACKED = 10_000


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float
    burst: float

    @staticmethod
    def parse(text: str) -> RateLimit | None:
        """``RATE`` or ``RATE/BURST`` (requests per second; burst defaults to max(1, RATE)); ``""``/``0``:
        off. Raises ValueError naming the problem."""
        text = text.strip()
        if not text or text in ("0", "off"):
            return None
        rate_text, _, burst_text = text.partition("/")
        try:
            rate = float(rate_text)
            burst = float(burst_text) if burst_text else max(1.0, rate)
        except ValueError:
            raise ValueError(f"rate limit {text!r}: expected RATE or RATE/BURST, e.g. 20 or 20/40") from None
        if not (math.isfinite(rate) and math.isfinite(burst)) or rate <= 0 or burst < 1:
            raise ValueError(f"rate limit {text!r}: RATE must be > 0 and BURST >= 1")
        return RateLimit(rate, burst)


class TokenBuckets:
    """One token bucket per key id. ``take`` returns 0 when the request may proceed, else the seconds
    until a token is available (the ``Retry-After``)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        now = self._clock()
        rate, burst = self.limit.rate, self.limit.burst
        with self._lock:
            tokens, at = self._buckets.pop(key_id, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key_id] = (tokens, now)
                wait = (1 - tokens) / rate
            while len(self._buckets) > _MAX_TRACKED:
                self._buckets.popitem(last=False)
        return wait


class BadKeyThrottle:
    """Slows down a client that keeps presenting API keys that are not valid. Each failure adds 1 to the
    client's level, which drains at ``leak`` per second; while the level is above ``free``, each failure
    is answered after ``base`` seconds, doubling with every further failure, up to ``ceiling``. A person
    mistyping a key, or a test suite, never notices; a client guessing keys gets one try per ``ceiling``
    seconds per connection. The delay is the same whatever was wrong with the key (unknown, deleted or
    expired). A request without any key is not a guess and is not counted."""

    def __init__(
        self,
        *,
        free: int = 20,
        leak: float = 1.0,
        base: float = 0.05,
        ceiling: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.leak, self.base, self.ceiling = free, leak, base, ceiling
        self._clock = clock
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (level, at)
        self._lock = threading.Lock()

    def failure(self, client: str) -> float:
        """Count a failure from ``client``; returns the delay to apply before answering it."""
        now = self._clock()
        with self._lock:
            level, at = self._levels.pop(client, (0.0, now))
            level = max(0.0, level - (now - at) * self.leak) + 1
            self._levels[client] = (level, now)
            while len(self._levels) > _MAX_TRACKED:
                self._levels.popitem(last=False)
        if level <= self.free:
            return 0.0
        return float(min(self.ceiling, self.base * 2 ** min(level - self.free - 1, 32)))
