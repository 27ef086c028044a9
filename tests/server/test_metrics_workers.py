"""``/metrics`` of a real ``modelyard serve``: with ``--workers 2`` a scrape counts the requests of both
workers (prometheus_client's multiprocess mode, a directory per server run, removed on exit), and the
per-account ``modelyard_models`` series are opt-in (``MODELYARD_METRICS_ACCOUNTS``), never naming an
account that holds only private models unless asked to."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from modelyard.serving.server import per_worker_sockets
from tests.support.api import base_model, uid
from tests.support.databases import migrated_store, sqlite_url
from tests.support.metrics import LIST_ROUTE, labelled, scrape, value
from tests.support.server import child_pids, start_server, stop_server

COUNTER = "modelyard_http_requests_total"


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode().partition("=") for item in raw.split(b"\0") if item)
    return {name: val for name, _, val in pairs}


@pytest.mark.skipif(not per_worker_sockets(), reason="spreading connections over workers is Linux's")
def test_a_scrape_counts_the_requests_of_every_worker(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "metrics.db")
    with migrated_store(url) as store:
        key = store.create_api_key("mp", "test")
    proc, base = start_server(url, "--workers", "2")
    try:
        workers = [pid for pid in child_pids(proc.pid) if b"--multiprocessing-fork" in _cmdline(pid)]
        assert len(workers) == 2
        assert all("PROMETHEUS_MULTIPROC_DIR" in _environ(pid) for pid in workers)
        directories = {_environ(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in workers}
        assert len(directories) == 1
        metrics_dir = Path(directories.pop())
        before = scrape(base, COUNTER)
        # New connections, spread by the kernel over both workers' SO_REUSEPORT sockets (40 connections
        # all landing on one worker: 1 chance in 2**39).
        for _ in range(40):
            r = httpx.get(
                base + "/v1/accounts/mp/models",
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
        assert {f.name.split("_")[-1] for f in metrics_dir.glob("counter_*.db")} >= {
            f"{pid}.db" for pid in workers
        }, "both workers served requests"
        for _ in range(6):  # each scrape, whichever worker answers it, sees all 40
            after = scrape(base, COUNTER)
            counted = value(after, COUNTER, route=LIST_ROUTE, method="GET", status="200")
            assert counted - value(before, COUNTER, route=LIST_ROUTE, method="GET", status="200") == 40
        assert not [k for k in scrape(base) if k[0].startswith("process_")], "process_* of one worker"
    finally:
        stop_server(proc)
    assert not metrics_dir.exists(), "the multiprocess directory is removed when the server stops"


def test_per_account_model_series_are_opt_in(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "accounts.db")
    with migrated_store(url) as store:
        keys = {name: store.create_api_key(name, "test") for name in ("pub", "priv")}
    proc, base = start_server(url)
    try:
        for account, public in (("pub", True), ("pub", False), ("pub", True), ("priv", False)):
            r = httpx.post(
                f"{base}/v1/accounts/{account}/models",
                json={"modelId": uid(), "model": {**base_model(), "public": public}},
                headers={"Authorization": f"Bearer {keys[account]}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
        default = scrape(base)
        assert labelled(default, "modelyard_build_info", "version"), "the other gauges are there"
        assert labelled(default, "modelyard_models", "account") == {}, "off by default"
    finally:
        stop_server(proc)

    for mode, expected in (("public", {"pub": 2.0}), ("all", {"pub": 3.0, "priv": 1.0})):
        proc, base = start_server(url, env={"MODELYARD_METRICS_ACCOUNTS": mode})
        try:
            seen = labelled(scrape(base), "modelyard_models", "account")
            assert seen == expected, mode
        finally:
            stop_server(proc)
