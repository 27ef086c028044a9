"""The file list of ``:getUploadEndpoint`` (``filenameToSize``): names and sizes, checked.

Names are relative paths of ``[A-Za-z0-9._-]`` segments joined by ``/``: no empty, ``.`` or ``..``
segment, no leading ``/``, at most 1,024 bytes; at most 10,000 files. Sizes are int64 in proto3 JSON (a
decimal string, or a JSON integer) and not negative.
"""

from __future__ import annotations

import re
from typing import Any

from modelyard.files.errors import FileError

MAX_FILES = 10_000
MAX_NAME_BYTES = 1024
INT64_MAX = 2**63 - 1
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_DECIMAL = re.compile(r"-?[0-9]+")
FIELD = "filenameToSize"


def _bad(name: str, problem: str, reason: str) -> FileError:
    shown = name if len(name) <= 200 else name[:200] + "..."
    return FileError(
        "INVALID_ARGUMENT",
        f"{FIELD}[{shown!r}]: {problem}",
        reason=reason,
        field=f"{FIELD}[{shown}]",
        metadata={"file": shown},
    )


def check_file_name(name: str) -> None:
    if not name:
        raise _bad(name, "a file name is empty", "INVALID_FILE_NAME")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise _bad(name, f"the file name is longer than {MAX_NAME_BYTES} bytes", "INVALID_FILE_NAME")
    if name.startswith("/"):
        raise _bad(name, "file names are relative paths; remove the leading '/'", "INVALID_FILE_NAME")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise _bad(
                name,
                f"the path segment {segment!r} is not allowed (no empty, '.' or '..' segments)",
                "INVALID_FILE_NAME",
            )
        if not _SEGMENT.fullmatch(segment):
            bad = next(c for c in segment if not _SEGMENT.fullmatch(c))
            raise _bad(
                name,
                f"the character {bad!r} is not allowed; use A-Z a-z 0-9 . _ - and / between segments",
                "INVALID_FILE_NAME",
            )


def parse_size(name: str, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise _bad(name, f"the size must be an int64 decimal string, got {raw!r}", "INVALID_FILE_SIZE")
    if isinstance(raw, str):
        if not _DECIMAL.fullmatch(raw):
            raise _bad(name, f"the size {raw!r} is not an int64 decimal string", "INVALID_FILE_SIZE")
        size = int(raw)
    else:
        size = raw
    if size < 0:
        raise _bad(name, f"the size {size} is negative", "INVALID_FILE_SIZE")
    if size > INT64_MAX:
        raise _bad(name, f"the size {size} does not fit in int64", "INVALID_FILE_SIZE")
    return size


def parse_file_sizes(raw: Any) -> dict[str, int]:
    """``filenameToSize`` as {name: size}; FileError (INVALID_ARGUMENT) naming the first bad entry."""
    if raw is None:
        raise FileError("INVALID_ARGUMENT", f"{FIELD} is required", reason="MISSING_FILE_LIST", field=FIELD)
    if not isinstance(raw, dict):
        raise FileError(
            "INVALID_ARGUMENT",
            f"{FIELD} must be a JSON object mapping file names to sizes",
            reason="INVALID_FILE_LIST",
            field=FIELD,
        )
    if not raw:
        raise FileError(
            "INVALID_ARGUMENT",
            f"{FIELD} is empty; declare at least one file",
            reason="EMPTY_FILE_LIST",
            field=FIELD,
        )
    if len(raw) > MAX_FILES:
        raise FileError(
            "INVALID_ARGUMENT",
            f"{FIELD} declares {len(raw)} files; at most {MAX_FILES} are allowed",
            reason="TOO_MANY_FILES",
            field=FIELD,
            metadata={"limit": str(MAX_FILES)},
        )
    sizes: dict[str, int] = {}
    for name, value in raw.items():
        check_file_name(name)
        sizes[name] = parse_size(name, value)
    return sizes
