"""Facet counts: how many of the models a scope sees match each of several filters, among the models that
match a shared base filter.

All the counts of one view come from one statement per part of the scope (a conditional sum per option
over the rows the base filter and the scope select), so a catalog page scans the matching rows once, not
once per option; covering indexes (``ix_models_facets_*``) make that an index-only scan when the base
filter is empty. Like
List's ``totalSize``, the counts are cached per data version of the scope: a later view of the same
state costs one version read until a write to a visible account changes it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, case, false, func, select, true

from modelyard.aip.filtering.query import CheckedFilter
from modelyard.store.filters import compile_query
from modelyard.store.planner import Scope, scope_condition, version_expression
from modelyard.store.repository import Store
from modelyard.store.tables import models

_MAX_CACHED = 5_000


class FacetCounter:
    """Counts per option, cached per (scope, base filter, option filters) and data version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._counts: OrderedDict[tuple[str, ...], tuple[int, list[int]]] = OrderedDict()
        self._statements: dict[tuple[str, ...], list[Select[Any]]] = {}
        self._versions: dict[str, Select[Any]] = {}

    def count(self, scope: Scope, base: CheckedFilter, options: Sequence[CheckedFilter]) -> list[int]:
        """For each option, the number of visible models matching ``base`` and the option."""
        key = (scope.kind, base.text, *(o.text for o in options))
        cache_key = (scope.account, *key)
        params = {"scope_account": scope.account}
        with self.store.engine.connect() as conn:
            if self.store.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            version = int(conn.execute(self._version_statement(scope.kind), params).scalar_one())
            with self._lock:
                hit = self._counts.get(cache_key)
                if hit is not None and hit[0] == version:
                    self._counts.move_to_end(cache_key)
                    return list(hit[1])
            rows = [
                conn.execute(statement, params).one()
                for statement in self._statements_for(key, scope, base, options)
            ]
        versions = {int(r[0]) for r in rows}
        counts = [sum(int(r[i]) for r in rows) for i in range(1, len(options) + 1)]
        if len(versions) == 1:  # every part read at one data version: cache it
            with self._lock:
                self._counts[cache_key] = (versions.pop(), counts)
                while len(self._counts) > _MAX_CACHED:
                    self._counts.popitem(last=False)
        return list(counts)

    def _version_statement(self, kind: str) -> Select[Any]:
        statement = self._versions.get(kind)
        if statement is None:
            statement = select(version_expression(kind))
            self._versions[kind] = statement
        return statement

    def _statements_for(
        self, key: tuple[str, ...], scope: Scope, base: CheckedFilter, options: Sequence[CheckedFilter]
    ) -> list[Select[Any]]:
        """The count statements of a scope, one per disjoint part of what it sees: the parts an index
        answers alone. Across accounts: every public model, then (with a key) the caller's private ones."""
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
        sums: list[ColumnElement[Any]] = []
        for option in options:
            if option.query is None:
                sums.append(func.count())
            else:
                matched = case((compile_query(option.query, dialect), 1), else_=0)
                sums.append(func.coalesce(func.sum(matched), 0).cast(Integer))
        where = [compile_query(base.query, dialect)] if base.query is not None else []
        version = version_expression(scope.kind)
        statements = [select(version, *sums).select_from(models).where(*part, *where) for part in parts]
        if len(self._statements) > 2_000:
            self._statements.clear()
        self._statements[key] = statements
        return statements
