"""safetensors headers: the JSON header of a ``*.safetensors`` file (reading only its first ``8 + header
length`` bytes, never tensor data) and the parameter count its tensor shapes give. Used by the Hugging
Face importer; the model-files feature can reuse it to describe uploaded weights."""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: Largest safetensors JSON header accepted (the format's own limit is 100 MB).
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


class SafetensorsHeaderError(ValueError):
    """A safetensors file whose header cannot be used to count parameters."""


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, reading only the first ``8 + header length`` bytes.

    Raises :class:`SafetensorsHeaderError` for short files, absurd header lengths (over 100 MB)
    and headers that are not a JSON object. Raises OSError when the file cannot be opened.
    """
    with path.open("rb") as f:
        return parse_safetensors_header(lambda offset, n: os.pread(f.fileno(), n, offset), path.name)[0]


def parse_safetensors_header(read: Callable[[int, int], bytes], name: str) -> tuple[dict[str, Any], int]:
    """The JSON header of a safetensors file and its length, through ``read(offset, length)``: a local
    file, or ranged reads of a stored one (``modelyard.files.validate``). Raises as above."""
    prefix = read(0, 8)
    if len(prefix) < 8:
        raise SafetensorsHeaderError(f"{name}: file is shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > MAX_SAFETENSORS_HEADER:
        raise SafetensorsHeaderError(
            f"{name}: implausible header length {length} (limit {MAX_SAFETENSORS_HEADER} bytes)"
        )
    raw = read(8, length)
    if len(raw) < length:
        raise SafetensorsHeaderError(f"{name}: header truncated ({len(raw)} of {length} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise SafetensorsHeaderError(f"{name}: header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise SafetensorsHeaderError(f"{name}: header is not a JSON object")
    return header, length


def header_parameter_count(name: str, header: dict[str, Any]) -> int:
    """The number of tensor elements a safetensors header declares (``name`` is for the messages)."""
    total = 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsHeaderError(f"{name}: tensor {tensor!r} has no valid shape")
        total += math.prod(shape)
    return total


def count_safetensors_parameters(files: Iterable[Path]) -> int:
    """The number of tensor elements in the given safetensors files (each header read once)."""
    total = 0
    seen: set[Path] = set()
    for path in files:
        if path in seen:
            continue
        seen.add(path)
        total += header_parameter_count(path.name, read_safetensors_header(path))
    return total
