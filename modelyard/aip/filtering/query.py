"""Checked filters: the typed query objects the checker produces and the SQL compiler (and the tests'
reference evaluator) consume.

Semantics every consumer must implement (AIP-160 Profile A with modelyard's decisions):

* Evaluation is three-valued. A restriction whose :class:`FieldRef` passes through an unset singular
  message, or a missing map key, is UNKNOWN, and so is its negation. ``And``/``Or``/``Not`` follow
  Kleene logic; a resource matches only when the whole filter is TRUE.
* An unset scalar equals its zero value (``""``, ``0``, ``false``, the first enum value, the epoch for
  timestamps, zero duration). Unset repeated fields and maps are empty.
* Strings compare by Unicode code point. Enums compare by number, but only ``=``/``!=`` reach here.
* Timestamps are integers: nanoseconds since the Unix epoch, UTC. Durations: nanoseconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from modelyard.aip.paths import MapKey as MapKey  # re-exported: field references are made of these
from modelyard.aip.paths import Segment as Segment
from modelyard.aip.schema import EnumDecl, FieldDecl, Kind


@dataclass(frozen=True)
class FieldRef:
    """A resolved path from the root message: fields, and at most one map key as the last segment."""

    segments: tuple[Segment, ...]

    @property
    def leaf(self) -> Segment:
        return self.segments[-1]

    @property
    def path(self) -> str:
        """The snake_case dotted path, e.g. ``base_model_details.parameter_count``."""
        return ".".join(s.name if isinstance(s, FieldDecl) else s.key for s in self.segments)

    @property
    def fields(self) -> tuple[FieldDecl, ...]:
        return tuple(s for s in self.segments if isinstance(s, FieldDecl))

    @property
    def kind(self) -> Kind:
        """The kind of the value the path designates (for a map key: the map's value kind)."""
        leaf = self.segments[-1]
        if isinstance(leaf, MapKey):
            owner = self.segments[-2]
            assert isinstance(owner, FieldDecl) and owner.type.map_value is not None
            return owner.type.map_value.kind
        return leaf.kind

    @property
    def enum(self) -> EnumDecl | None:
        leaf = self.segments[-1]
        return leaf.type.enum if isinstance(leaf, FieldDecl) else None


class Op(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    def negated(self) -> Op:
        return _NEGATED[self]


_NEGATED = {
    Op.EQ: Op.NE,
    Op.NE: Op.EQ,
    Op.LT: Op.GE,
    Op.GE: Op.LT,
    Op.GT: Op.LE,
    Op.LE: Op.GT,
}


@dataclass(frozen=True)
class EnumValue:
    name: str
    number: int


@dataclass(frozen=True)
class Timestamp:
    nanos: int  # since the Unix epoch, UTC


@dataclass(frozen=True)
class Duration:
    nanos: int


Value = str | int | float | bool | EnumValue | Timestamp | Duration


@dataclass(frozen=True)
class Compare:
    """``field op value`` on a singular scalar field or a map value. ``value`` has the field's type:
    ``str`` for strings, ``int`` for integers, ``float`` for float/double (ints widened), ``bool``,
    :class:`EnumValue`, :class:`Timestamp`, :class:`Duration`."""

    field: FieldRef
    op: Op
    value: Value


class WildcardKind(enum.Enum):
    PREFIX = "prefix"  # "abc*"
    SUFFIX = "suffix"  # "*abc"
    CONTAINS = "contains"  # "*abc*"
    ANY = "any"  # "*": every value (including "")


@dataclass(frozen=True)
class Wildcard:
    """``field = "abc*"`` (or ``!=`` with ``negated``) on a string field: case-sensitive prefix, suffix or
    substring match. ``text`` is the value without its ``*``s; it may contain ``%``, ``_`` and ``\\``,
    which match themselves."""

    field: FieldRef
    kind: WildcardKind
    text: str
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    """``field:"text"`` on a singular string field: case-insensitive (``str.lower``) substring match."""

    field: FieldRef
    text: str


@dataclass(frozen=True)
class Presence:
    """``field:*``: the value is set and non-default. For messages: the message is set; for repeated
    fields and maps: non-empty; for a map key: the key is present. UNKNOWN when a message earlier on the
    path is unset."""

    field: FieldRef


@dataclass(frozen=True)
class HasElement:
    """``repeated:value`` or ``repeated.sub.path:value``: some element ``e`` of the repeated field
    ``field`` has ``e.sub.path == value`` (exact, case-sensitive for strings). ``subpath`` is empty for
    repeated scalars. FALSE for an empty list."""

    field: FieldRef
    subpath: tuple[FieldDecl, ...]
    value: Value


@dataclass(frozen=True)
class HasKey:
    """``map:key``: the map has the key."""

    field: FieldRef
    key: str


@dataclass(frozen=True)
class Search:
    """A bare literal (global search): a case-insensitive (``str.lower``) substring of any of the
    schema's searchable fields (for models: the model id, ``display_name``, ``description``)."""

    text: str


@dataclass(frozen=True)
class Not:
    operand: Query


@dataclass(frozen=True)
class And:
    operands: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Query, ...]


@dataclass(frozen=True)
class Call:
    """A declared boolean function, e.g. ``regex(name, "^a")``. Arguments are FieldRefs or values."""

    name: str
    args: tuple[FieldRef | Value, ...]


Query = Compare | Wildcard | Contains | Presence | HasElement | HasKey | Search | Not | And | Or | Call


@dataclass(frozen=True)
class CheckedFilter:
    """The result of checking a filter: ``query`` is None for an empty filter (no filtering)."""

    text: str
    query: Query | None
