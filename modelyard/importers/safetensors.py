"""safetensors headers: the JSON header of a ``*.safetensors`` file (reading only its first ``8 + header
length`` bytes, never tensor data) and the parameter count its tensor shapes give. Used by the Hugging
Face importer, and by ``:validateUpload`` (:func:`check_header`, the checks of the reference loader).

Headers are parsed within the bounds of :mod:`modelyard.importers.jsonlimits`; shapes and offsets are
integers below 2**63 (the reference loader's ``usize``), checked before any product is taken, so a shape
of 4,299-digit integers is a refusal, not seconds of big-integer arithmetic.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from modelyard.importers import jsonlimits

#: Largest safetensors JSON header accepted (the format's own limit is 100 MB).
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: Every shape dimension, element count, byte count and offset is below this (int64, as the API's
#: ``parameterCount``).
LIMIT = 2**63
#: Bytes per element of each dtype the format defines.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


class SafetensorsHeaderError(ValueError):
    """A safetensors file whose header cannot be used to count parameters."""


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, reading only the first ``8 + header length`` bytes.

    Raises :class:`SafetensorsHeaderError` for short files, absurd header lengths (over 100 MB)
    and headers that are not a JSON object. Raises OSError when the file cannot be opened.
    """
    with path.open("rb") as f:
        return parse_safetensors_header(lambda offset, n: os.pread(f.fileno(), n, offset), path.name)[0]


def read_header_bytes(
    read: Callable[[int, int], bytes], name: str, limit: int = MAX_SAFETENSORS_HEADER
) -> bytes:
    """The raw JSON header of a safetensors file through ``read(offset, length)`` (a local file, or
    ranged reads of a stored one): its 8-byte length, then at most ``limit`` bytes. Raises
    :class:`SafetensorsHeaderError` for a short file, a length of 0 or over ``limit``, a short read."""
    prefix = read(0, 8)
    if len(prefix) < 8:
        raise SafetensorsHeaderError(f"{name}: file is shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > limit:
        raise SafetensorsHeaderError(f"{name}: implausible header length {length} (limit {limit} bytes)")
    raw = read(8, length)
    if len(raw) < length:
        raise SafetensorsHeaderError(f"{name}: header truncated ({len(raw)} of {length} bytes)")
    return raw


def decode_header(raw: bytes, name: str) -> dict[str, Any]:
    """A raw header parsed (within :mod:`~modelyard.importers.jsonlimits`' bounds) as a JSON object."""
    try:
        header = jsonlimits.loads(raw)
    except ValueError as exc:
        raise SafetensorsHeaderError(f"{name}: header {_not_valid(str(exc))}") from None
    if not isinstance(header, dict):
        raise SafetensorsHeaderError(f"{name}: header is not a JSON object")
    return header


def _not_valid(message: str) -> str:
    return "is " + message if message.startswith("not ") else message


def parse_safetensors_header(read: Callable[[int, int], bytes], name: str) -> tuple[dict[str, Any], int]:
    """The JSON header of a safetensors file and its length, through ``read(offset, length)``. Raises as
    :func:`read_header_bytes` and :func:`decode_header`."""
    raw = read_header_bytes(read, name)
    return decode_header(raw, name), len(raw)


def _elements(name: str, tensor: str, shape: Any) -> int:
    """The element count of a shape (a list of integers in 0..2**63-1 whose product is below 2**63)."""
    if type(shape) is list:
        count = 1
        for dimension in shape:  # type(...) is int: no bool, no subclass (and fast: 100,000s of tensors)
            if type(dimension) is not int or not 0 <= dimension < LIMIT:
                break
            count *= dimension
            if count >= LIMIT:
                raise SafetensorsHeaderError(f"{name}: tensor {tensor[:200]!r} has more than 2**63 elements")
        else:
            return count
    raise SafetensorsHeaderError(
        f"{name}: tensor {tensor[:200]!r} has no valid shape (a list of integers 0..2**63-1)"
    )


def check_header(raw: bytes, file_size: int, name: str) -> int:
    """Check a raw safetensors header against the file it heads (``file_size`` bytes), as the reference
    loader does; returns the number of tensor elements. Raises :class:`SafetensorsHeaderError` naming the
    problem: ``__metadata__`` that is not a map of strings to strings, a tensor without a known dtype, a
    valid shape or valid ``data_offsets``, a byte span that does not match its dtype and shape, tensors
    that overlap or leave a gap, or tensor data that ends before or after the file does.

    CPU and memory are linear in ``len(raw)``; :mod:`modelyard.files.validate` runs it in a child
    process (:mod:`modelyard.files.sandbox`)."""
    header = decode_header(raw, name)
    metadata = header.get("__metadata__")
    if "__metadata__" in header and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        raise SafetensorsHeaderError(f"{name}: __metadata__ is not a map of strings to strings")
    spans: list[tuple[int, int, str]] = []
    total = 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        if type(info) is not dict:
            raise SafetensorsHeaderError(f"{name}: tensor {tensor[:200]!r} is not a JSON object")
        count = _elements(name, tensor, info.get("shape"))
        dtype = info.get("dtype")
        width = DTYPE_BYTES.get(dtype) if type(dtype) is str else None
        if width is None:
            shown = repr(info.get("dtype"))[:40]
            raise SafetensorsHeaderError(f"{name}: tensor {tensor[:200]!r} has unknown dtype {shown}")
        offsets = info.get("data_offsets")
        if type(offsets) is not list or len(offsets) != 2:
            raise SafetensorsHeaderError(f"{name}: tensor {tensor[:200]!r} has no valid data_offsets")
        start, stop = offsets
        if type(start) is not int or type(stop) is not int or not 0 <= start <= stop < LIMIT:
            raise SafetensorsHeaderError(f"{name}: tensor {tensor[:200]!r} has no valid data_offsets")
        if stop - start != width * count:
            raise SafetensorsHeaderError(
                f"{name}: tensor {tensor[:200]!r} spans {stop - start} bytes but its dtype and shape need "
                f"{width * count}"
            )
        spans.append((start, stop, tensor))
        total += count
    spans.sort()
    end = 0
    previous = ""
    for start, stop, tensor in spans:
        if start < end:
            raise SafetensorsHeaderError(
                f"{name}: tensor {tensor[:200]!r} (bytes {start}-{stop}) overlaps tensor {previous[:200]!r}"
            )
        if start > end:
            raise SafetensorsHeaderError(
                f"{name}: bytes {end}-{start} of the tensor data belong to no tensor (before "
                f"{tensor[:200]!r})"
            )
        end, previous = stop, tensor
    data_length = file_size - 8 - len(raw)
    if end != data_length:
        raise SafetensorsHeaderError(
            f"{name}: the header describes {end} bytes of tensor data but the file holds {data_length} "
            "(truncated or padded)"
        )
    return total


def header_parameter_count(name: str, header: dict[str, Any]) -> int:
    """The number of tensor elements a safetensors header declares (``name`` is for the messages)."""
    total = 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        total += _elements(name, tensor, info.get("shape") if isinstance(info, dict) else None)
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
