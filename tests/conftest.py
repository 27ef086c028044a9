"""Fixtures shared by every layer: real databases (a SQLite file, a PostgreSQL database per run) and a real
server. Helpers (classes, functions) live in ``tests/support/``; layer-specific fixtures live in each
folder's ``conftest.py``.

Every test that takes ``backend`` runs on both SQLite and PostgreSQL. PostgreSQL comes from
``MODELYARD_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); each run creates
its own database and drops it afterwards. When PostgreSQL is unreachable the PostgreSQL half is
skipped locally, but fails when ``CI`` or ``MODELYARD_REQUIRE_PG`` is set.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from modelyard.store.repository import Store
from tests.support.accounts import Account
from tests.support.databases import fresh_database, fresh_pg_database, migrated_store, sqlite_url
from tests.support.server import Server, start_server, stop_server

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modelyard-tests-") as d:
        yield Path(d)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_root: Path) -> str:
    """A database URL of each kind (session-scoped; tests isolate themselves by account)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_root / 'session.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture(scope="session")
def server(backend: str) -> Iterator[Server]:
    """A running ``modelyard serve`` on the backend's database."""
    with migrated_store(backend) as store:
        proc, base = start_server(backend)
        srv = Server(base, backend, store, proc)
        try:
            yield srv
        finally:
            for c in srv.clients:
                c.close()
            stop_server(proc)


@pytest.fixture()
def account(server: Server) -> Account:
    """A fresh account with an API key and an authenticated client for the running server."""
    return server.new_account()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new database of each kind without any schema (a PostgreSQL one is dropped after)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture()
def empty_db(blank_db: str) -> str:
    """The URL of a new database of each kind with the schema migrated and no models."""
    with migrated_store(blank_db):
        return blank_db


@pytest.fixture()
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A Store on a new SQLite file with the schema migrated (its URL: ``str(store.engine.url)``)."""
    with migrated_store(sqlite_url(tmp_path)) as store:
        yield store
