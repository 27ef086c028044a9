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
    ColumnElement,
    and_,
    bindparam,
    false,
    not_,
    or_,
    true,
)

from modelyard.aip.filtering import query as q
from modelyard.aip.schema import INT64_RANGE, FieldDecl, Kind
from modelyard.store.filter_dialects import Condition, filter_dialect
from modelyard.store.tables import PRESENCE_BY_PATH, SCALARS_BY_PATH, SEARCH_COLUMNS, models


class FilterCompiler:
    def __init__(self, dialect: str) -> None:
        self.dialect = filter_dialect(dialect)

    # -- entry ---------------------------------------------------------------------------------------
    def compile(self, node: q.Query, negate: bool = False) -> Condition:
        if isinstance(node, q.Not):
            return self.compile(node.operand, not negate)
        if isinstance(node, q.And | q.Or):
            conj = isinstance(node, q.And) != negate
            words = [op.text for op in node.operands if isinstance(op, q.Search)]
            if conj and not negate and len(words) > 1:
                # Search words ANDed go to the dialect together (one lookup of a search index).
                rest = [self.compile(op) for op in node.operands if not isinstance(op, q.Search)]
                return and_(self.dialect.search_all(SEARCH_COLUMNS, words), *rest)
            parts = [self.compile(op, negate) for op in node.operands]
            return and_(*parts) if conj else or_(*parts)
        if isinstance(node, q.Compare):
            return self._compare(node, negate)
        if isinstance(node, q.Wildcard):
            return self._wildcard(node, negate)
        if isinstance(node, q.Contains):
            cond = self.dialect.contains(self._scalar(node.field), node.text)
            return self._guarded(node.field, not_(cond) if negate else cond)
        if isinstance(node, q.Presence):
            return self._presence(node.field, negate)
        if isinstance(node, q.HasKey):
            cond = self._map_has_key(node.field, node.key)
            return self._guarded(node.field, self._json_negated(cond) if negate else cond)
        if isinstance(node, q.HasElement):
            cond = self._has_element(node)
            return self._guarded(node.field, self._json_negated(cond) if negate else cond)
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

    def _json_negated(self, cond: Condition) -> Condition:
        """The negation of a restriction read from the stored JSON (never true of a row whose JSON the
        dialect cannot read: ``FilterDialect.json_clean``)."""
        return and_(self.dialect.json_clean(), not_(cond))

    def _json_path(self, fields: tuple[FieldDecl, ...]) -> list[str]:
        return [f.json_name for f in fields]

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
            cond = self.dialect.ends_with(col, text)
        else:
            cond = self.dialect.find(col, text)
        return self._guarded(node.field, not_(cond) if negated else cond)

    def _search(self, text: str) -> Condition:
        return self.dialect.search(SEARCH_COLUMNS, text)

    def _presence(self, ref: q.FieldRef, negate: bool) -> Condition:
        leaf = ref.leaf
        from_json = True  # a map key, or a list or map, read from the stored JSON
        if isinstance(leaf, q.MapKey):
            cond = self._map_has_key(ref, leaf.key)
        elif leaf.kind is Kind.MESSAGE and not leaf.repeated:
            key = tuple(f.name for f in ref.fields)
            cond, from_json = models.c[PRESENCE_BY_PATH[key].column].is_(true()), False
        elif leaf.repeated or leaf.kind is Kind.MAP:
            # Canonical JSON omits empty lists and maps: present means non-empty.
            cond = self.dialect.non_empty(self._json_path(ref.fields))
        else:
            col = self._scalar(ref)
            zero = leaf.type.zero
            cond, from_json = col != bindparam(None, zero, type_=col.type), False
        if negate:
            cond = self._json_negated(cond) if from_json else not_(cond)
        return self._guarded(ref, cond)

    def _map_value(self, ref: q.FieldRef) -> ColumnElement[Any]:
        leaf = ref.leaf
        assert isinstance(leaf, q.MapKey)
        return self.dialect.map_value(self._json_path(ref.fields), leaf.key, ref.kind)

    def _map_has_key(self, ref: q.FieldRef, key: str) -> Condition:
        return self.dialect.map_has_key(self._json_path(ref.fields), key)

    def _has_element(self, node: q.HasElement) -> Condition:
        leaf_decl = node.subpath[-1] if node.subpath else node.field.fields[-1]
        value = node.value
        if isinstance(value, q.EnumValue):
            value = value.name
        return self.dialect.has_element(
            self._json_path(node.field.fields),
            [f.json_name for f in node.subpath],
            leaf_decl.type.json_zero,
            value,
        )


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


__all__ = ["FilterCompiler", "compile_query"]
