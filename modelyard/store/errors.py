"""The store's errors, and the one place where database driver errors become them.

Every ``Store`` method runs inside ``translated`` (``with translated:``, or the ``translating``
decorator): a driver or pool error meaning the database cannot answer now (connection refused or lost, no
connection within the pool's wait) leaves the store as ``Unavailable``, chained to the driver's error.
Callers (the API, the CLI) catch these classes and never import psycopg or SQLAlchemy.

A database that answers but lacks modelyard's tables (recreated empty, never migrated) raises
``SchemaMissing``, an ``Unavailable`` too: the API answers 503, as ``/readyz`` does, instead of a 500.

Idempotent reads marked ``retried_once`` run a second time when their connection turns out to be dead
(the database restarted or terminated it): SQLAlchemy then invalidates every connection of the pool that
is older, so the second attempt runs on a fresh connection.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError


class NotFound(Exception):
    """The resource does not exist; ``args[0]`` is its full name (``accounts/a/models/m``). The doors
    answer NOT_FOUND naming it (``modelyard.errors.known_error``): no route catches it."""

    @property
    def name(self) -> str:
        return str(self.args[0]) if self.args else ""


class AlreadyExists(Exception):
    """A resource of that name exists; ``args[0]`` is its full name. The doors answer ALREADY_EXISTS."""

    @property
    def name(self) -> str:
        return str(self.args[0]) if self.args else ""


class Refused(Exception):
    """A write the data does not allow (``message`` for people, ``reason`` for programs); the doors
    answer FAILED_PRECONDITION."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class CatalogNotEmpty(Exception):
    """A bulk load was asked for, but the catalog already holds models."""


class Unavailable(Exception):
    """The database does not answer (connection refused or lost, no connection within the pool's wait)."""


class SchemaMissing(Unavailable):
    """The database answers but a table of modelyard's schema is missing (run the migrations)."""


#: Driver and pool errors that mean the database cannot answer now (as opposed to a bug or bad data).
DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    SQLAlchemyTimeoutError,
    psycopg.OperationalError,
    PoolTimeout,
)

#: Kept for callers of the former ``store.repository.UNAVAILABLE_ERRORS``: with every Store method
#: translated, ``Unavailable`` is the only one they see.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (Unavailable,)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (driver messages run over several), or its type's name."""
    return (str(exc) or type(exc).__name__).splitlines()[0]


class _Translated:
    """``with translated:``: driver errors that mean "the database does not answer" become Unavailable.

    Stateless, so one instance serves every thread and task (no per-call allocation on the List path)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            return
        if schema_missing(exc):
            raise SchemaMissing(first_line(exc)) from exc
        if isinstance(exc, DRIVER_UNAVAILABLE):
            raise Unavailable(first_line(exc)) from exc


def schema_missing(exc: BaseException) -> bool:
    """Whether ``exc`` says a table does not exist (PostgreSQL's SQLSTATE 42P01, SQLite's "no such
    table"), from SQLAlchemy or straight from psycopg (the asyncio List path)."""
    if isinstance(exc, ProgrammingError | OperationalError):
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return True
    return type(exc).__name__ == "OperationalError" and str(exc).startswith("no such table")


def retried_once(function: F) -> F:
    """``function`` (a plain, idempotent read) run once more when it failed on a connection the
    database had closed (a restart, ``pg_terminate_backend``): the retry gets a fresh connection."""

    @functools.wraps(function)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DBAPIError as e:
            if not e.connection_invalidated:
                raise
        return function(*args, **kwargs)

    return plain  # type: ignore[return-value]


translated = _Translated()

F = TypeVar("F", bound=Callable[..., Any])


def translating(function: F) -> F:
    """``function`` (plain, coroutine or generator) with its body run ``translated``."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            with translated:
                return await function(*args, **kwargs)

        return coroutine  # type: ignore[return-value]
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            with translated:
                return (yield from function(*args, **kwargs))

        return generator  # type: ignore[return-value]

    @functools.wraps(function)
    def plain(*args: Any, **kwargs: Any) -> Any:
        with translated:
            return function(*args, **kwargs)

    return plain  # type: ignore[return-value]


__all__ = [
    "DRIVER_UNAVAILABLE",
    "UNAVAILABLE_ERRORS",
    "AlreadyExists",
    "CatalogNotEmpty",
    "NotFound",
    "Refused",
    "SchemaMissing",
    "Unavailable",
    "first_line",
    "retried_once",
    "schema_missing",
    "translated",
    "translating",
]
