"""Conversions of filter literals that only filters have: ``<number>s`` durations to nanoseconds, and the
hint for a timestamp whose ``+`` a URL decoder turned into a space. Timestamps themselves are parsed by
:mod:`modelyard.aip.timestamps`, the parser resources and the store use too.
"""

from __future__ import annotations

import re

from modelyard.aip.timestamps import NANOS as NANOS_PER_SECOND

# A '+hh:mm' offset whose '+' a form decoder turned into a space.
_PLUS_DECODED_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)? [0-9]{2}:[0-9]{2}"
)
_DURATION_RE = re.compile(r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?s")

# google.protobuf.Duration's range: +-10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000

PLUS_HINT = "a '+' in a URL query must be sent as %2B"


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
