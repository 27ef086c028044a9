"""List semantics over a small collection held in memory (an account's users or keys): the same AIP-160
filter (through the reference evaluator), AIP-132 ordering and keyset positions as List Models.

Framework- and database-free: resources are canonical proto3 JSON dicts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.aip.filtering.evaluator import evaluate
from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy, OrderField
from modelyard.aip.schema import Kind
from modelyard.aip.timestamps import parse_rfc3339


@dataclass(frozen=True)
class MemoryPage:
    items: list[dict[str, Any]]
    last_key: list[Any] | None  # the keyset position of the last item, when more follow


def _value(resource: dict[str, Any], field: OrderField) -> Any:
    """The comparable value of an order field: unset values as their zero value (proto3)."""
    current: Any = resource
    for decl in field.path:
        current = current.get(decl.json_name) if isinstance(current, dict) else None
    decl = field.path[-1]
    kind = decl.kind
    if kind is Kind.ENUM:
        assert decl.type.enum is not None
        return decl.type.enum.number(current) or 0 if isinstance(current, str) else 0
    if kind is Kind.TIMESTAMP:
        return (parse_rfc3339(current) or 0) if isinstance(current, str) else 0
    if kind is Kind.BOOL:
        return int(bool(current))
    if kind.is_number:
        return float(current) if kind in (Kind.FLOAT, Kind.DOUBLE) else int(current or 0)
    return current if isinstance(current, str) else ""


def _compare(a: Sequence[Any], b: Sequence[Any], descs: Sequence[bool]) -> int:
    for x, y, desc in zip(a, b, descs, strict=True):
        if x != y:
            less = x < y
            return (1 if less else -1) if desc else (-1 if less else 1)
    return 0


def list_page(
    resources: Iterable[dict[str, Any]],
    checked: CheckedFilter,
    order: OrderBy,
    *,
    search_fields: Callable[[dict[str, Any]], Iterable[str]],
    after: list[Any] | None,
    limit: int,
) -> tuple[MemoryPage, int]:
    """One page of the matching resources in ``order`` (ending with a unique field) after the keyset
    position ``after``, and the number of matches."""
    descs = [f.desc for f in order.fields]
    keyed: list[tuple[list[Any], dict[str, Any]]] = [
        ([_value(r, f) for f in order.fields], r)
        for r in resources
        if checked.query is None or evaluate(checked.query, r, search_fields=search_fields)
    ]
    Keyed = tuple[list[Any], dict[str, Any]]

    def by_order(x: Keyed, y: Keyed) -> int:
        return _compare(x[0], y[0], descs)

    keyed.sort(key=functools.cmp_to_key(by_order))
    total = len(keyed)
    if after is not None:
        keyed = [kr for kr in keyed if _compare(kr[0], after, descs) > 0]
    page = keyed[: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    return MemoryPage([r for _, r in page], page[-1][0] if more and page else None), total
