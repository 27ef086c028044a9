"""The reference evaluator: a checked filter (:mod:`modelyard.aip.filtering.query`) applied to one
resource in canonical proto3 JSON, in memory.

It is written from the specification alone (AIP-160 Profile A plus modelyard's decisions) and serves as
the oracle that the SQL compiler is tested against; it also filters the small collections List serves
from memory (an account's users and API keys, ``aip/inmemory.py``), so they follow exactly the same
rules. It knows nothing about databases or web frameworks.

The resource is the canonical JSON form: lowerCamelCase keys, defaults omitted, enums as names, int64 as
decimal strings, timestamps as RFC 3339 strings, durations as ``"1.5s"`` strings.

Evaluation is three-valued (Kleene logic):

* a restriction whose path goes through an unset singular message, or names a missing map key, is
  UNKNOWN, and so is its negation (``NOT a.b = 1`` does not match when ``a`` is unset);
* ``AND`` is FALSE if any operand is FALSE, else UNKNOWN if any is UNKNOWN, else TRUE; ``OR`` is the dual;
* a resource matches only when the whole filter is TRUE.

Unset scalars equal their zero value (``""``, ``0``, ``false``, the first enum value, the epoch); unset
repeated fields and maps are empty.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from modelyard.aip.filtering.query import (
    And,
    Call,
    Compare,
    Contains,
    Duration,
    EnumValue,
    FieldRef,
    HasElement,
    HasKey,
    MapKey,
    Not,
    Op,
    Or,
    Presence,
    Query,
    Search,
    Timestamp,
    Value,
    Wildcard,
    WildcardKind,
)
from modelyard.aip.schema import FieldDecl, Kind, TypeDecl
from modelyard.aip.timestamps import parse_rfc3339

__all__ = ["Truth", "evaluate", "evaluate3", "model_search_fields"]

SearchFields = Callable[[dict[str, Any]], Iterable[str]]


class Truth(enum.Enum):
    """A Kleene truth value."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: bool) -> Truth:
        return Truth.TRUE if value else Truth.FALSE

    def negate(self) -> Truth:
        if self is Truth.TRUE:
            return Truth.FALSE
        if self is Truth.FALSE:
            return Truth.TRUE
        return Truth.UNKNOWN


def evaluate(query: Query | None, resource: dict[str, Any], *, search_fields: SearchFields) -> bool:
    """Whether ``resource`` matches ``query`` (None, the empty filter, matches everything).

    Only TRUE matches: FALSE and UNKNOWN do not."""
    if query is None:
        return True
    return evaluate3(query, resource, search_fields=search_fields) is Truth.TRUE


def evaluate3(query: Query, resource: dict[str, Any], *, search_fields: SearchFields) -> Truth:
    """The three-valued result of ``query`` on ``resource``."""
    return _Evaluator(resource, search_fields).eval(query)


def model_search_fields(resource: dict[str, Any]) -> Iterator[str]:
    """What global search looks in for a Model: the model id (the last segment of ``name``),
    ``displayName`` and ``description``."""
    name = resource.get("name", "")
    yield name.rsplit("/", 1)[-1] if isinstance(name, str) else ""
    yield str(resource.get("displayName", ""))
    yield str(resource.get("description", ""))


# -- paths -------------------------------------------------------------------------------------------------


class _Missing:
    """The path passed through an unset singular message or names a missing map key: UNKNOWN."""


_MISSING = _Missing()


def _resolve(root: Mapping[str, Any], ref: FieldRef) -> Any:
    """The raw JSON value ``ref`` designates: ``None`` when the leaf field is absent (its default), or
    ``_MISSING`` when an earlier singular message is unset or a map key is absent."""
    current: Any = root
    segments = ref.segments
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if isinstance(segment, MapKey):
            # current is the map (None when the map is unset, i.e. empty).
            if not isinstance(current, Mapping) or segment.key not in current:
                return _MISSING
            current = current[segment.key]
            continue
        if not isinstance(current, Mapping):
            raise TypeError(f"cannot select {segment.name!r} from {type(current).__name__}")
        value = current.get(segment.json_name)
        if last:
            return value
        if segment.repeated:
            raise TypeError(f"path {ref.path!r} traverses the repeated field {segment.name!r}")
        if segment.kind is Kind.MESSAGE:
            if value is None:
                return _MISSING
            current = value
        elif segment.kind is Kind.MAP:
            current = value if value is not None else {}
        else:
            raise TypeError(f"path {ref.path!r} traverses the scalar field {segment.name!r}")
    return current


def _leaf_type(ref: FieldRef) -> TypeDecl:
    leaf = ref.leaf
    if isinstance(leaf, MapKey):
        owner = ref.segments[-2]
        assert isinstance(owner, FieldDecl) and owner.type.map_value is not None
        return owner.type.map_value
    return leaf.type


# -- values ------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(-)?(\d+)(?:\.(\d{1,9}))?s$")


def _duration_nanos(text: str) -> int:
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"not a proto3 JSON duration: {text!r}")
    nanos = int(m.group(2)) * 1_000_000_000 + int((m.group(3) or "").ljust(9, "0") or "0")
    return -nanos if m.group(1) else nanos


def _number(raw: Any) -> int:
    if isinstance(raw, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(Decimal(raw))
        except InvalidOperation:
            pass
    raise TypeError(f"expected an integer, got {raw!r}")


def _comparable(t: TypeDecl, raw: Any) -> Any:
    """A JSON value (``None`` = default) as a Python value that compares like the field's type:
    strings by code point, numbers numerically, enums by number, timestamps and durations as nanos."""
    kind = t.kind
    if raw is None and t.zero is not None:
        return t.zero  # the proto3 zero value, declared on the type
    if kind is Kind.STRING:
        return str(raw)
    if kind is Kind.BOOL:
        return bool(raw)
    if kind in (Kind.INT32, Kind.INT64):
        return _number(raw)
    if kind in (Kind.FLOAT, Kind.DOUBLE):
        return float(raw)  # also "NaN"/"Infinity" strings
    if kind is Kind.ENUM:
        assert t.enum is not None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        number = t.enum.number(str(raw))
        if number is None:
            raise ValueError(f"{raw!r} is not a value of {t.enum.name}")
        return number
    if kind is Kind.TIMESTAMP:
        nanos = parse_rfc3339(str(raw))
        if nanos is None:
            raise ValueError(f"not an RFC 3339 timestamp: {raw!r}")
        return nanos
    if kind is Kind.DURATION:
        return _duration_nanos(str(raw))
    raise TypeError(f"a {kind.value} value cannot be compared")


def _literal(t: TypeDecl, value: Value) -> Any:
    """A checked literal as a Python value comparable with :func:`_comparable` of the same type."""
    if isinstance(value, EnumValue):
        if t.enum is not None:
            number = t.enum.number(value.name)
            if number is not None:
                return number
        return value.number
    if isinstance(value, Timestamp | Duration):
        return value.nanos
    if t.kind in (Kind.FLOAT, Kind.DOUBLE) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _is_zero(t: TypeDecl, raw: Any) -> bool:
    """Whether a (present) scalar JSON value is its type's default."""
    if raw is None:
        return True
    if t.kind in (Kind.TIMESTAMP, Kind.DURATION):
        return False  # well-known messages: set means present
    return bool(_comparable(t, raw) == t.zero)


def _apply(op: Op, left: Any, right: Any) -> bool:
    if op is Op.EQ:
        return bool(left == right)
    if op is Op.NE:
        return bool(left != right)
    if op is Op.LT:
        return bool(left < right)
    if op is Op.LE:
        return bool(left <= right)
    if op is Op.GT:
        return bool(left > right)
    return bool(left >= right)


# -- the evaluator -----------------------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, resource: dict[str, Any], search_fields: SearchFields) -> None:
        self.resource = resource
        self.search_fields = search_fields
        self._search_text: list[str] | None = None

    def eval(self, q: Query) -> Truth:
        if isinstance(q, And):
            return self._and(q.operands)
        if isinstance(q, Or):
            return self._or(q.operands)
        if isinstance(q, Not):
            return self.eval(q.operand).negate()
        if isinstance(q, Compare):
            return self._compare(q)
        if isinstance(q, Wildcard):
            return self._wildcard(q)
        if isinstance(q, Contains):
            return self._contains(q)
        if isinstance(q, Presence):
            return self._presence(q)
        if isinstance(q, HasElement):
            return self._has_element(q)
        if isinstance(q, HasKey):
            return self._has_key(q)
        if isinstance(q, Search):
            return self._search(q)
        if isinstance(q, Call):
            raise NotImplementedError(f"the reference evaluator has no function {q.name!r}")
        raise TypeError(f"not a query: {q!r}")

    def _and(self, operands: Sequence[Query]) -> Truth:
        result = Truth.TRUE
        for operand in operands:
            t = self.eval(operand)
            if t is Truth.FALSE:
                return Truth.FALSE
            if t is Truth.UNKNOWN:
                result = Truth.UNKNOWN
        return result

    def _or(self, operands: Sequence[Query]) -> Truth:
        result = Truth.FALSE
        for operand in operands:
            t = self.eval(operand)
            if t is Truth.TRUE:
                return Truth.TRUE
            if t is Truth.UNKNOWN:
                result = Truth.UNKNOWN
        return result

    def _compare(self, q: Compare) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            return Truth.UNKNOWN
        t = _leaf_type(q.field)
        return Truth.of(_apply(q.op, _comparable(t, raw), _literal(t, q.value)))

    def _wildcard(self, q: Wildcard) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            return Truth.UNKNOWN
        value = "" if raw is None else str(raw)
        if q.kind is WildcardKind.PREFIX:
            hit = value.startswith(q.text)
        elif q.kind is WildcardKind.SUFFIX:
            hit = value.endswith(q.text)
        elif q.kind is WildcardKind.CONTAINS:
            hit = q.text in value
        else:
            hit = True
        return Truth.of(hit != q.negated)

    def _contains(self, q: Contains) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            return Truth.UNKNOWN
        value = "" if raw is None else str(raw)
        return Truth.of(q.text.lower() in value.lower())

    def _presence(self, q: Presence) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            # An unset message before the leaf: UNKNOWN. A missing map key is simply absent.
            if isinstance(q.field.leaf, MapKey) and self._map_reachable(q.field):
                return Truth.FALSE
            return Truth.UNKNOWN
        leaf = q.field.leaf
        if isinstance(leaf, MapKey):
            return Truth.TRUE
        if leaf.repeated or leaf.kind is Kind.MAP:
            return Truth.of(bool(raw))
        if leaf.kind is Kind.MESSAGE:
            return Truth.of(raw is not None)
        return Truth.of(not _is_zero(leaf.type, raw))

    def _map_reachable(self, ref: FieldRef) -> bool:
        """Whether the map owning ``ref``'s key is reachable (no unset message before it)."""
        return _resolve(self.resource, FieldRef(ref.segments[:-1])) is not _MISSING

    def _has_element(self, q: HasElement) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            return Truth.UNKNOWN
        elements = raw if isinstance(raw, list) else []
        leaf = q.field.leaf
        assert isinstance(leaf, FieldDecl)
        t = q.subpath[-1].type if q.subpath else leaf.type
        wanted = _literal(t, q.value)
        for element in elements:
            value: Any = element
            reachable = True
            for i, sub in enumerate(q.subpath):
                if not isinstance(value, Mapping):
                    reachable = False
                    break
                value = value.get(sub.json_name)
                if i < len(q.subpath) - 1 and value is None:
                    reachable = False  # an unset message inside the element
                    break
            if reachable and _comparable(t, value) == wanted:
                return Truth.TRUE
        return Truth.FALSE

    def _has_key(self, q: HasKey) -> Truth:
        raw = _resolve(self.resource, q.field)
        if raw is _MISSING:
            return Truth.UNKNOWN
        return Truth.of(isinstance(raw, Mapping) and q.key in raw)

    def _search(self, q: Search) -> Truth:
        if self._search_text is None:
            self._search_text = [s.lower() for s in self.search_fields(self.resource)]
        needle = q.text.lower()
        return Truth.of(any(needle in haystack for haystack in self._search_text))
