"""safetensors headers: the JSON header of a ``*.safetensors`` file (reading only its first ``8 + header
length`` bytes, never tensor data) and the parameter count its tensor shapes give. Used by the Hugging
Face importer; the model-files feature can reuse it to describe uploaded weights."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
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
        prefix = f.read(8)
        if len(prefix) < 8:
            raise SafetensorsHeaderError(f"{path.name}: file is shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", prefix)
        if length == 0 or length > MAX_SAFETENSORS_HEADER:
            raise SafetensorsHeaderError(
                f"{path.name}: implausible header length {length} (limit {MAX_SAFETENSORS_HEADER} bytes)"
            )
        raw = f.read(length)
    if len(raw) < length:
        raise SafetensorsHeaderError(f"{path.name}: header truncated ({len(raw)} of {length} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise SafetensorsHeaderError(f"{path.name}: header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise SafetensorsHeaderError(f"{path.name}: header is not a JSON object")
    return header


def _headerparameter_count_of(path: Path, header: dict[str, Any]) -> int:
    total = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsHeaderError(f"{path.name}: tensor {name!r} has no valid shape")
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
        total += _headerparameter_count_of(path, read_safetensors_header(path))
    return total
