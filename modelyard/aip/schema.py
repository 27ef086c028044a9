"""Declared schemas: the fields, types and enums that filters, orderings and field masks are checked against.

A schema is a tree of :class:`MessageDecl`. Every field has a proto (snake_case) name and a JSON
(lowerCamelCase) name; lookups accept both. The declarations carry no storage or framework details.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.Enum):
    STRING = "string"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT = "float"
    DOUBLE = "double"
    BOOL = "bool"
    ENUM = "enum"
    TIMESTAMP = "timestamp"
    DURATION = "duration"
    MESSAGE = "message"
    MAP = "map"

    @property
    def is_integer(self) -> bool:
        return self in (Kind.INT32, Kind.INT64)

    @property
    def is_number(self) -> bool:
        return self in (Kind.INT32, Kind.INT64, Kind.FLOAT, Kind.DOUBLE)

    @property
    def is_scalar(self) -> bool:
        return self not in (Kind.MESSAGE, Kind.MAP)


#: The proto3 integer ranges (the only copy: the codec, the filter parser and checker, the store and the
#: importers all use these).
INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class EnumDecl:
    """An enum; ``values`` in declaration order, numbered from 0 unless ``numbers`` says otherwise (as for
    google.rpc.Code, where UNAUTHENTICATED, declared ninth, is 16). The value numbered 0 is the default."""

    name: str
    values: tuple[str, ...]
    numbers: tuple[int, ...] | None = None

    @property
    def names(self) -> frozenset[str]:
        return _enum_names(self.values)

    @property
    def default(self) -> str:
        """The proto3 default: the value numbered 0 (the first declared when none is)."""
        return self.name_of(0) or self.values[0]

    def number(self, value_name: str) -> int | None:
        try:
            index = self.values.index(value_name)
        except ValueError:
            return None
        return self.numbers[index] if self.numbers is not None else index

    def name_of(self, number: int) -> str | None:
        """The value with this number, or None."""
        if self.numbers is not None:
            return self.values[self.numbers.index(number)] if number in self.numbers else None
        return self.values[number] if 0 <= number < len(self.values) else None


@functools.cache
def _enum_names(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(values)


@dataclass(frozen=True)
class TypeDecl:
    """The type of a field's value (of each element, for repeated fields).

    It carries the type's proto3 zero value in the two forms modelyard uses (the only copy of these rules):

    * ``zero``: the value filters and the store compare with: ``""``, ``False``, ``0``, ``0.0``, the enum
      number 0, 0 nanoseconds for timestamps and durations; None for messages and maps;
    * ``json_zero``: the canonical proto3 JSON default, omitted on output: ``""``, ``False``, ``0``,
      ``"0"`` for int64, ``0.0``, the name of the enum value numbered 0, None for timestamps, durations
      and messages (unset), ``{}`` for maps (do not mutate it).
    """

    kind: Kind
    enum: EnumDecl | None = None
    message: MessageDecl | None = None
    map_value: TypeDecl | None = None  # maps always have string keys here
    zero: Any = field(init=False, compare=False, repr=False)
    json_zero: Any = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        zero, json_zero = _ZEROS[self.kind]
        if self.kind is Kind.ENUM and self.enum is not None:
            json_zero = self.enum.default
        object.__setattr__(self, "zero", zero)
        object.__setattr__(self, "json_zero", json_zero)

    def describe(self) -> str:
        if self.kind is Kind.ENUM and self.enum is not None:
            return f"enum {self.enum.name}"
        if self.kind is Kind.MESSAGE and self.message is not None:
            return f"message {self.message.name}"
        if self.kind is Kind.MAP and self.map_value is not None:
            return f"map<string, {self.map_value.describe()}>"
        return self.kind.value


#: kind -> (zero, json_zero); an enum's json_zero is its value numbered 0 (set per declaration).
_ZEROS: dict[Kind, tuple[Any, Any]] = {
    Kind.STRING: ("", ""),
    Kind.BOOL: (False, False),
    Kind.INT32: (0, 0),
    Kind.INT64: (0, "0"),
    Kind.FLOAT: (0.0, 0.0),
    Kind.DOUBLE: (0.0, 0.0),
    Kind.ENUM: (0, ""),
    Kind.TIMESTAMP: (0, None),
    Kind.DURATION: (0, None),
    Kind.MESSAGE: (None, None),
    Kind.MAP: (None, {}),
}


@dataclass(frozen=True)
class FieldDecl:
    name: str  # proto name, snake_case
    type: TypeDecl
    repeated: bool = False
    output_only: bool = False
    json_name: str = ""

    def __post_init__(self) -> None:
        if not self.json_name:
            object.__setattr__(self, "json_name", snake_to_camel(self.name))

    @property
    def kind(self) -> Kind:
        return self.type.kind

    def describe(self) -> str:
        return ("repeated " if self.repeated else "") + self.type.describe()


@dataclass(frozen=True)
class FunctionDecl:
    """A filter function, e.g. ``timestamp(string) -> timestamp``."""

    name: str
    args: tuple[Kind, ...]
    result: Kind


@dataclass(frozen=True, eq=False)  # identity: declarations are singletons, and hashing stays O(1)
class MessageDecl:
    name: str
    fields: tuple[FieldDecl, ...]
    _by_name: dict[str, FieldDecl] = field(default_factory=dict, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        by_name: dict[str, FieldDecl] = {}
        for f in self.fields:
            by_name[f.name] = f
            by_name.setdefault(f.json_name, f)
        object.__setattr__(self, "_by_name", by_name)

    def field(self, name: str) -> FieldDecl | None:
        """The field called ``name`` in snake_case or lowerCamelCase, or None."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def suggest(self, name: str) -> str | None:
        """The declared snake_case name nearest to ``name`` (for "did you mean"), or None."""
        return suggest(name, self.names(), aliases={f.json_name: f.name for f in self.fields})


@dataclass(frozen=True, eq=False)
class Schema:
    """What a filter is checked against: the resource message, functions, and whether bare literals
    mean global search."""

    root: MessageDecl
    functions: tuple[FunctionDecl, ...] = ()
    global_search: bool = False

    def function(self, name: str) -> FunctionDecl | None:
        for fn in self.functions:
            if fn.name == name:
                return fn
        return None


_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def snake_to_camel(name: str) -> str:
    return _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), name)


def suggest(name: str, candidates: Sequence[str], aliases: dict[str, str] | None = None) -> str | None:
    """The candidate closest to ``name``; ``aliases`` maps other spellings to candidates."""
    pool = list(candidates) + list((aliases or {}).keys())
    lowered = {c.lower(): c for c in pool}
    hit = lowered.get(name.lower()) or lowered.get(name.lower().replace("_", ""))
    if hit is None:
        matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        if not matches:
            matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
            matches = [lowered[m] for m in matches]
        hit = matches[0] if matches else None
    if hit is None:
        return None
    return (aliases or {}).get(hit, hit)


T_STRING = TypeDecl(Kind.STRING)
T_INT32 = TypeDecl(Kind.INT32)
T_INT64 = TypeDecl(Kind.INT64)
T_FLOAT = TypeDecl(Kind.FLOAT)
T_DOUBLE = TypeDecl(Kind.DOUBLE)
T_BOOL = TypeDecl(Kind.BOOL)
T_TIMESTAMP = TypeDecl(Kind.TIMESTAMP)
T_DURATION = TypeDecl(Kind.DURATION)

TIMESTAMP_FUNCTION = FunctionDecl("timestamp", (Kind.STRING,), Kind.TIMESTAMP)
DURATION_FUNCTION = FunctionDecl("duration", (Kind.STRING,), Kind.DURATION)
