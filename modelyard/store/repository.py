"""The store: accounts, API keys, and Models with keyset-paged, filtered, ordered listing."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson
import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy
from modelyard.aip.timestamps import format_rfc3339, now_nanos
from modelyard.resources.model import model_name
from modelyard.store.aio import AsyncReader, prepared
from modelyard.store.filters import compile_query
from modelyard.store.rows import COLUMNS, resource_to_row, resource_to_values
from modelyard.store.tables import (
    INDEXED_COLUMNS,
    SCALARS_BY_PATH,
    accounts,
    api_keys,
    models,
    server_secrets,
)

log = logging.getLogger("modelyard")


class AlreadyExists(Exception):
    pass


#: Columns that lead an index of their own within an account (``tables.py``): orders that an index keeps.
_INDEXED_ORDER = frozenset({"name", *INDEXED_COLUMNS})

#: The columns of a prepared row (``Store.prepare_rows``), in table order.
ROW_COLUMNS = COLUMNS
ROW_NAME = ROW_COLUMNS.index("name")
_PUBLIC = ROW_COLUMNS.index("public")
#: A prepared ``models`` row: its values in ``ROW_COLUMNS`` order.
Row = tuple[Any, ...]


class CatalogNotEmpty(Exception):
    """A bulk load was asked for, but the catalog already holds models."""


class NotFound(Exception):
    pass


class Unavailable(Exception):
    """The database does not answer (connection refused or lost, no connection within the pool's wait)."""


#: Driver and pool errors that mean the database cannot answer now (as opposed to a bug or bad data).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    Unavailable,
    OperationalError,
    SQLAlchemyTimeoutError,
    psycopg.OperationalError,
    PoolTimeout,
)


@dataclass(frozen=True)
class Scope:
    """Which models a caller sees when listing ``accounts/{target}/models``."""

    caller: str
    target: str  # an account id, or "-" for every readable account

    @property
    def kind(self) -> str:
        if self.target == self.caller:
            return "own"
        return "all" if self.target == "-" else "public"

    @property
    def account(self) -> str:
        """The account the condition names: the caller's for "own" and "all", else the target."""
        return self.target if self.kind == "public" else self.caller

    def condition(self) -> ColumnElement[bool]:
        return scope_condition(self.kind)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.account}"


def _version_expression(kind: str) -> ColumnElement[Any]:
    """The data version a scope's results depend on, as a scalar subquery (see Store._bump)."""
    if kind == "all":
        # Every account's models can be visible: a sum of monotonic counters changes whenever any does.
        return (
            select(func.coalesce(func.sum(accounts.c.version), 0) * 1_000_003 + func.count())
            .select_from(accounts)
            .scalar_subquery()
        )
    account = bindparam("scope_account", type_=accounts.c.account_id.type)
    return func.coalesce(
        select(accounts.c.version).where(accounts.c.account_id == account).scalar_subquery(), 0
    )


def _total_expression(kind: str) -> ColumnElement[Any]:
    """The exact number of models a scope sees without a filter, from the counts ``accounts`` keeps."""
    account = bindparam("scope_account", type_=accounts.c.account_id.type)
    if kind == "own":
        column: ColumnElement[Any] = accounts.c.model_count
    elif kind == "public":
        column = accounts.c.public_count
    else:
        # The caller's own models plus every public model of the other accounts.
        own_private = select(accounts.c.model_count - accounts.c.public_count).where(
            accounts.c.account_id == account
        )
        public = select(func.coalesce(func.sum(accounts.c.public_count), 0)).select_from(accounts)
        return func.coalesce(own_private.scalar_subquery(), 0) + public.scalar_subquery()
    return func.coalesce(select(column).where(accounts.c.account_id == account).scalar_subquery(), 0)


def scope_condition(kind: str) -> ColumnElement[bool]:
    """The visibility condition of a scope kind, with its account as the ``scope_account`` parameter."""
    account = bindparam("scope_account", type_=models.c.account_id.type)
    if kind == "own":
        return models.c.account_id == account
    if kind == "all":
        return or_(models.c.account_id == account, models.c.public.is_(true()))
    return and_(models.c.account_id == account, models.c.public.is_(true()))


@dataclass(frozen=True)
class _Plan:
    """The statements of one query shape (scope kind, filter, order, first page or not).

    Without a filter the page's second column is the exact total (kept in ``accounts``). With one, it is
    the data version, and the count statement returns the total, the version it counted at and the
    smallest and largest value of the first order column among the matches: the *bounds*. The bounded page
    statement only walks the order between them, so a filter whose matches cluster late in the order
    (``display_name = "Qwen*"`` under name order: the ids start with "qwen") is not answered by walking
    every earlier row. Bounds are valid only at the version they were computed at; the page statement
    returns the version it read, so a stale bound is detected and the page read again.
    """

    page: Select[Any]  # rows: resource, total or version, then the keyset of the row
    count: Select[Any]  # one row: total, version[, lower bound, upper bound]
    exact: bool
    bounded: Select[Any] | None = None  # the page between the bounds (``lo``/``hi`` parameters)
    version: Select[Any] | None = None  # one row: the data version


@dataclass(frozen=True)
class _Count:
    version: int
    total: int
    bounds: tuple[Any, Any] | None = None


#: Order columns whose bounds are computed: min/max do not exist for booleans on PostgreSQL, and floats
#: (NaN) order differently on the two databases.
_UNBOUNDED_TYPES = (Boolean, Float)

#: Attempts at reading a page at the version of cached bounds before reading it without them.
_BOUNDED_ATTEMPTS = 3


@dataclass
class Page:
    resources: list[bytes]  # canonical JSON of each model, as stored
    last_key: list[Any] | None  # the keyset position after the page's last item, when there is more
    total_size: int


#: Worker threads a server process runs SQLite List statements in at once. Python's GIL makes more threads
#: slower, not faster: one process serving 8 concurrent clients from anyio's default 40 threads spent 1.27
#: ms of CPU per List request (1,040 requests/s); from 4, 2 and 1 thread 0.9, 0.62 and 0.47 ms (1,400,
#: 1,800 and 2,200 requests/s). Two, not one, so that one slow filtered page does not hold up every other.
SQLITE_LIST_THREADS = 2


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._counts: OrderedDict[tuple[str, ...], _Count] = OrderedDict()
        self._counts_lock = threading.Lock()
        self._keys: dict[bytes, tuple[str, float]] = {}
        self._plans: dict[tuple[str, str, str, bool], _Plan] = {}
        self._stats_stale = False
        self._async = (
            AsyncReader(engine, max_size=engine.pool.size() + 2)  # type: ignore[attr-defined]
            if self.dialect == "postgresql"
            else None
        )
        self._readers: anyio.CapacityLimiter | None = None

    async def aclose(self) -> None:
        """Close the asyncio pool (at application shutdown, on its event loop)."""
        if self._async is not None:
            await self._async.aclose()

    # -- transactions ----------------------------------------------------------------------------------
    def _write(self) -> Any:
        """A write transaction (SQLite takes the write lock at BEGIN)."""
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        return _Txn(conn, self._after_commit)

    def _reader(self) -> Connection:
        """A connection for reads. On PostgreSQL in autocommit: each statement is its own snapshot and
        costs no BEGIN/COMMIT round trips (list reads are single statements by design)."""
        conn = self.engine.connect()
        if self.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn

    # -- accounts and keys -----------------------------------------------------------------------------
    def ensure_account(self, account_id: str, conn: Connection | None = None) -> None:
        if conn is None:
            with self._write() as c:
                self.ensure_account(account_id, c)
            return
        exists = conn.execute(
            select(accounts.c.account_id).where(accounts.c.account_id == account_id)
        ).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(accounts).values(account_id=account_id, create_time=now_nanos()))
            except IntegrityError:
                pass  # created concurrently

    def account_exists(self, account_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(accounts.c.account_id).where(accounts.c.account_id == account_id))
            return row.first() is not None

    def create_api_key(self, account_id: str, display_name: str = "") -> str:
        key = "my_" + secrets.token_urlsafe(32)
        with self._write() as conn:
            self.ensure_account(account_id, conn)
            conn.execute(
                insert(api_keys).values(
                    key_id=secrets.token_hex(8),
                    account_id=account_id,
                    key_hash=hash_key(key),
                    display_name=display_name,
                    prefix=key[:8],
                    create_time=now_nanos(),
                )
            )
        return key

    def cached_account(self, key: str) -> str | None:
        """The account of an API key seen in the last few seconds, without reading the database."""
        hit = self._keys.get(hash_key(key))
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def authenticate(self, key: str) -> str | None:
        """The account an API key belongs to (cached for a few seconds), or None."""
        digest = hash_key(key)
        hit = self._keys.get(digest)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.account_id).where(api_keys.c.key_hash == digest)).first()
        if row is None:
            return None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (row[0], time.monotonic() + 10)
        return str(row[0])

    def secret(self, name: str) -> bytes:
        """A 32-byte secret shared by every server on this database (created on first use)."""
        with self._write() as conn:
            row = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).first()
            if row is not None:
                return bytes(row[0])
            value = os.urandom(32)
            try:
                with conn.begin_nested():
                    conn.execute(insert(server_secrets).values(name=name, value=value))
            except IntegrityError:
                row = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).one()
                return bytes(row[0])
            return value

    # -- models: writes --------------------------------------------------------------------------------
    def _bump(self, conn: Connection, account_id: str, models_delta: int = 0, public_delta: int = 0) -> None:
        """Record a write to an account's models: a new data version, and the change in its counts."""
        values: dict[str, Any] = {"version": accounts.c.version + 1}
        if models_delta:
            values["model_count"] = accounts.c.model_count + models_delta
        if public_delta:
            values["public_count"] = accounts.c.public_count + public_delta
        stmt = update(accounts).where(accounts.c.account_id == account_id).values(**values)
        if self.dialect != "sqlite" or models_delta <= 0:
            conn.execute(stmt)
            return
        # SQLite has no autovacuum: refresh the planner's statistics (after the commit) when an account
        # grows past 1,000, 4,000, 16,000, ... models, whichever write path it grows by.
        count = conn.execute(stmt.returning(accounts.c.model_count)).scalar()
        if count is not None and _crosses_size(int(count) - models_delta, int(count)):
            self._stats_stale = True

    def _after_commit(self) -> None:
        if self._stats_stale:
            self._stats_stale = False
            self.analyze(limit=_SQLITE_ANALYSIS_LIMIT)

    def create_model(
        self, account_id: str, model_id: str, resource: dict[str, Any], *, keep_times: bool = False
    ) -> dict[str, Any]:
        """Insert a Model; ``resource`` is canonical JSON without ``name`` (and, unless ``keep_times``,
        without times). Raises AlreadyExists."""
        full = self._complete(account_id, model_id, resource, keep_times=keep_times)
        row = resource_to_row(full, account_id=account_id, model_id=model_id)
        with self._write() as conn:
            self.ensure_account(account_id, conn)
            try:
                with conn.begin_nested():
                    conn.execute(insert(models).values(**row))
            except IntegrityError:
                raise AlreadyExists(full["name"]) from None
            self._bump(conn, account_id, 1, 1 if row["public"] else 0)
        return full

    @staticmethod
    def _complete(
        account_id: str, model_id: str, resource: dict[str, Any], *, keep_times: bool
    ) -> dict[str, Any]:
        full = {"name": model_name(account_id, model_id), **resource}
        if not keep_times or "createTime" not in full or "updateTime" not in full:
            now = format_rfc3339(now_nanos())
            if not keep_times or "createTime" not in full:
                full["createTime"] = now
            if not keep_times or "updateTime" not in full:
                full["updateTime"] = full["createTime"] if keep_times else now
        return _ordered(full)

    def import_batch(
        self, account_id: str, items: Sequence[tuple[str, dict[str, Any]]], *, upsert: bool
    ) -> tuple[int, int]:
        """Insert (or with ``upsert`` replace) a batch in one transaction. Returns (created, replaced).
        Raises AlreadyExists naming the first existing model when not upserting."""
        return self.write_rows(account_id, self.prepare_rows(account_id, items), upsert=upsert)

    @staticmethod
    def prepare_rows(account_id: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Row]:
        """Row values (in ``ROW_COLUMNS`` order) for canonical resources: the CPU half of an import, with
        no database access, so it can run in another process."""
        return [
            resource_to_values(
                Store._complete(account_id, model_id, resource, keep_times=True),
                account_id=account_id,
                model_id=model_id,
            )
            for model_id, resource in items
        ]

    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]:
        """Store prepared rows in one transaction (the database half of an import)."""
        with self._write() as conn:
            return self._write_rows(conn, account_id, rows, upsert=upsert)

    def _write_rows(
        self, conn: Connection, account_id: str, rows: list[Row], *, upsert: bool
    ) -> tuple[int, int]:
        names = [r[ROW_NAME] for r in rows]
        replaced = 0
        public_delta = sum(1 for r in rows if r[_PUBLIC])
        self.ensure_account(account_id, conn)
        if upsert:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                gone = conn.execute(
                    delete(models).where(models.c.name.in_(chunk)).returning(models.c.public)
                ).all()
                replaced += len(gone)
                public_delta -= sum(1 for g in gone if g[0])
        if rows:
            try:
                with conn.begin_nested():
                    self._insert_many(conn, rows)
            except IntegrityError:
                found = conn.execute(select(models.c.name).where(models.c.name.in_(names[:500]))).first()
                raise AlreadyExists(found[0] if found else names[0]) from None
        self._bump(conn, account_id, len(rows) - replaced, public_delta)
        return len(rows) - replaced, replaced

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[BulkLoad]:
        """An initial load into an empty catalog, several times faster than ``write_rows``: one
        transaction that takes the models table for itself, drops its secondary indexes (and on PostgreSQL
        its foreign key), loads, and rebuilds exactly what it dropped before it commits, which is far
        cheaper than maintaining a dozen indexes row by row. Each ``BulkLoad.write`` is a savepoint (a
        rejected batch costs nothing else). If anything fails, everything is rolled back and the catalog is
        as it was. On PostgreSQL other sessions' reads and writes of models wait until the commit; on
        SQLite readers keep seeing the empty catalog meanwhile.

        Raises CatalogNotEmpty (before changing anything) when the catalog holds a model."""
        with self._write() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("LOCK TABLE models IN ACCESS EXCLUSIVE MODE"))
            if conn.execute(select(models.c.name).limit(1)).first() is not None:
                raise CatalogNotEmpty("the catalog already holds models")
            rebuild = self._drop_secondary(conn)
            yield BulkLoad(self, conn)
            if self.dialect == "postgresql":
                # Sorting for the index builds: more memory than the 64 MB default, for this transaction.
                conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for statement in rebuild:
                conn.exec_driver_sql(statement)

    def _drop_secondary(self, conn: Connection) -> list[str]:
        """Drop the models table's indexes other than its primary key (and on PostgreSQL its foreign
        keys); returns the statements that recreate them exactly as the database defined them."""
        if self.dialect == "postgresql":
            indexes = conn.execute(
                text(
                    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                    "WHERE indrelid = 'models'::regclass AND NOT indisprimary ORDER BY 1"
                )
            ).all()
            foreign = conn.execute(
                text(
                    "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'models'::regclass AND contype = 'f' ORDER BY 1"
                )
            ).all()
            for name, _ in foreign:
                conn.exec_driver_sql(f"ALTER TABLE models DROP CONSTRAINT {name}")
            for name, _ in indexes:
                conn.exec_driver_sql(f"DROP INDEX {name}")
            restore = [f"ALTER TABLE models ADD CONSTRAINT {n} {d}" for n, d in foreign]
            return [d for _, d in indexes] + restore
        indexes = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'models' "
                "AND sql IS NOT NULL ORDER BY name"
            )
        ).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [d for _, d in indexes]

    def _insert_many(self, conn: Connection, rows: list[Row]) -> None:
        """Bulk insert: COPY on PostgreSQL (several times faster than INSERT), executemany elsewhere."""
        if self.dialect != "postgresql":
            conn.execute(insert(models), [dict(zip(ROW_COLUMNS, row, strict=True)) for row in rows])
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        quoted = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
        try:
            with raw.cursor() as cursor, cursor.copy(f"COPY models ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.IntegrityError as e:  # the raw cursor's errors are not wrapped by SQLAlchemy
            raise IntegrityError("COPY models", None, e) from e

    def update_model(self, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one Model under a row lock. ``mutate`` gets the current resource (with
        ``deployedModelRefs``) and returns the new one. Raises NotFound."""
        with self._write() as conn:
            stmt = select(
                models.c.resource,
                models.c.deployed_model_refs,
                models.c.account_id,
                models.c.model_id,
                models.c.public,
            )
            stmt = stmt.where(models.c.name == name)
            if self.dialect == "postgresql":
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFound(name)
            current = orjson.loads(row.resource)
            refs = orjson.loads(row.deployed_model_refs)
            if refs:
                current["deployedModelRefs"] = refs
            new = mutate(current)
            new["name"] = name
            new["createTime"] = current["createTime"]
            new["updateTime"] = format_rfc3339(max(now_nanos(), _nanos(current["updateTime"]) + 1000))
            new = _ordered(new)
            values = resource_to_row(new, account_id=row.account_id, model_id=row.model_id)
            conn.execute(update(models).where(models.c.name == name).values(**values))
            self._bump(conn, row.account_id, 0, int(bool(values["public"])) - int(bool(row.public)))
        return new

    def delete_model(self, name: str) -> None:
        with self._write() as conn:
            gone = conn.execute(
                delete(models).where(models.c.name == name).returning(models.c.account_id, models.c.public)
            ).first()
            if gone is None:
                raise NotFound(name)
            self._bump(conn, gone[0], -1, -1 if gone[1] else 0)

    # -- models: reads ---------------------------------------------------------------------------------
    def get_model(self, name: str) -> tuple[dict[str, Any], bool] | None:
        """The Model (with ``deployedModelRefs``) and whether it is public, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(models.c.resource, models.c.deployed_model_refs, models.c.public).where(
                    models.c.name == name
                )
            ).first()
        if row is None:
            return None
        resource = orjson.loads(row.resource)
        refs = orjson.loads(row.deployed_model_refs)
        if refs:
            resource["deployedModelRefs"] = refs
        return resource, bool(row.public)

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
        steps = self._list_steps(scope, checked, order, after=after, limit=limit)
        try:
            with self._reader() as conn:
                statement, params = next(steps)
                while True:
                    rows = [tuple(r) for r in conn.execute(statement, params)]
                    try:
                        statement, params = steps.send(rows)
                    except StopIteration as done:
                        page: Page = done.value
                        return page
        except (OperationalError, SQLAlchemyTimeoutError) as e:
            log.warning("list: the database does not answer: %s", str(e).splitlines()[0])
            raise Unavailable() from e

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
        steps = self._list_steps(scope, checked, order, after=after, limit=limit)
        try:
            async with self._async.connection() as conn:
                statement, params = next(steps)
                while True:
                    sql, values = self._async.compile(statement, params)
                    cursor = await conn.execute(sql, values, prepare=prepared(statement))
                    rows = await cursor.fetchall()
                    try:
                        statement, params = steps.send(rows)
                    except StopIteration as done:
                        page: Page = done.value
                        return page
        except (psycopg.OperationalError, PoolTimeout) as e:
            log.warning(
                "list: the database does not answer: %s", (str(e) or type(e).__name__).splitlines()[0]
            )
            raise Unavailable() from e

    def _list_steps(
        self,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        *,
        after: list[Any] | None,
        limit: int,
    ) -> Generator[tuple[Select[Any], dict[str, Any]], list[tuple[Any, ...]], Page]:
        """The statements of one List, as a generator: it yields (statement, parameters), is sent the
        result rows, and returns the Page. The same steps run on a blocking connection and on an asyncio
        one, and every statement is a single-snapshot read (autocommit on PostgreSQL).

        One statement in the common case. Without a filter the page carries its exact total; with one,
        the data version it was read at (a scalar subquery, so the same snapshot), and a count cached for
        that version answers totalSize and bounds the walk (see _Plan)."""
        plan = self._plan(scope.kind, checked, order, after is not None)
        params: dict[str, Any] = {"scope_account": scope.account, "page_limit": limit + 1}
        if after is not None:
            params.update({f"k{i}": value for i, value in enumerate(after)})
        scope_params = {"scope_account": scope.account}
        if plan.exact:
            rows = yield plan.page, params
            total = int(rows[0][1]) if rows else int((yield plan.count, scope_params)[0][0])
        else:
            rows, total = yield from self._filtered_steps(plan, scope, checked, order, params)
        more = len(rows) > limit
        rows = rows[:limit]
        last_key = list(rows[-1][2:]) if more and rows else None
        return Page([r[0].encode() for r in rows], last_key, total)

    def _filtered_steps(
        self,
        plan: _Plan,
        scope: Scope,
        checked: CheckedFilter,
        order: OrderBy,
        params: dict[str, Any],
    ) -> Generator[tuple[Select[Any], dict[str, Any]], list[tuple[Any, ...]], tuple[list[Any], int]]:
        scope_params = {"scope_account": scope.account}
        key = (scope.key, checked.text, order.fields[0].name if plan.bounded is not None else "")
        if plan.bounded is None:
            rows = yield plan.page, params
            counted = self._cached_count(key, int(rows[0][1])) if rows else None
            if counted is None:
                counted = self._counted(key, plan, (yield plan.count, scope_params)[0])
            return rows, counted.total
        assert plan.version is not None
        for attempt in range(_BOUNDED_ATTEMPTS):
            counted = self._cached_count(key, None) if attempt == 0 else None
            if counted is None:
                counted = self._counted(key, plan, (yield plan.count, scope_params)[0])
            assert counted.bounds is not None
            lo, hi = counted.bounds
            rows = yield plan.bounded, {**params, "lo": lo, "hi": hi}
            version = int(rows[0][1]) if rows else int((yield plan.version, scope_params)[0][0])
            if version == counted.version:
                return rows, counted.total
        # The data kept changing between the count and the page: read without bounds.
        rows = yield plan.page, params
        return rows, self._counted(key, plan, (yield plan.count, scope_params)[0]).total

    def _counted(self, key: tuple[str, ...], plan: _Plan, row: tuple[Any, ...]) -> _Count:
        """Cache a count statement's row: (total, version[, lower bound, upper bound])."""
        counted = _Count(int(row[1]), int(row[0]), (row[2], row[3]) if plan.bounded is not None else None)
        with self._counts_lock:
            self._counts[key] = counted
            self._counts.move_to_end(key)
            while len(self._counts) > 10_000:
                self._counts.popitem(last=False)
        return counted

    def _plan(self, scope_kind: str, checked: CheckedFilter, order: OrderBy, seeking: bool) -> _Plan:
        """The page and count statements for a query shape, built once and reused with new parameters
        (statement construction costs more than executing a page on SQLite)."""
        key = (scope_kind, checked.text, order.canonical, seeking)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        columns = [models.c[SCALARS_BY_PATH[tuple(f.name for f in o.path)].column] for o in order.fields]
        where: list[ColumnElement[bool]] = [scope_condition(scope_kind)]
        if checked.query is not None:
            where.append(compile_query(checked.query, self.dialect))
        seek = list(where)
        if seeking:
            seek.append(_keyset(columns, [o.desc for o in order.fields]))
        ordering = [c.desc() if o.desc else c.asc() for c, o in zip(columns, order.fields, strict=True)]
        # A deferred join: the page's keys come from the indexes alone (an index-only scan when an index
        # covers the filter and the order), and only the page's rows are then read from the table. A
        # selective filter under another order no longer drags every matching wide row through a sort.
        version = _version_expression(scope_kind)
        exact = checked.query is None
        carried = _total_expression(scope_kind) if exact else version

        def page_statement(conditions: list[ColumnElement[bool]]) -> Select[Any]:
            keys = (
                select(models.c.name.label("k"), *(c.label(f"o{i}") for i, c in enumerate(columns)))
                .where(*conditions)
                .order_by(*ordering)
                .limit(bindparam("page_limit", type_=Integer))
                .subquery("page_keys")
            )
            key_columns = [keys.c[f"o{i}"] for i in range(len(columns))]
            return (
                select(models.c.resource, carried.label("v"), *key_columns)
                .join_from(keys, models, models.c.name == keys.c.k)
                .order_by(
                    *(k.desc() if o.desc else k.asc() for k, o in zip(key_columns, order.fields, strict=True))
                )
            )

        def direct_statement(conditions: list[ColumnElement[bool]]) -> Select[Any]:
            return (
                select(
                    models.c.resource, carried.label("v"), *(c.label(f"o{i}") for i, c in enumerate(columns))
                )
                .where(*conditions)
                .order_by(*ordering)
                .limit(bindparam("page_limit", type_=Integer))
            )

        # Without a filter, in one account and in an order an index keeps, the index walk stops after the
        # page and the rows are read directly: half of the deferred join's cost, which probes the primary
        # key once per row (PostgreSQL CPU per 50-model page at 1M: 0.21 ms against 0.45 ms).
        direct = exact and scope_kind in ("own", "public") and columns[0].name in _INDEXED_ORDER
        page = direct_statement(seek) if direct else page_statement(seek)
        if exact:
            # No filter constants and no bounds: the generic plan is the custom one, so these are run as
            # prepared statements (saves the planning) where the driver allows (store/aio.py).
            count_exact = select(_total_expression(scope_kind).label("n"), version.label("v"))
            plan = _Plan(
                page.execution_options(prepare=True), count_exact.execution_options(prepare=True), exact
            )
        elif isinstance(columns[0].type, _UNBOUNDED_TYPES):
            count = select(func.count(), version.label("v")).select_from(models).where(*where)
            plan = _Plan(page, count, exact)
        else:
            first = columns[0]
            count = select(func.count(), version.label("v"), func.min(first), func.max(first))
            count = count.select_from(models).where(*where)
            between = [
                first >= bindparam("lo", type_=first.type),
                first <= bindparam("hi", type_=first.type),
            ]
            plan = _Plan(page, count, exact, page_statement(seek + between), select(version.label("v")))
        if len(self._plans) > 2000:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _cached_count(self, key: tuple[str, ...], version: int | None) -> _Count | None:
        """The cached count of ``key``: at ``version``, or (``None``) at whatever version it was taken."""
        with self._counts_lock:
            hit = self._counts.get(key)
            if hit is not None and (version is None or hit.version == version):
                self._counts.move_to_end(key)
                return hit
        return None

    def export_models(self, account_id: str, *, batch: int = 1000) -> Iterator[bytes]:
        """Every model of an account, in name order, as canonical JSON (with ``deployedModelRefs``)."""
        after: str | None = None
        while True:
            with self.engine.connect() as conn:
                stmt = select(models.c.name, models.c.resource, models.c.deployed_model_refs).where(
                    models.c.account_id == account_id
                )
                if after is not None:
                    stmt = stmt.where(models.c.name > after)
                rows = conn.execute(stmt.order_by(models.c.name).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                if row.deployed_model_refs not in ("[]", ""):
                    resource = orjson.loads(row.resource)
                    resource["deployedModelRefs"] = orjson.loads(row.deployed_model_refs)
                    yield orjson.dumps(_ordered(resource))
                else:
                    yield row.resource.encode()
            after = rows[-1].name

    def count_all(self) -> dict[str, int]:
        """Models per account (for metrics)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(accounts.c.account_id, accounts.c.model_count)).all()
        return {r[0]: int(r[1]) for r in rows if r[1]}

    def analyze(self, *, limit: int = 0) -> None:
        """Refresh planner statistics after a bulk load (and, on PostgreSQL, the visibility map, so that
        covering indexes answer pages and counts without visiting the table). On SQLite ``limit`` bounds
        the rows examined per index (``PRAGMA analysis_limit``; 0 reads everything)."""
        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) models")
        else:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit)}")
                conn.exec_driver_sql("ANALYZE")
                conn.exec_driver_sql("PRAGMA analysis_limit = 0")
                conn.commit()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar()


class BulkLoad:
    """The writer of ``Store.bulk_load``: batches of prepared rows on the load's connection."""

    def __init__(self, store: Store, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]:
        """Like ``Store.write_rows``, in a savepoint of the load. Raises AlreadyExists."""
        with self._conn.begin_nested():
            return self._store._write_rows(self._conn, account_id, rows, upsert=upsert)


class _Txn:
    """``with store._write() as conn``: a connection in a transaction, committed on success (then
    ``after_commit`` runs)."""

    def __init__(self, conn: Connection, after_commit: Callable[[], None]) -> None:
        self.conn = conn
        self.after_commit = after_commit

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
        if exc_type is None:
            self.after_commit()


#: Rows examined per index when SQLite's statistics are refreshed after a write (a few milliseconds).
_SQLITE_ANALYSIS_LIMIT = 2000


def _crosses_size(before: int, after: int) -> bool:
    """Whether a model count went from ``before`` to at least one of 1,000, 4,000, 16,000, ..."""
    size = 1000
    while size <= after:
        if before < size:
            return True
        size *= 4
    return False


def _keyset(columns: Sequence[ColumnElement[Any]], descs: list[bool]) -> ColumnElement[bool]:
    """Rows strictly after the keyset position ``k0, k1, ...`` (parameters) in the order, with mixed
    directions (no NULLs are stored). The leading ``>=``/``<=`` lets an index range-scan."""
    keys = [bindparam(f"k{i}", type_=col.type) for i, col in enumerate(columns)]
    terms: list[ColumnElement[bool]] = []
    for i, (col, desc) in enumerate(zip(columns, descs, strict=True)):
        prefix = [columns[j] == keys[j] for j in range(i)]
        step = col < keys[i] if desc else col > keys[i]
        terms.append(and_(*prefix, step))
    first = columns[0] <= keys[0] if descs[0] else columns[0] >= keys[0]
    return and_(first, or_(*terms))


def _nanos(text: str) -> int:
    from modelyard.aip.timestamps import parse_rfc3339

    return parse_rfc3339(text) or 0


_FIELD_ORDER: dict[str, int] = {}


def _ordered(resource: dict[str, Any]) -> dict[str, Any]:
    """Keys in declaration order (stable, readable output)."""
    if not _FIELD_ORDER:
        from modelyard.resources.model import MODEL

        _FIELD_ORDER.update({f.json_name: i for i, f in enumerate(MODEL.fields)})
    try:
        keys = sorted(resource, key=_FIELD_ORDER.__getitem__)
    except KeyError:  # a key the Model does not declare: last
        keys = sorted(resource, key=lambda k: _FIELD_ORDER.get(k, 1000))
    return {k: resource[k] for k in keys}
