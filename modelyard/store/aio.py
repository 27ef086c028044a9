"""Reads on an asyncio connection pool (PostgreSQL, psycopg 3), for the List path.

The store builds its statements with SQLAlchemy Core (one source of SQL for both databases and both
drivers); here each statement is compiled once for the psycopg dialect and then executed directly on an
``AsyncConnection`` from ``psycopg_pool``, so a page costs one network round trip and no thread hop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from sqlalchemy.engine import Compiled
from sqlalchemy.sql import ClauseElement

_Processors = dict[str, Callable[[Any], Any]]

#: How long a List waits for a connection (opening the pool, or all connections busy) before UNAVAILABLE.
POOL_WAIT_SECONDS = 10.0


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

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        return _Borrow(self)

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
                    min_size=1,
                    max_size=self.max_size,
                    # As the blocking engine: no server-side prepared statements (generic plans).
                    kwargs={"autocommit": True, "prepare_threshold": None},
                    open=False,
                )
                await pool.open(wait=True, timeout=POOL_WAIT_SECONDS)
                self._pool = pool
            return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.close()

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
    def __init__(self, reader: AsyncReader) -> None:
        self.reader = reader
        self.inner: AbstractAsyncContextManager[AsyncConnection[Any]] | None = None

    async def __aenter__(self) -> AsyncConnection[Any]:
        pool = await self.reader.pool()
        self.inner = pool.connection(timeout=POOL_WAIT_SECONDS)
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        assert self.inner is not None
        await self.inner.__aexit__(*exc)


def prepared(statement: ClauseElement) -> bool:
    """Whether to run ``statement`` as a prepared statement: only those marked so, whose generic plan is
    as good as a custom one (no filter constants, no bounds); planning costs ~0.2 ms of server CPU."""
    options = getattr(statement, "get_execution_options", None)
    return bool(options().get("prepare", False)) if options is not None else False
