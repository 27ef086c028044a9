"""Compile checked filters (:mod:`modelyard.aip.filtering.query`) to parameterised SQL.

Three-valued semantics without NULLs: the query is first put in negation normal form (NOT pushed down
to the restrictions). A restriction that is UNKNOWN (an unset message on its path, a missing map key)
stays UNKNOWN under negation, so in negation normal form it can be compiled as FALSE on both sides:
``NOT a.b = 1`` becomes ``has_a AND a__b <> 1``. AND/OR are monotone, so the WHERE clause selects
exactly the rows for which the filter is TRUE, and every restriction is a plain, indexable comparison.

Values are always bound parameters; field paths only ever map to declared columns.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from modelyard.aip.filtering import query as q
from modelyard.aip.schema import INT64_RANGE, FieldDecl, Kind
from modelyard.store.tables import PRESENCE_BY_PATH, SCALARS_BY_PATH, models

Condition = ColumnElement[bool]


def lower_text(text: str) -> str:
    """The case folding used by ``:`` on strings and by global search, on every database."""
    return text.lower()


class FilterCompiler:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.pg = dialect == "postgresql"

    # -- entry ---------------------------------------------------------------------------------------
    def compile(self, node: q.Query, negate: bool = False) -> Condition:
        if isinstance(node, q.Not):
            return self.compile(node.operand, not negate)
        if isinstance(node, q.And | q.Or):
            parts = [self.compile(op, negate) for op in node.operands]
            conj = isinstance(node, q.And) != negate
            return and_(*parts) if conj else or_(*parts)
        if isinstance(node, q.Compare):
            return self._compare(node, negate)
        if isinstance(node, q.Wildcard):
            return self._wildcard(node, negate)
        if isinstance(node, q.Contains):
            cond = self._contains(self._scalar(node.field), node.text)
            return self._guarded(node.field, not_(cond) if negate else cond)
        if isinstance(node, q.Presence):
            return self._presence(node.field, negate)
        if isinstance(node, q.HasKey):
            cond = self._map_has_key(node.field, node.key)
            return self._guarded(node.field, not_(cond) if negate else cond)
        if isinstance(node, q.HasElement):
            cond = self._has_element(node)
            return self._guarded(node.field, not_(cond) if negate else cond)
        if isinstance(node, q.Search):
            cond = self._search(node.text)
            return not_(cond) if negate else cond
        raise ValueError(f"cannot compile {type(node).__name__} to SQL")

    # -- helpers -------------------------------------------------------------------------------------
    def _guard(self, ref: q.FieldRef) -> list[Condition]:
        """``has_<message>`` for every message on the path before the designated value."""
        guards: list[Condition] = []
        fields = ref.fields
        for i, f in enumerate(fields):
            is_last = i == len(fields) - 1 and not isinstance(ref.leaf, q.MapKey)
            if f.kind is Kind.MESSAGE and not f.repeated and not is_last:
                key = tuple(x.name for x in fields[: i + 1])
                guards.append(models.c[PRESENCE_BY_PATH[key].column].is_(true()))
        return guards

    def _guarded(self, ref: q.FieldRef, cond: Condition) -> Condition:
        guards = self._guard(ref)
        return and_(*guards, cond) if guards else cond

    def _scalar(self, ref: q.FieldRef) -> ColumnElement[Any]:
        key = tuple(f.name for f in ref.fields)
        return models.c[SCALARS_BY_PATH[key].column]

    def _json_path(self, fields: tuple[FieldDecl, ...]) -> list[str]:
        return [f.json_name for f in fields]

    def _resource_jsonb(self) -> ColumnElement[Any]:
        return cast(models.c.resource, JSONB)

    def _sql_value(self, value: q.Value) -> Any:
        if isinstance(value, q.EnumValue):
            return value.number
        if isinstance(value, q.Timestamp | q.Duration):
            # Stored values lie strictly inside int64; clamping a constant to its bounds keeps every
            # comparison's answer and keeps the parameter bindable.
            return min(max(value.nanos, INT64_RANGE[0]), INT64_RANGE[1])
        return value

    # -- restrictions --------------------------------------------------------------------------------
    def _compare(self, node: q.Compare, negate: bool) -> Condition:
        op = node.op.negated() if negate else node.op
        if isinstance(node.field.leaf, q.MapKey):
            col = self._map_value(node.field)
            value: Any = node.value
        else:
            col = self._scalar(node.field)
            value = self._sql_value(node.value)
        param = bindparam(None, value, type_=col.type) if not isinstance(node.field.leaf, q.MapKey) else value
        cond = {
            q.Op.EQ: lambda: col == param,
            q.Op.NE: lambda: col != param,
            q.Op.LT: lambda: col < param,
            q.Op.LE: lambda: col <= param,
            q.Op.GT: lambda: col > param,
            q.Op.GE: lambda: col >= param,
        }[op]()
        return self._guarded(node.field, cond)

    def _wildcard(self, node: q.Wildcard, negate: bool) -> Condition:
        col = self._scalar(node.field)
        negated = node.negated != negate
        text = node.text
        kind = node.kind if text else q.WildcardKind.ANY
        if kind is q.WildcardKind.ANY:
            return false() if negated else self._guarded(node.field, true())
        if kind is q.WildcardKind.PREFIX:
            upper = _prefix_upper_bound(text)
            lo = bindparam(None, text, type_=col.type)
            cond: Condition = col >= lo
            if upper is not None:
                cond = and_(cond, col < bindparam(None, upper, type_=col.type))
        elif kind is q.WildcardKind.SUFFIX:
            cond = self._ends_with(col, text)
        else:
            cond = self._find(col, text)
        return self._guarded(node.field, not_(cond) if negated else cond)

    def _find(self, col: ColumnElement[Any], text: str) -> Condition:
        """Case-sensitive substring test; ``%``, ``_`` and ``\\`` match themselves."""
        if self.pg:
            return col.like("%" + _escape_like(text) + "%", escape="\\")
        return func.instr(col, literal(text, Text)) > 0

    def _ends_with(self, col: ColumnElement[Any], text: str) -> Condition:
        if self.pg:
            return col.like("%" + _escape_like(text), escape="\\")
        return func.substr(col, -len(text)) == literal(text, Text)

    def _lower(self, col: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.pg:
            return func.lower(col.collate("und-x-icu"))
        return func.modelyard_lower(col)

    def _contains(self, col: ColumnElement[Any], text: str) -> Condition:
        lowered = lower_text(text)
        if self.pg:
            return self._lower(col).like("%" + _escape_like(lowered) + "%", escape="\\")
        return func.instr(self._lower(col), literal(lowered, Text)) > 0

    def _search(self, text: str) -> Condition:
        return or_(*(self._contains(models.c[c], text) for c in ("model_id", "display_name", "description")))

    def _presence(self, ref: q.FieldRef, negate: bool) -> Condition:
        leaf = ref.leaf
        if isinstance(leaf, q.MapKey):
            cond = self._map_has_key(ref, leaf.key)
        elif leaf.kind is Kind.MESSAGE and not leaf.repeated:
            key = tuple(f.name for f in ref.fields)
            cond = models.c[PRESENCE_BY_PATH[key].column].is_(true())
        elif leaf.repeated or leaf.kind is Kind.MAP:
            # Canonical JSON omits empty lists and maps: present means non-empty.
            path = self._json_path(ref.fields)
            if self.pg:
                cond = self._resource_jsonb()[path].isnot(None)
            else:
                cond = func.json_type(models.c.resource, _sqlite_path(path)).isnot(None)
        else:
            col = self._scalar(ref)
            zero = leaf.type.zero
            cond = col != bindparam(None, zero, type_=col.type)
        return self._guarded(ref, not_(cond) if negate else cond)

    def _map_value(self, ref: q.FieldRef) -> ColumnElement[Any]:
        leaf = ref.leaf
        assert isinstance(leaf, q.MapKey)
        path = self._json_path(ref.fields)
        value_kind = ref.kind
        if self.pg:
            text_value = self._resource_jsonb()[path].op("->>")(literal(leaf.key, Text))
            if value_kind in (Kind.FLOAT, Kind.DOUBLE, Kind.INT32, Kind.INT64):
                return cast(text_value, Float)
            if value_kind is Kind.BOOL:
                return cast(text_value, Boolean)
            return text_value
        each = func.json_each(models.c.resource, _sqlite_path(path)).table_valued("key", "value")
        return select(each.c.value).where(each.c.key == literal(leaf.key, Text)).scalar_subquery()

    def _map_has_key(self, ref: q.FieldRef, key: str) -> Condition:
        path = self._json_path(ref.fields)
        if self.pg:
            return func.coalesce(func.jsonb_exists(self._resource_jsonb()[path], literal(key, Text)), false())
        each = func.json_each(models.c.resource, _sqlite_path(path)).table_valued("key", "value")
        return exists(select(literal(1)).select_from(each).where(each.c.key == literal(key, Text)))

    def _has_element(self, node: q.HasElement) -> Condition:
        path = self._json_path(node.field.fields)
        sub = [f.json_name for f in node.subpath]
        leaf_decl = node.subpath[-1] if node.subpath else node.field.fields[-1]
        value = node.value
        if isinstance(value, q.EnumValue):
            value = value.name
        zero = leaf_decl.type.json_zero
        if self.pg:
            elems = func.jsonb_array_elements(self._resource_jsonb()[path]).table_valued("value")
            elem: ColumnElement[Any] = elems.c.value
            # ``#>>`` takes a text[] path; the empty path extracts a scalar element as text.
            text_value = elem.op("#>>")(bindparam(None, sub, type_=ARRAY(Text)))
            found = func.coalesce(text_value, literal(_pg_text(zero), Text))
            target = literal(_pg_text(value), Text)
            return exists(select(literal(1)).select_from(elems).where(found == target))
        each = func.json_each(models.c.resource, _sqlite_path(path)).table_valued("value")
        ev: ColumnElement[Any] = each.c.value
        if sub:
            ev = func.json_extract(ev, _sqlite_path(sub))
        ev = func.coalesce(ev, literal(_sqlite_json_scalar(zero)))
        return exists(select(literal(1)).select_from(each).where(ev == literal(_sqlite_json_scalar(value))))


def _sqlite_path(path: list[str]) -> str:
    return "$." + ".".join(path)


def _pg_text(value: Any) -> str:
    """How ``->>`` renders a JSON scalar as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sqlite_json_scalar(value: Any) -> Any:
    """How SQLite's JSON functions return a JSON scalar (true/false as 1/0)."""
    if isinstance(value, bool):
        return int(value)
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (code point order)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            chars[-1] = chr(nxt)
            return "".join(chars)
        chars.pop()
    return None


@lru_cache(maxsize=1024)
def compile_query(node: q.Query, dialect: str) -> Condition:
    """The WHERE condition for a checked filter (cached: queries are immutable and hashable)."""
    return FilterCompiler(dialect).compile(node)


__all__ = ["FilterCompiler", "compile_query", "lower_text"]
