"""Conversions of filter literals: strict RFC 3339 timestamps and ``<number>s`` durations to nanoseconds.

Python's ``datetime.fromisoformat`` is too lenient for filters (it accepts dates without a time, naive
times, the basic format, ``+0100``) and truncates nanoseconds, so timestamps are validated with a strict
RFC 3339 pattern and converted with integer arithmetic.
"""

from __future__ import annotations

import datetime as dt
import re

NANOS_PER_SECOND = 1_000_000_000

_RFC3339_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))"
)
# A '+hh:mm' offset whose '+' a form decoder turned into a space.
_PLUS_DECODED_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? [0-9]{2}:[0-9]{2}"
)
_DURATION_RE = re.compile(r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?s")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

# google.protobuf.Duration's range: +-10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000

PLUS_HINT = "a '+' in a URL query must be sent as %2B"


def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the Unix epoch (UTC) of a strict RFC 3339 timestamp with an offset, else None.

    Lower-case ``t`` and ``z`` are accepted (RFC 3339 §5.6); up to 9 fractional digits are kept exactly.
    """
    m = _RFC3339_RE.fullmatch(text)
    if m is None:
        return None
    try:
        date = dt.date(int(m["year"]), int(m["month"]), int(m["day"]))
    except ValueError:
        return None
    hour, minute, second = int(m["hour"]), int(m["minute"]), int(m["second"])
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if m["sign"] is not None:
        oh, om = int(m["oh"]), int(m["om"])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (-1 if m["sign"] == "-" else 1)
    days = date.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    frac = m["frac"] or ""
    return seconds * NANOS_PER_SECOND + int(frac.ljust(9, "0") or "0")


def looks_like_decoded_plus(text: str) -> bool:
    """Whether ``text`` looks like a timestamp whose ``+`` offset was URL-decoded to a space."""
    return _PLUS_DECODED_RE.fullmatch(text) is not None


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a ``<number>s`` duration (``"30s"``, ``"1.5s"``, ``"-0.25s"``), else None.

    At most 9 fractional digits; the range is that of ``google.protobuf.Duration``.
    """
    m = _DURATION_RE.fullmatch(text)
    if m is None:
        return None
    whole, frac = m["int"], m["frac"]
    if not whole and not frac:
        return None
    frac = frac or ""
    if len(frac) > 9 or len(whole) > 12:
        return None
    seconds = int(whole or "0")
    if seconds > MAX_DURATION_SECONDS:
        return None
    nanos = seconds * NANOS_PER_SECOND + int(frac.ljust(9, "0") or "0")
    if nanos > MAX_DURATION_SECONDS * NANOS_PER_SECOND:
        return None
    return -nanos if m["sign"] == "-" else nanos


def format_timestamp(nanos: int) -> str:
    """RFC 3339 in UTC with ``Z`` and only as many fractional digits as needed (for messages and tests)."""
    seconds, frac = divmod(nanos, NANOS_PER_SECOND)
    stamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"
