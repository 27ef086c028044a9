"""RFC 3339 timestamps as integer nanoseconds since the Unix epoch (UTC), the form modelyard stores."""

from __future__ import annotations

import calendar
import re
import time

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
NANOS = 1_000_000_000


def parse_rfc3339(text: str) -> int | None:
    """Nanoseconds since the epoch for a strict RFC 3339 timestamp (offset required), else None."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(max(year, 1), month)[1]):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    second = min(second, 59)  # a leap second is read as :59
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    offset = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return seconds * NANOS + nanos


def format_rfc3339(nanos: int) -> str:
    """Proto3 JSON form: UTC with ``Z`` and 0, 3, 6 or 9 fractional digits."""
    seconds, frac = divmod(nanos, NANOS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac == 0:
        return base + "Z"
    if frac % 1_000_000 == 0:
        return f"{base}.{frac // 1_000_000:03d}Z"
    if frac % 1_000 == 0:
        return f"{base}.{frac // 1_000:06d}Z"
    return f"{base}.{frac:09d}Z"


def now_nanos() -> int:
    """The current time, truncated to microseconds (what every database keeps exactly)."""
    return time.time_ns() // 1_000 * 1_000
