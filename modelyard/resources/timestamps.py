"""RFC 3339 timestamps as integer nanoseconds since the Unix epoch (UTC), the form modelyard stores."""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import time

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
NANOS = 1_000_000_000
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_EPOCH = datetime.datetime(1970, 1, 1)
MIN_NANOS = -62_135_596_800 * NANOS  # 0001-01-01T00:00:00Z
MAX_NANOS = 253_402_300_799 * NANOS + NANOS - 1  # 9999-12-31T23:59:59.999999999Z


@functools.lru_cache(maxsize=16384)
def parse_rfc3339(text: str) -> int | None:
    """Nanoseconds since the epoch for a strict RFC 3339 timestamp (offset required), else None.

    Cached: an import parses each timestamp when it validates a line and again when it builds the row."""
    m = _RFC3339.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = map(int, m.group(1, 2, 3, 4, 5, 6))
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
    days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    value = seconds * NANOS + nanos
    if not MIN_NANOS <= value <= MAX_NANOS:
        return None  # outside google.protobuf.Timestamp's range (years 1 to 9999, UTC)
    return value


def format_rfc3339(nanos: int) -> str:
    """Proto3 JSON form: UTC with ``Z`` and 0, 3, 6 or 9 fractional digits."""
    seconds, frac = divmod(nanos, NANOS)
    t = _EPOCH + datetime.timedelta(seconds=seconds)
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
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
