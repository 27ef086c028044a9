"""Documented resource limits of the filter language, enforced before any recursion can run deep.

* the filter text is at most :data:`MAX_FILTER_BYTES` bytes of UTF-8 (8 KiB);
* parentheses and function calls nest at most :data:`MAX_DEPTH` levels (CEL requires 32);
* a filter has at most :data:`MAX_TERMS` terms (restrictions and bare literals).

The length is checked before lexing, the depth while lexing (iteratively, before the recursive-descent
parser starts) and the number of terms while parsing.
"""

from __future__ import annotations

from modelyard.aip.errors import FilterError

MAX_FILTER_BYTES = 8192
MAX_DEPTH = 64
MAX_TERMS = 500

REASON_TOO_LONG = "FILTER_TOO_LONG"
REASON_TOO_COMPLEX = "FILTER_TOO_COMPLEX"


def check_length(text: str) -> None:
    """Reject a filter longer than :data:`MAX_FILTER_BYTES` bytes of UTF-8 (lone surrogates count as 3)."""
    if len(text) <= MAX_FILTER_BYTES // 4:  # cheap: every code point is at most 4 bytes
        return
    if len(text) > MAX_FILTER_BYTES:
        size = len(text)  # at least this many bytes; avoid encoding a huge hostile input
        raise too_long(size, exact=False)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILTER_BYTES:
        raise too_long(size, exact=True)


def too_long(size: int, *, exact: bool) -> FilterError:
    amount = f"{size} bytes" if exact else f"more than {MAX_FILTER_BYTES} bytes"
    return FilterError(
        f"too long ({amount}); at most {MAX_FILTER_BYTES} bytes (8 KiB) of UTF-8 are allowed",
        reason=REASON_TOO_LONG,
        metadata={"limit": str(MAX_FILTER_BYTES)},
    )


def too_deep(column: int) -> FilterError:
    return FilterError(
        f"nesting too deep at column {column}; at most {MAX_DEPTH} levels of parentheses and function "
        "calls are allowed",
        column=column,
        reason=REASON_TOO_COMPLEX,
        metadata={"limit": str(MAX_DEPTH)},
    )


def too_many_terms(column: int) -> FilterError:
    return FilterError(
        f"too many terms at column {column}; at most {MAX_TERMS} restrictions or search terms are allowed",
        column=column,
        reason=REASON_TOO_COMPLEX,
        metadata={"limit": str(MAX_TERMS)},
    )
