"""List: one page of a scope's models, filtered and ordered, with its exact total.

The steps of a List are a generator (``ListSteps.run``) that yields (statement, parameters) and is sent
the result rows, so the same logic runs on a blocking connection (``Lister.list_models``) and on an
asyncio one (``Lister.alist_models``, PostgreSQL). Statements come from the planner (``planner.py``),
built once per query shape; totals of filtered Lists come from ``CountCache``, keyed by data version.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import psycopg
from sqlalchemy import Select

from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy
from modelyard.store.aio import AsyncReader, prepared
from modelyard.store.connections import Database
from modelyard.store.errors import translated
from modelyard.store.planner import Plan, Planner, Scope
from modelyard.store.tables import SCALARS_BY_PATH

#: Attempts at reading a page at the version of cached bounds before reading it without them.
_BOUNDED_ATTEMPTS = 3

#: Worker threads a server process runs SQLite List statements in at once. Python's GIL makes more threads
#: slower, not faster: one process serving 8 concurrent clients from anyio's default 40 threads spent 1.27
#: ms of CPU per List request (1,040 requests/s); from 4, 2 and 1 thread 0.9, 0.62 and 0.47 ms (1,400,
#: 1,800 and 2,200 requests/s). Two, not one, so that one slow filtered page does not hold up every other.
SQLITE_LIST_THREADS = 2

#: Counts kept before the least recently used ones are dropped.
COUNT_CACHE_SIZE = 10_000

Rows = list[tuple[Any, ...]]
Step = tuple[Select[Any], dict[str, Any]]


@dataclass
class Page:
    resources: list[bytes]  # canonical JSON of each model, as stored
    last_key: list[Any] | None  # the keyset position after the page's last item, when there is more
    total_size: int


@dataclass(frozen=True)
class Count:
    version: int
    total: int
    bounds: tuple[Any, Any] | None = None


class CountCache:
    """Totals (and bounds) of filtered Lists by (scope, filter, bounded order column), each valid at the
    data version it was counted at; least recently used first out."""

    def __init__(self, size: int = COUNT_CACHE_SIZE) -> None:
        self.size = size
        self._counts: OrderedDict[tuple[str, ...], Count] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], version: int | None) -> Count | None:
        """The cached count of ``key``: at ``version``, or (``None``) at whatever version it was taken."""
        with self._lock:
            hit = self._counts.get(key)
            if hit is not None and (version is None or hit.version == version):
                self._counts.move_to_end(key)
                return hit
        return None

    def put(self, key: tuple[str, ...], plan: Plan, row: tuple[Any, ...]) -> Count:
        """Cache a count statement's row: (total, version[, lower bound, upper bound])."""
        counted = Count(int(row[1]), int(row[0]), (row[2], row[3]) if plan.bounded is not None else None)
        with self._lock:
            self._counts[key] = counted
            self._counts.move_to_end(key)
            while len(self._counts) > self.size:
                self._counts.popitem(last=False)
        return counted


class ListSteps:
    """The statements of one List, whatever connection runs them."""

    def __init__(self, planner: Planner, counts: CountCache) -> None:
        self.planner = planner
        self.counts = counts

    def run(
        self,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        *,
        after: list[Any] | None,
        limit: int,
    ) -> Generator[Step, Rows, Page]:
        """Yields (statement, parameters), is sent the result rows, and returns the Page. Every statement
        is a single-snapshot read (autocommit on PostgreSQL).

        One statement in the common case. Without a filter the page carries its exact total; with one,
        the data version it was read at (a scalar subquery, so the same snapshot), and a count cached for
        that version answers totalSize and bounds the walk (see ``Plan``)."""
        plan = self.planner.plan(scope.kind, checked, order, after is not None)
        params: dict[str, Any] = {"scope_account": scope.account, "page_limit": limit + 1}
        if after is not None:
            params.update({f"k{i}": value for i, value in enumerate(after)})
        scope_params = {"scope_account": scope.account}
        if plan.exact:
            rows = yield plan.page, params
            total = int(rows[0][1]) if rows else int((yield plan.count, scope_params)[0][0])
        else:
            rows, total = yield from self._filtered(plan, scope, checked, order, params)
        more = len(rows) > limit
        rows = rows[:limit]
        last_key = list(rows[-1][2:]) if more and rows else None
        return Page([r[0].encode() for r in rows], last_key, total)

    def _filtered(
        self,
        plan: Plan,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        params: dict[str, Any],
    ) -> Generator[Step, Rows, tuple[Rows, int]]:
        scope_params = {"scope_account": scope.account}
        key = (scope.key, checked.text, order.fields[0].name if plan.bounded is not None else "")
        if plan.bounded is None:
            rows = yield plan.page, params
            if rows:
                counted = self.counts.get(key, int(rows[0][1]))
            elif plan.version is not None:  # an empty page carries no version: ask (cheaper than a count)
                counted = self.counts.get(key, int((yield plan.version, scope_params)[0][0]))
            else:
                counted = None
            if counted is None:
                counted = self.counts.put(key, plan, (yield plan.count, scope_params)[0])
            return rows, counted.total
        assert plan.version is not None
        for attempt in range(_BOUNDED_ATTEMPTS):
            counted = self.counts.get(key, None) if attempt == 0 else None
            if counted is None:
                counted = self.counts.put(key, plan, (yield plan.count, scope_params)[0])
            assert counted.bounds is not None
            lo, hi = counted.bounds
            rows = yield plan.bounded, {**params, "lo": lo, "hi": hi}
            version = int(rows[0][1]) if rows else int((yield plan.version, scope_params)[0][0])
            if version == counted.version:
                return rows, counted.total
        # The data kept changing between the count and the page: read without bounds.
        rows = yield plan.page, params
        return rows, self.counts.put(key, plan, (yield plan.count, scope_params)[0]).total


class Lister:
    """Runs List steps: on a blocking connection, or for an event loop on PostgreSQL's asyncio pool."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.steps = ListSteps(Planner(database.dialect), CountCache())
        engine = database.engine
        self._async = (
            AsyncReader(engine, max_size=engine.pool.size() + 2)  # type: ignore[attr-defined]
            if database.postgresql
            else None
        )
        self._readers: anyio.CapacityLimiter | None = None

    def bound_column(self, scope: Scope, checked: CheckedFilter, order: OrderBy) -> str | None:
        """The column whose bounds a List of this shape caches with its total ("" when it caches none),
        or None when it needs no count (no filter: the total is kept in ``accounts``)."""
        plan = self.steps.planner.plan(scope.kind, checked, order, False)
        if plan.exact:
            return None
        if plan.bounded is None:
            return ""
        return SCALARS_BY_PATH[tuple(f.name for f in order.fields[0].path)].column

    def prime(
        self,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        version: int,
        total: int,
        bounds: tuple[Any, Any] | None,
    ) -> None:
        """Cache a List's total (and the bounds of ``bound_column``) counted elsewhere at ``version``, e.g.
        in the catalog's facet pass: the next page of that shape at that version reads no count."""
        plan = self.steps.planner.plan(scope.kind, checked, order, False)
        if plan.exact:
            return
        key = (scope.key, checked.text, order.fields[0].name if plan.bounded is not None else "")
        row: tuple[Any, ...] = (total, version)
        if plan.bounded is not None:
            assert bounds is not None
            row = (total, version, *bounds)
        self.steps.counts.put(key, plan, row)

    async def aclose(self) -> None:
        """Close the asyncio pool (at application shutdown, on its event loop)."""
        if self._async is not None:
            await self._async.aclose()

    def list_models(
        self,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        *,
        after: list[Any] | None,
        limit: int,
    ) -> Page:
        """One page in ``order`` (which must end with a unique field, e.g. ``name``), after the keyset
        position ``after``; ``total_size`` counts every match (cached per data version)."""
        steps = self.steps.run(scope, checked, order, after=after, limit=limit)
        with translated, self.database.reader() as conn:
            step = _advance(steps, None)
            while not isinstance(step, Page):
                step = _advance(steps, [tuple(r) for r in conn.execute(*step)])
            return step

    async def alist_models(
        self,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        *,
        after: list[Any] | None,
        limit: int,
    ) -> Page:
        """``list_models`` for an event loop: on PostgreSQL over an asyncio connection pool (no thread
        hop), elsewhere in one of ``SQLITE_LIST_THREADS`` worker threads."""
        if self._async is None:
            if self._readers is None:
                self._readers = anyio.CapacityLimiter(SQLITE_LIST_THREADS)
            return await anyio.to_thread.run_sync(
                functools.partial(self.list_models, scope, checked, order, after=after, limit=limit),
                limiter=self._readers,
            )
        reader = self._async
        with translated:
            for fresh in (False, True):
                steps = self.steps.run(scope, checked, order, after=after, limit=limit)
                async with reader.connection(fresh=fresh) as conn:
                    try:
                        step = _advance(steps, None)
                        while not isinstance(step, Page):
                            sql, values = reader.compile(*step)
                            cursor = await conn.execute(sql, values, prepare=prepared(step[0]))
                            step = _advance(steps, await cursor.fetchall())
                        return step
                    except psycopg.OperationalError:
                        if fresh or not conn.broken:
                            raise
                        reader.mark_broken()  # dead pooled connection: once more on a fresh one
        raise AssertionError("unreachable")  # pragma: no cover


def _advance(steps: Generator[Step, Rows, Page], rows: Rows | None) -> Step | Page:
    """The next statement of a List's steps (sent the rows of the last one), or its Page."""
    try:
        return next(steps) if rows is None else steps.send(rows)
    except StopIteration as done:
        page: Page = done.value
        return page
