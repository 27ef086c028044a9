"""Field masks (AIP-157 read masks, AIP-161 paths): parse against a declared schema and apply them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from modelyard.aip.errors import AipError
from modelyard.aip.paths import MapKey, Segment, walk
from modelyard.aip.schema import FieldDecl, Kind, MessageDecl


@dataclass(frozen=True)
class FieldMask:
    """``paths`` is None for "every field" (absent, empty or ``*``)."""

    paths: tuple[tuple[Segment, ...], ...] | None

    @property
    def is_all(self) -> bool:
        return self.paths is None


def _error(parameter: str, message: str, path: str | None = None, column: int | None = None) -> AipError:
    meta = {"path": path} if path is not None else None
    where = f" at column {column}" if column is not None else ""
    return AipError(
        message + where,
        parameter=parameter,
        reason="INVALID_" + _snake(parameter).upper(),
        column=column,
        metadata=meta,
    )


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _split_segments(path: str) -> list[str]:
    """Split on '.', keeping backtick-quoted map keys (```labels.`a.b` ```) whole."""
    out: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(path):
        c = path[i]
        if c == "`":
            if quoted and i + 1 < len(path) and path[i + 1] == "`":
                current += "`"
                i += 2
                continue
            quoted = not quoted
            current += c
        elif c == "." and not quoted:
            out.append(current)
            current = ""
        else:
            current += c
        i += 1
    out.append(current)
    return out


@functools.lru_cache(maxsize=1024)
def parse_field_mask(
    text: str, root: MessageDecl, *, parameter: str = "readMask", for_update: bool = False
) -> FieldMask:
    """Parse a comma-separated mask. Paths are snake_case or lowerCamelCase (no case folding), spaces
    around paths are trimmed, ``*`` must stand alone. Read masks may go through repeated messages
    (``deployedModelRefs.state``, or ``deployedModelRefs.*.state``) and into map keys; update masks may
    not go through repeated fields or maps."""
    if not text.strip():
        return FieldMask(None)
    parts = text.split(",")
    if len(parts) == 1 and parts[0].strip() == "*":
        return FieldMask(None)
    paths: list[tuple[Segment, ...]] = []
    offset = 0
    for raw in parts:
        column = offset + 1 + (len(raw) - len(raw.lstrip()))
        offset += len(raw) + 1
        path = raw.strip()
        if not path:
            raise _error(parameter, "empty path", column=column)
        if path == "*":
            raise _error(parameter, "'*' must be the only path", "*", column)
        paths.append(_resolve(path, root, parameter, column, for_update))
    return FieldMask(tuple(paths))


def _resolve(
    path: str, root: MessageDecl, parameter: str, column: int, for_update: bool
) -> tuple[Segment, ...]:
    out: list[Segment] = []
    segments = _split_segments(path)
    for step in walk(segments, root, skip_repeated_star=not for_update):
        i, segment = step.index, step.name
        if not segment:
            raise _error(parameter, f"empty segment in path {path!r}", path, column)
        found = step.segment
        if isinstance(found, MapKey):
            quoted = segment.startswith("`") and segment.endswith("`")
            out.append(MapKey(segment[1:-1].replace("``", "`")) if quoted else found)
            if i != len(segments) - 1:
                raise _error(parameter, f"path {path!r} goes past a map value", path, column)
            break
        if step.message is None:
            raise _error(parameter, f"{segments[i - 1]!r} has no subfields (in path {path!r})", path, column)
        previous = out[-1] if out else None
        repeated_before = isinstance(previous, FieldDecl) and previous.repeated
        if found is None:
            if segment.isdigit() and repeated_before:
                raise _error(parameter, f"indexing a repeated field is not allowed: {path!r}", path, column)
            hint = step.message.suggest(segment)
            suffix = f"; did you mean {hint!r}?" if hint else ""
            raise _error(parameter, f"unknown field {segment!r} in path {path!r}{suffix}", path, column)
        if for_update and repeated_before:
            raise _error(parameter, f"cannot update inside repeated field in {path!r}", path, column)
        out.append(found)
        if found.kind is Kind.MAP and for_update and i != len(segments) - 1:
            raise _error(parameter, f"cannot update a single map entry in {path!r}", path, column)
    return tuple(out)


def apply_read_mask(resource: dict[str, Any], mask: FieldMask) -> dict[str, Any]:
    """The resource with only the masked paths (canonical JSON in, canonical JSON out)."""
    if mask.paths is None:
        return resource
    out: dict[str, Any] = {}
    for path in mask.paths:
        _copy(resource, out, path)
    return out


def _key(segment: Segment) -> str:
    return segment.json_name if isinstance(segment, FieldDecl) else segment.key


def _copy(src: dict[str, Any], dst: dict[str, Any], path: tuple[Segment, ...]) -> None:
    key = _key(path[0])
    if key not in src:
        return
    value = src[key]
    if len(path) == 1:
        dst[key] = value
        return
    head = path[0]
    if isinstance(head, FieldDecl) and head.repeated:
        existing = dst.get(key)
        projected = existing if isinstance(existing, list) else [{} for _ in value]
        for element, target in zip(value, projected, strict=True):
            _copy(element, target, path[1:])
        dst[key] = projected
        return
    target = dst.setdefault(key, {})
    _copy(value, target, path[1:])
