"""SQLite has no autovacuum: modelyard refreshes the planner's statistics itself when an account grows past
1,000, 4,000, 16,000, ... models, whichever path the models arrive by (here: an API create). Without them
SQLite serves a typical filter from the wrong index and sorts (25.8 ms against 0.32 ms at 100k models,
docs/benchmarks.md)."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from modelyard.store.repository import Store
from modelyard.store.statistics import crosses_size
from tests.support.api import base_model, stored
from tests.support.server import start_server, stop_server

#: The key subquery of a page filtered on kind = HF_BASE_MODEL (number 1), in name order.
KIND_PAGE = "EXPLAIN QUERY PLAN SELECT name FROM models WHERE account_id = 'grow' AND kind = 1 ORDER BY name"


def _stat_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        exists = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar()
        if not exists:
            return 0
        return int(conn.execute(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'models'")).scalar_one())


def test_crossing_sizes() -> None:
    assert not crosses_size(0, 999)
    assert crosses_size(999, 1000)
    assert crosses_size(0, 5000)
    assert not crosses_size(1000, 3999)
    assert crosses_size(3999, 4000)
    assert crosses_size(15_000, 70_000)


def test_statistics_refresh_when_an_account_grows_through_the_api(sqlite_store: Store) -> None:
    store = sqlite_store
    url = str(store.engine.url)
    items = [
        (f"m{i:04d}", stored(kind="HF_BASE_MODEL" if i % 50 == 0 else "HF_PEFT_ADDON")) for i in range(999)
    ]
    store.import_batch("grow", items, upsert=False)
    assert _stat_rows(store) == 0
    key = store.create_api_key("grow")
    proc, base = start_server(url)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            resp = client.post(
                "/v1/accounts/grow/models", json={"modelId": "one-more", "model": base_model()}
            )
            assert resp.status_code == 200, resp.text
            assert _stat_rows(store) > 0  # ANALYZE ran after the commit that reached 1,000 models
            listed = client.get("/v1/accounts/grow/models", params={"filter": "kind = HF_BASE_MODEL"})
            assert listed.status_code == 200, listed.text
            assert listed.json()["totalSize"] == 20 + 1
    finally:
        stop_server(proc)
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text(KIND_PAGE)))
    assert "TEMP B-TREE" not in plan, plan
    store.engine.dispose()
