"""``orderBy`` (AIP-132): parse a comma-separated list of ``field [asc|desc]`` against a declared schema."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from modelyard.aip.errors import AipError
from modelyard.aip.paths import walk
from modelyard.aip.schema import FieldDecl, Kind, MessageDecl

_SPEC = re.compile(r"\S+")


@dataclass(frozen=True)
class OrderField:
    path: tuple[FieldDecl, ...]
    desc: bool = False

    @property
    def name(self) -> str:
        return ".".join(f.name for f in self.path)

    def __str__(self) -> str:
        return self.name + (" desc" if self.desc else "")


@dataclass(frozen=True)
class OrderBy:
    fields: tuple[OrderField, ...]

    @property
    def canonical(self) -> str:
        """A normalised spelling (snake_case, explicit ``desc`` only): equal orderings give equal text."""
        return ",".join(str(f) for f in self.fields)

    def with_tiebreaker(self, tiebreaker: FieldDecl) -> OrderBy:
        """Append ``tiebreaker`` ascending unless it is already ordered on."""
        if any(len(f.path) == 1 and f.path[0].name == tiebreaker.name for f in self.fields):
            return self
        return OrderBy((*self.fields, OrderField((tiebreaker,), False)))


def _error(message: str, column: int | None = None) -> AipError:
    where = f" at column {column}" if column is not None else ""
    return AipError(message + where, parameter="orderBy", reason="INVALID_ORDER_BY", column=column)


@functools.lru_cache(maxsize=1024)
def parse_order_by(text: str, root: MessageDecl) -> OrderBy:
    """Parse ``text``; an empty or blank value means no explicit order (the caller's default applies).

    Paths are snake_case or lowerCamelCase, ``.`` for subfields; only singular scalar fields (strings,
    numbers, bools, enums, timestamps) can be ordered on. Directions ``asc``/``desc`` are
    case-insensitive. Unknown, non-scalar and repeated fields are errors.
    """
    if not text.strip():
        return OrderBy(())
    fields: list[OrderField] = []
    seen: dict[str, int] = {}
    offset = 0
    for part in text.split(","):
        column = offset + 1
        offset += len(part) + 1
        tokens = [(m.group(), column + m.start()) for m in _SPEC.finditer(part)]
        if not tokens:
            raise _error("empty field in the list", column)
        if len(tokens) > 2:
            raise _error(f"unexpected {tokens[2][0]!r} after {tokens[0][0]!r} {tokens[1][0]!r}", tokens[2][1])
        path_text, path_col = tokens[0]
        desc = False
        if len(tokens) == 2:
            direction, dir_col = tokens[1]
            if direction.lower() not in ("asc", "desc"):
                raise _error(f"expected 'asc' or 'desc' after {path_text!r}, got {direction!r}", dir_col)
            desc = direction.lower() == "desc"
        path = resolve_scalar_path(path_text, root, path_col)
        name = ".".join(f.name for f in path)
        if name in seen:
            raise _error(f"field {name!r} is listed twice", path_col)
        seen[name] = path_col
        fields.append(OrderField(path, desc))
    return OrderBy(tuple(fields))


def resolve_scalar_path(path_text: str, root: MessageDecl, column: int) -> tuple[FieldDecl, ...]:
    """The fields of ``path_text``, which must end with a singular scalar through singular messages."""
    path: list[FieldDecl] = []
    names = path_text.split(".")
    for step in walk(names, root):
        decl = step.segment
        if step.message is None:
            raise _error(f"{'.'.join(s.name for s in path)!r} has no subfields", column)
        if not isinstance(decl, FieldDecl):
            hint = step.message.suggest(step.name) if step.name else None
            suffix = f"; did you mean {'.'.join([*(f.name for f in path), hint])!r}?" if hint else ""
            raise _error(f"unknown field {path_text!r}{suffix}", column)
        path.append(decl)
        if decl.repeated or decl.kind is Kind.MAP:
            raise _error(f"cannot order by {decl.describe()} field {path_text!r}", column)
        if decl.kind is Kind.MESSAGE and step.index == len(names) - 1:
            raise _error(
                f"cannot order by message field {path_text!r}; order by one of its subfields", column
            )
    return tuple(path)
