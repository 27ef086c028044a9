"""Parsing JSON that a stranger wrote (the side files and safetensors headers of an uploaded checkpoint)
with bounds on what it may cost.

``json.loads`` is linear in its input, but what it builds is not bounded by the input's size in a useful
way: ``[[],[],...]`` makes a 56-byte list of every 3 bytes (a 64 MiB safetensors header of them took the
server to 1.8 GB), nesting deeper than the interpreter's recursion limit raises ``RecursionError``, and
an integer of 4,299 digits is read as one, to be multiplied and formatted later (seconds of CPU, then a
``ValueError`` of its own). :func:`loads` refuses each of these with a :class:`JsonLimitError` (a
``ValueError``) saying what is wrong, before or while parsing:

* more than one ``[`` or ``{`` per :data:`BYTES_PER_CONTAINER` bytes (counted in the raw bytes, strings
  included: a real config, tokenizer config or safetensors header has far fewer), which bounds the
  objects built to a small multiple of the input's size;
* nesting deeper than the parser allows (``RecursionError``, caught);
* with ``max_int_digits``, an integer literal of more digits (checked as each is parsed).

The size of the input is the caller's to cap (:mod:`modelyard.files.validate` reads at most
``MAX_JSON_BYTES`` of a side file and ``MAX_HEADER_BYTES`` of a safetensors header).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: A ``[`` or ``{`` per this many bytes at most (plus :data:`FREE_CONTAINERS`); ``[0,0],`` is 6 bytes.
BYTES_PER_CONTAINER = 6
#: Containers any input may hold whatever its size.
FREE_CONTAINERS = 64
#: Most digits of an integer in a side file (a JSON config): 2**64 has 20.
MAX_INT_DIGITS = 20


class JsonLimitError(ValueError):
    """JSON that is malformed or past one of the bounds; the message says which (no file name)."""


def _bounded_int(max_digits: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        digits = len(text) - text.startswith("-")
        if digits > max_digits:
            raise JsonLimitError(f"holds an integer of {digits:,} digits (at most {max_digits} are read)")
        return int(text)

    return parse


def loads(raw: bytes, max_int_digits: int | None = None) -> Any:
    """``raw`` parsed as JSON (UTF-8), within the bounds of the module doc; :class:`JsonLimitError`
    otherwise (for malformed JSON too, with the parser's reason)."""
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > len(raw) // BYTES_PER_CONTAINER + FREE_CONTAINERS:
        raise JsonLimitError(
            f"holds {containers:,} arrays and objects in {len(raw):,} bytes (at most one per "
            f"{BYTES_PER_CONTAINER} bytes is read)"
        )
    try:
        if max_int_digits is None:
            return json.loads(raw)
        return json.loads(raw, parse_int=_bounded_int(max_int_digits))
    except JsonLimitError:
        raise
    except RecursionError:
        raise JsonLimitError("nests arrays and objects too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int's own digit limit
        raise JsonLimitError(f"not valid JSON: {exc}") from None
