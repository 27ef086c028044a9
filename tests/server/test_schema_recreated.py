"""A database recreated empty under a running server: ``/readyz`` notices (it checks the schema on every
call), List, Get and Create answer a google.rpc UNAVAILABLE naming the missing schema (never a 500
INTERNAL), and once the migrations run again the server is ready without a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.api import base_model
from tests.support.databases import PG_ADMIN_URL, fresh_database, migrated_store
from tests.support.server import start_server, stop_server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, "modelyard_test_recreated") as url:
        yield url


def recreate_empty(url: str) -> None:
    """The database of ``url``, dropped and created again without any table (SQLite: every table dropped
    in place, since the server's open connections would keep a deleted file alive)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA foreign_keys=OFF")
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                conn.execute(f'DROP TABLE IF EXISTS "{table}"')  # FTS5 drops its shadow tables itself
        return
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def test_a_database_recreated_empty_is_unavailable_not_internal(db_url: str) -> None:
    with migrated_store(db_url) as store:
        key = store.create_api_key("acct")
    proc, base = start_server(db_url)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            created = client.post("/v1/accounts/acct/models", json={"modelId": "m1", "model": base_model()})
            assert created.status_code == 200, created.text
            assert client.get("/readyz").status_code == 200

            recreate_empty(db_url)

            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["details"][0]["reason"] == "SCHEMA_NOT_CURRENT"
            assert ready.json()["details"][0]["metadata"]["current"] == "none"
            requests = [
                ("GET", "/v1/accounts/acct/models", None),
                ("GET", "/v1/accounts/acct/models/m1", None),
                ("POST", "/v1/accounts/acct/models", {"modelId": "m2", "model": base_model()}),
                ("GET", "/v1/accounts/acct/models", None),
            ]
            for method, path, body in requests:
                resp = client.request(method, path, json=body)
                assert resp.status_code == 503, (method, path, resp.text)
                error = resp.json()
                assert error["code"] == 14
                assert error["details"][0]["reason"] == "SCHEMA_NOT_CURRENT", error
                assert "migrations" in error["message"] and "relation" not in error["message"]

            with migrated_store(db_url) as store:  # what any modelyard command does
                key = store.create_api_key("acct")
            assert client.get("/readyz").status_code == 200
            listed = client.get("/v1/accounts/acct/models", headers={"Authorization": f"Bearer {key}"})
            assert listed.status_code == 200, listed.text
            assert listed.json()["models"] == []
    finally:
        stop_server(proc)


def test_a_key_checked_after_the_database_was_recreated_is_schema_not_current(db_url: str) -> None:
    """A key the server has not checked yet reads the database: with the schema gone every route, the
    identity routes and the catalog included, answers 503 SCHEMA_NOT_CURRENT (not a 500)."""
    with migrated_store(db_url) as store:
        seen = store.create_api_key("acct")
        unseen = store.create_api_key("acct")
    proc, base = start_server(db_url)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            first = client.get("/v1/accounts/acct/models", headers={"Authorization": f"Bearer {seen}"})
            assert first.is_success
            recreate_empty(db_url)
            headers = {"Authorization": f"Bearer {unseen}"}
            for path in (
                "/v1/accounts/acct/models",
                "/v1/accounts/acct/users",
                "/v1/accounts/acct/auditLogs",
                "/v1/accounts/acct/users/admin/apiKeys",
                "/catalog",
            ):
                resp = client.get(path, headers=headers)
                assert resp.status_code == 503, (path, resp.text)
                assert resp.json()["details"][0]["reason"] == "SCHEMA_NOT_CURRENT", (path, resp.text)
            refused = client.post(
                "/v1/accounts/acct/users/admin/apiKeys:delete", json={"keyId": "x"}, headers=headers
            )
            assert refused.status_code == 503
            assert refused.json()["details"][0]["reason"] == "SCHEMA_NOT_CURRENT"
    finally:
        stop_server(proc)
