"""RFC 3339 timestamps as integer nanoseconds since the Unix epoch (UTC): the one parser and formatter.

Resources (proto3 JSON input and output), filters (timestamp literals) and the store (timestamp
columns) all use this module. Parsing is strict RFC 3339 with an offset (``Z`` or ``+hh:mm``, lower-case
``t``/``z`` accepted, up to 9 fractional digits kept exactly) within ``google.protobuf.Timestamp``'s
range (years 1 to 9999, UTC). A leap second (``:60``) is refused, as protobuf's JSON parsers do.
Formatting is proto3 JSON's canonical form: UTC with ``Z`` and 0, 3, 6 or 9 fractional digits.
"""

from __future__ import annotations

import calendar
import datetime
import functools
import re
import time

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # ASCII digits only: int() would read other scripts' digits too
)
NANOS = 1_000_000_000
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_EPOCH_DATE = datetime.date(1970, 1, 1)
MIN_NANOS = -62_135_596_800 * NANOS  # 0001-01-01T00:00:00Z
MAX_NANOS = 253_402_300_799 * NANOS + NANOS - 1  # 9999-12-31T23:59:59.999999999Z


@functools.lru_cache(maxsize=65536)
def _day_number(date: str) -> int | None:
    """Days since 1970-01-01 for ``YYYY-MM-DD`` (digits already checked), None for no such date."""
    year, month, day = int(date[0:4]), int(date[5:7]), int(date[8:10])
    if year < 1 or not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    return datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL


@functools.lru_cache(maxsize=65536)
def _date_text(days: int) -> str:
    return (_EPOCH_DATE + datetime.timedelta(days=days)).isoformat()


@functools.lru_cache(maxsize=16384)
def parse_rfc3339(text: str) -> int | None:
    """Nanoseconds since the epoch for a strict RFC 3339 timestamp (offset required), else None.

    Cached: an import parses each timestamp when it validates a line and again when it builds the row."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    days = _day_number(text[:10])
    if days is None:
        return None
    hour, minute, second = int(m[4]), int(m[5]), int(m[6])
    if hour > 23 or minute > 59 or second > 59:
        return None
    frac = m[7]
    nanos = int(frac.ljust(9, "0")) if frac else 0
    offset = 0
    if m[9]:
        oh, om = int(m[10]), int(m[11])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m[9] == "+" else -1)
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    value = seconds * NANOS + nanos
    if not MIN_NANOS <= value <= MAX_NANOS:
        return None  # outside google.protobuf.Timestamp's range (years 1 to 9999, UTC)
    return value


def format_rfc3339(nanos: int) -> str:
    """Proto3 JSON form: UTC with ``Z`` and 0, 3, 6 or 9 fractional digits."""
    seconds, frac = divmod(nanos, NANOS)
    days, seconds = divmod(seconds, 86_400)
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    base = f"{_date_text(days)}T{hour:02d}:{minute:02d}:{second:02d}"
    if frac == 0:
        return base + "Z"
    if frac % 1_000_000 == 0:
        return f"{base}.{frac // 1_000_000:03d}Z"
    if frac % 1_000 == 0:
        return f"{base}.{frac // 1_000:06d}Z"
    return f"{base}.{frac:09d}Z"


#: RFC 3339 text exactly as :func:`format_rfc3339` writes it: ``Z``, and 0, 3, 6 or 9 fractional digits
#: with no trailing group of three zeros.
_CANONICAL = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!000Z)\d{3}|\.\d{3}(?!000Z)\d{3}|\.\d{6}(?!000Z)\d{3})?Z",
    re.ASCII,
)


def is_canonical(text: str) -> bool:
    """Whether ``text`` is written as :func:`format_rfc3339` writes (a leap second :60 never is); it may
    still name no valid time (``2023-02-29``): :func:`parse_rfc3339` decides that."""
    return _CANONICAL.fullmatch(text) is not None and text[17:19] != "60"


def now_nanos() -> int:
    """The current time, truncated to microseconds (what every database keeps exactly)."""
    return time.time_ns() // 1_000 * 1_000
