"""When PostgreSQL drops the server's connections (a restart, a failover), List and Get answer a
google.rpc UNAVAILABLE (503, which the SDK retries) that names no internals, and the next request
reconnects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.support.api import base_model
from tests.support.databases import PG_ADMIN_URL, fresh_pg_database, migrated_store
from tests.support.server import start_server, stop_server


@pytest.fixture()
def pg_url() -> Iterator[str]:
    with fresh_pg_database("modelyard_test_unavail") as url:
        yield url


def test_lost_connections_give_unavailable_then_recover(pg_url: str) -> None:
    with migrated_store(pg_url) as store:
        key = store.create_api_key("acct")
    proc, base = start_server(pg_url)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            assert client.get("/v1/accounts/acct/models").status_code == 200
            created = client.post("/v1/accounts/acct/models", json={"modelId": "m1", "model": base_model()})
            assert created.status_code == 200, created.text
            assert client.get("/v1/accounts/acct/models/m1").status_code == 200
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (pg_url.rsplit("/", 1)[1],),
                )
            statuses = []
            for _ in range(3):
                resp = client.get("/v1/accounts/acct/models")
                statuses.append(resp.status_code)
                if resp.status_code == 503:
                    body = resp.json()
                    assert body["code"] == 14
                    assert body["details"][0]["reason"] == "DATABASE_UNAVAILABLE"
                    assert "127.0.0.1" not in body["message"] and "terminat" not in body["message"]
            assert statuses[0] == 503, statuses  # the pooled connection was dead
            assert statuses[-1] == 200, statuses  # and the pool reconnected
            # Get runs on the blocking engine's pool, whose connections were terminated too.
            got = [client.get("/v1/accounts/acct/models/m1") for _ in range(3)]
            assert got[0].status_code == 503, [g.status_code for g in got]
            assert got[0].json()["code"] == 14 and "terminat" not in got[0].json()["message"]
            assert got[-1].status_code == 200
    finally:
        stop_server(proc)
