"""Reads on an asyncio connection pool (PostgreSQL, psycopg 3), for the List path.

The store builds its statements with SQLAlchemy Core (one source of SQL for both databases and both
drivers); here each statement is compiled once for the psycopg dialect and then executed directly on an
``AsyncConnection`` from ``psycopg_pool``, so a page costs one network round trip and no thread hop.

Outages. The pool cannot tell that its idle connections died (a database restart, ``pg_terminate_backend``)
and, once the database refuses connections, retries in the background with a growing backoff while Lists
wait up to :data:`POOL_WAIT_SECONDS` for it. So the reader records every connection attempt's outcome
(its pool's ``connection_class``) and a List:

* borrows from the pool while the last attempt succeeded after the pool was made (the normal case: no
  extra cost);
* otherwise, when the pool has no idle connection, connects directly (:meth:`AsyncReader.fresh`): a
  database that refuses answers at once (UNAVAILABLE without waiting for the pool); one that is back
  serves this List on that connection and gets a new pool (the old one, maybe in its backoff, is closed);
* runs once more on a direct connection when its pooled connection turns out broken (the pool's other idle
  connections are likely dead too, so the pool is renewed as well).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from sqlalchemy.engine import Compiled
from sqlalchemy.sql import ClauseElement

_Processors = dict[str, Callable[[Any], Any]]

#: How long a List waits for a connection (opening the pool, or all connections busy) before UNAVAILABLE.
POOL_WAIT_SECONDS = 10.0
#: How long a direct connection attempt may take (a database that refuses answers at once).
CONNECT_TIMEOUT_SECONDS = 5


class AsyncReader:
    """Autocommit connections (each statement its own snapshot) on the running event loop."""

    def __init__(self, engine: Engine, *, max_size: int) -> None:
        self.dialect = engine.dialect
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.max_size = max_size
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        # id(statement) -> (statement, SQL text, compiled, bind processors). The statement is kept so
        # that its id cannot be reused while the entry lives.
        self._compiled: dict[int, tuple[ClauseElement, str, Compiled, _Processors]] = {}
        self._lock = threading.Lock()
        # Outcomes of connection attempts and of pooled connections (time.monotonic()); 0: never.
        self._connected_at = 0.0
        self._failed_at = 0.0
        self._broken_at = 0.0
        self._pool_born = 0.0
        self._closing: set[asyncio.Task[None]] = set()
        self.connection_class = self._recording_class()

    def _recording_class(self) -> type[AsyncConnection[Any]]:
        reader = self

        class RecordingConnection(AsyncConnection[Any]):
            """Records whether connecting worked (the pool connects in the background)."""

            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                try:
                    conn = await super().connect(*args, **kwargs)
                except psycopg.OperationalError:
                    reader._failed_at = time.monotonic()
                    raise
                reader._connected_at = time.monotonic()
                return conn

        return RecordingConnection

    def connecting_fails(self) -> bool:
        """Whether no connection attempt succeeded since the last one failed or since the pool was made
        (a new pool that cannot connect would keep a List waiting for :data:`POOL_WAIT_SECONDS`)."""
        return self._connected_at <= max(self._failed_at, self._pool_born)

    def mark_broken(self) -> None:
        """A pooled connection was found dead."""
        self._broken_at = time.monotonic()

    async def fresh(self) -> AsyncConnection[Any]:
        """A connection of its own (not pooled; close it after use). Raises psycopg.OperationalError at
        once when the database refuses. After an outage this also replaces the pool."""
        conn = await self.connection_class.connect(
            self.conninfo,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        if self._pool is not None and max(self._failed_at, self._broken_at) >= self._pool_born:
            self._renew()
        return conn

    def _renew(self) -> None:
        """Drop the pool (closed in the background, once its borrowed connections are back); the next
        List opens a new one, which connects at once instead of after the old one's backoff."""
        old, self._pool = self._pool, None
        if old is not None:
            task = asyncio.get_running_loop().create_task(old.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def connection(self, *, fresh: bool = False) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        """A pooled connection, or (``fresh``, or while connecting fails and the pool has no idle
        connection) a direct one."""
        return _Borrow(self, fresh)

    async def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            self._opening, self._loop, self._pool = asyncio.Lock(), loop, None
        async with self._opening:
            if self._pool is None:
                pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                    self.conninfo,
                    connection_class=self.connection_class,
                    min_size=1,
                    max_size=self.max_size,
                    # As the blocking engine: no server-side prepared statements (generic plans).
                    kwargs={"autocommit": True, "prepare_threshold": None},
                    open=False,
                )
                # Not waiting: a List finds the pool without a connection and connects directly.
                await pool.open(wait=False)
                self._pool_born = time.monotonic()
                self._pool = pool
            return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()
        for task in list(self._closing):
            await task

    def compile(self, statement: ClauseElement, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The SQL text and driver parameters of ``statement`` with ``params`` (compiled once).

        A statement built with ``.execution_options(prepare=True)`` should be executed as a server-side
        prepared statement (see ``prepared``)."""
        entry = self._compiled.get(id(statement))
        if entry is None:
            compiled = statement.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
            processors: _Processors = dict(getattr(compiled, "_bind_processors", {}) or {})
            entry = (statement, compiled.string, compiled, processors)
            with self._lock:
                if len(self._compiled) > 8000:
                    self._compiled.clear()
                self._compiled[id(statement)] = entry
        _, sql, compiled, processors = entry
        values = dict(compiled.construct_params(params) or {})
        for name, process in processors.items():
            if name in values:
                values[name] = process(values[name])
        return sql, values


class _Borrow:
    def __init__(self, reader: AsyncReader, fresh: bool) -> None:
        self.reader = reader
        self.fresh = fresh
        self.inner: AbstractAsyncContextManager[AsyncConnection[Any]] | None = None
        self.direct: AsyncConnection[Any] | None = None

    async def __aenter__(self) -> AsyncConnection[Any]:
        reader = self.reader
        pool = await reader.pool()
        if self.fresh or (reader.connecting_fails() and not pool.get_stats().get("pool_available")):
            self.direct = await reader.fresh()
            return self.direct
        self.inner = pool.connection(timeout=POOL_WAIT_SECONDS)
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        if self.direct is not None:
            await self.direct.close()
            return
        assert self.inner is not None
        await self.inner.__aexit__(*exc)


def prepared(statement: ClauseElement) -> bool:
    """Whether to run ``statement`` as a prepared statement: only those marked so, whose generic plan is
    as good as a custom one (no filter constants, no bounds); planning costs ~0.2 ms of server CPU."""
    options = getattr(statement, "get_execution_options", None)
    return bool(options().get("prepare", False)) if options is not None else False
