"""Facet counts: how many of the models a scope sees match each of several filters, among the models that
match a shared base filter; and in the same pass the view's own total and the bounds of its order, which
List would otherwise count in a pass of its own (``Lister.prime``).

One statement per disjoint part of the scope (public models; with a key, the caller's private ones). When
every option (and the view's selection) tests only the facet columns, the statement groups the rows the
scope and the base filter select by those columns (``GROUP_COLUMNS``, in the order of the covering indexes
``ix_models_facets_*``, so the grouping streams along the index) and evaluates each option once per group
instead of once per row: a group's rows agree on every column an option reads, so the counts are the
same. Otherwise each option is a ``count(*) FILTER (WHERE ...)`` over the rows. The indexes also hold the
sort columns and common flags (``tables.COUNTED_COLUMNS``), so neither form reads a table row unless the
base filter does (search words, other fields).

Like List's ``totalSize``, the counts are cached per data version of the scope: a later view of the same
state costs one version read until a write to a visible account changes it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, false, func, select, true
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.util import ClauseAdapter

from modelyard.aip.filtering.query import CheckedFilter
from modelyard.store.filters import compile_query
from modelyard.store.planner import Scope, scope_condition, version_expression
from modelyard.store.repository import Store
from modelyard.store.tables import COUNTED_COLUMNS, FACET_COLUMNS, models

_MAX_CACHED = 5_000

#: The columns rows are grouped by: the leading columns of ``ix_models_facets_*`` after the account.
GROUP_COLUMNS = (models.c.public, *(models.c[c] for c in FACET_COLUMNS))
_GROUPED = frozenset(c.name for c in GROUP_COLUMNS)
#: Columns whose bounds the pass can take from the covering indexes.
_COVERED = frozenset({*_GROUPED, *COUNTED_COLUMNS})


@dataclass(frozen=True)
class Tally:
    """The counts of one view: per option, and (when asked) the models matching the base filter and the
    selection, with the smallest and largest value of the bound column among them."""

    options: list[int]
    version: int | None  # the data version every part was read at (None: they differed)
    total: int | None = None
    bounds: tuple[Any, Any] | None = None


class FacetCounter:
    """Counts per option, cached per (scope, base filter, selection, bound, option filters) and version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[str, ...], Tally] = OrderedDict()
        self._statements: dict[tuple[str, ...], list[Select[Any]]] = {}
        self._versions: dict[str, Select[Any]] = {}

    def count(self, scope: Scope, base: CheckedFilter, options: Sequence[CheckedFilter]) -> list[int]:
        """For each option, the number of visible models matching ``base`` and the option."""
        return self.tally(scope, base, options).options

    def tally(
        self,
        scope: Scope,
        base: CheckedFilter,
        options: Sequence[CheckedFilter],
        selection: CheckedFilter | None = None,
        bound: str = "",
    ) -> Tally:
        """The option counts; with a ``selection``, also the number of visible models matching ``base``
        and ``selection`` (the view's whole filter) and, with a ``bound`` column among
        ``bound_columns()``, the bounds of that column among them."""
        if bound and bound not in _COVERED:
            raise ValueError(f"no bounds of {bound!r} in a facet count")
        key = (
            scope.kind,
            base.text,
            selection.text if selection else "\0",
            bound,
            *(o.text for o in options),
        )
        cache_key = (scope.account, *key)
        params = {"scope_account": scope.account}
        with self.store.engine.connect() as conn:
            if self.store.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            version = int(conn.execute(self._version_statement(scope.kind), params).scalar_one())
            with self._lock:
                hit = self._counts.get(cache_key)
                if hit is not None and hit.version == version:
                    self._counts.move_to_end(cache_key)
                    return hit
            statements = self._statements_for(key, scope, base, options, selection, bound)
            rows = [conn.execute(statement, params).one() for statement in statements]
        versions = {int(r[0]) for r in rows}
        n = len(options)
        tally = Tally(
            [sum(int(r[1 + i] or 0) for r in rows) for i in range(n)],
            versions.pop() if len(versions) == 1 else None,
            sum(int(r[1 + n] or 0) for r in rows) if selection is not None else None,
            _bounds([r[2 + n : 4 + n] for r in rows]) if selection is not None and bound else None,
        )
        if tally.version is not None:  # every part read at one data version: cache it
            with self._lock:
                self._counts[cache_key] = tally
                while len(self._counts) > _MAX_CACHED:
                    self._counts.popitem(last=False)
        return tally

    @staticmethod
    def bound_columns() -> frozenset[str]:
        """The columns ``tally`` can bound."""
        return _COVERED

    def _version_statement(self, kind: str) -> Select[Any]:
        statement = self._versions.get(kind)
        if statement is None:
            statement = select(version_expression(kind))
            self._versions[kind] = statement
        return statement

    def _statements_for(
        self,
        key: tuple[str, ...],
        scope: Scope,
        base: CheckedFilter,
        options: Sequence[CheckedFilter],
        selection: CheckedFilter | None,
        bound: str,
    ) -> list[Select[Any]]:
        """The count statements of a scope, one per disjoint part of what it sees: the parts an index
        answers alone. Across accounts: every public model, then (with a key) the caller's private ones.
        Each returns the version, a count per option, then with a selection its count and bounds."""
        statements = self._statements.get(key)
        if statements is not None:
            return statements
        account = bindparam("scope_account", type_=models.c.account_id.type)
        parts: list[list[ColumnElement[bool]]]
        if scope.kind in ("all", "anyone"):
            parts = [[models.c.public.is_(true())]]
            if scope.kind == "all":
                parts.append([models.c.account_id == account, models.c.public.is_(false())])
        else:
            parts = [[scope_condition(scope.kind)]]
        dialect = self.store.dialect
        where = [compile_query(base.query, dialect)] if base.query is not None else []
        tests: list[ColumnElement[bool] | None] = [
            compile_query(o.query, dialect) if o.query is not None else None for o in options
        ]
        if selection is not None:
            tests.append(compile_query(selection.query, dialect) if selection.query is not None else None)
        version = version_expression(scope.kind)
        build = _grouped if all(t is None or _reads_only_groups(t) for t in tests) else _per_row
        statements = [build(version, [*part, *where], tests, selection is not None, bound) for part in parts]
        if len(self._statements) > 2_000:
            self._statements.clear()
        self._statements[key] = statements
        return statements


def _reads_only_groups(test: ColumnElement[bool]) -> bool:
    """Whether a condition reads nothing but ``GROUP_COLUMNS`` of ``models``."""
    return all(
        getattr(element, "table", None) is models and element.name in _GROUPED
        for element in visitors.iterate(test)
        if isinstance(element, ColumnClause)
    )


def _grouped(
    version: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    tests: list[ColumnElement[bool] | None],
    selected: bool,
    bound: str,
) -> Select[Any]:
    extra: list[ColumnElement[Any]] = [func.count().label("n")]
    if selected and bound:
        # Bounds only over the rows the selection keeps (filtered before the comparisons, which cost more
        # than the test); a group's rows agree on the selection, so the outer min and max need no filter.
        low, high = _bounded(models.c[bound], tests[-1])
        extra += [low.label("lo"), high.label("hi")]
    groups = select(*GROUP_COLUMNS, *extra).where(*where).group_by(*GROUP_COLUMNS).subquery("facet_groups")
    adapt = ClauseAdapter(groups)
    n = groups.c.n

    def counted(test: ColumnElement[bool] | None) -> ColumnElement[Any]:
        total = func.sum(n) if test is None else func.sum(n).filter(adapt.traverse(test))
        return func.coalesce(total, 0).cast(Integer)

    columns = [counted(t) for t in tests]
    if selected and bound:
        columns += [func.min(groups.c.lo), func.max(groups.c.hi)]
    return select(version, *columns).select_from(groups)


def _per_row(
    version: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    tests: list[ColumnElement[bool] | None],
    selected: bool,
    bound: str,
) -> Select[Any]:
    columns: list[ColumnElement[Any]] = [func.count() if t is None else func.count().filter(t) for t in tests]
    if selected and bound:
        columns += _bounded(models.c[bound], tests[-1])
    return select(version, *columns).select_from(models).where(*where)


def _bounded(column: ColumnElement[Any], chosen: ColumnElement[bool] | None) -> list[ColumnElement[Any]]:
    """The smallest and largest ``column`` among the rows ``chosen`` selects."""
    if chosen is None:
        return [func.min(column), func.max(column)]
    return [func.min(column).filter(chosen), func.max(column).filter(chosen)]


def _bounds(pairs: list[Sequence[Any]]) -> tuple[Any, Any]:
    """The bounds over the parts of a scope (a part without matches has none)."""
    lows = [p[0] for p in pairs if p[0] is not None]
    highs = [p[1] for p in pairs if p[1] is not None]
    return (min(lows) if lows else None, max(highs) if highs else None)
