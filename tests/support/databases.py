"""Real databases for tests: a fresh PostgreSQL database per use, a SQLite file, a migrated Store.

PostgreSQL comes from ``MODELYARD_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
When it is unreachable, tests that need it are skipped locally but fail when ``CI`` or
``MODELYARD_REQUIRE_PG`` is set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store

PG_ADMIN_URL = os.environ.get("MODELYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = bool(os.environ.get("CI") or os.environ.get("MODELYARD_REQUIRE_PG"))


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as e:  # pragma: no cover - depends on the machine
        return str(e)


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "modelyard_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards. Fails in CI (and skips elsewhere)
    when PostgreSQL is unreachable."""
    problem = pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (CI) but unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path, prefix: str = "modelyard_test") -> Iterator[str]:
    """The URL of a new, empty database of ``kind`` ("sqlite": a file in ``directory``; "postgresql": a
    database dropped afterwards)."""
    if kind == "sqlite":
        yield sqlite_url(directory, f"{prefix}.db")
    elif kind == "postgresql":
        with fresh_pg_database(prefix) as url:
            yield url
    else:  # pragma: no cover - a typo in a test
        raise ValueError(f"unknown database kind {kind!r}")


def sqlite_url(directory: Path, name: str = "test.db") -> str:
    """The URL of a SQLite file in ``directory`` (created on first use)."""
    return f"sqlite:///{directory / name}"


@contextlib.contextmanager
def migrated_store(url: str) -> Iterator[Store]:
    """A Store on ``url`` with the schema migrated to the latest revision; its engine is disposed after."""
    store = Store(make_engine(url))
    try:
        upgrade(store.engine)
        yield store
    finally:
        store.engine.dispose()
