"""Documented resource limits of the filter language, enforced before any recursion can run deep.

* the filter text is at most :data:`MAX_FILTER_BYTES` bytes of UTF-8 (8 KiB);
* parentheses and function calls nest at most :data:`MAX_DEPTH` levels (CEL requires 32);
* a filter has at most :data:`MAX_TERMS` terms (restrictions and bare literals).

The length is checked before lexing, the depth while lexing (iteratively, before the recursive-descent
parser starts) and the number of terms while parsing.
"""

from __future__ import annotations

from modelyard.aip.filtering import errors

MAX_FILTER_BYTES = 8192
MAX_DEPTH = 64
MAX_TERMS = 500


def check_length(text: str) -> None:
    """Reject a filter longer than :data:`MAX_FILTER_BYTES` bytes of UTF-8 (lone surrogates count as 3)."""
    if len(text) <= MAX_FILTER_BYTES // 4:  # cheap: every code point is at most 4 bytes
        return
    if len(text) > MAX_FILTER_BYTES:
        size = len(text)  # at least this many bytes; avoid encoding a huge hostile input
        raise errors.too_long(size, MAX_FILTER_BYTES, exact=False)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILTER_BYTES:
        raise errors.too_long(size, MAX_FILTER_BYTES, exact=True)
