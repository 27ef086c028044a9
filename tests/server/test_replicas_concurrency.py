"""Stateless replicas and concurrency without loss (through real servers on a real database)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.accounts import Account
from tests.support.server import Server, start_server, stop_server


def _base_model(display_name: str = "Model") -> dict[str, object]:
    return {
        "displayName": display_name,
        "kind": "HF_BASE_MODEL",
        "baseModelDetails": {"parameterCount": "7000000000"},
        "public": False,
    }


def _create(client: httpx.Client, url: str, model_id: str, display_name: str = "Model") -> httpx.Response:
    return client.post(url, json={"modelId": model_id, "model": _base_model(display_name)})


@pytest.fixture(scope="module")
def second_server(server: Server) -> Iterator[str]:
    """Another ``modelyard serve`` process on the same database."""
    proc, base = start_server(server.db_url)
    try:
        yield base
    finally:
        stop_server(proc)


def test_walk_alternating_between_replicas(server: Server, account: Account, second_server: str) -> None:
    for i in range(23):
        assert _create(account.client, account.url(), f"m-{i:03d}").status_code == 200
    other = httpx.Client(base_url=second_server, headers={"Authorization": f"Bearer {account.key}"})
    clients = [account.client, other]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"pageSize": 4, "orderBy": "display_name desc"}
        if token:
            params["pageToken"] = token
        r = clients[pages % 2].get(account.url(), params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [m["name"] for m in body["models"]]
        assert body["totalSize"] == 23
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break
    other.close()
    assert pages == 6
    assert sorted(seen) == sorted(f"accounts/{account.id}/models/m-{i:03d}" for i in range(23))
    assert len(set(seen)) == len(seen)


def test_concurrent_creates_of_one_id(server: Server, account: Account) -> None:
    def attempt(_: int) -> int:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {account.key}"}) as c:
            return _create(c, account.url(), "contested").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(attempt, range(50)))
    assert statuses.count(200) == 1
    assert statuses.count(409) == 49
    r = account.client.get(account.url())
    assert [m["name"].rsplit("/", 1)[1] for m in r.json()["models"]] == ["contested"]


def test_writes_during_paging_walks(server: Server, account: Account) -> None:
    """Stable models are seen exactly once by every walk, whatever else is created, updated or deleted."""
    stable = [f"stable-{i:03d}" for i in range(40)]
    for mid in stable:
        assert _create(account.client, account.url(), mid, display_name=f"S {mid}").status_code == 200
    stop = threading.Event()
    errors: list[str] = []

    def churn() -> None:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {account.key}"}) as c:
            n = 0
            while not stop.is_set() and n < 400:
                mid = f"churn-{n:04d}"
                for r in (
                    _create(c, account.url(), mid, display_name=f"C {n}"),
                    c.patch(f"{account.url()}/{mid}", json={"description": "updated"}),
                    c.delete(f"{account.url()}/{mid}"),
                ):
                    if r.status_code >= 500:
                        errors.append(r.text)
                n += 1

    def walk(order: str) -> list[str]:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {account.key}"}) as c:
            names: list[str] = []
            token = None
            while True:
                params: dict[str, str | int] = {"pageSize": 3, "orderBy": order}
                if token:
                    params["pageToken"] = token
                r = c.get(account.url(), params=params)
                assert r.status_code == 200, r.text
                names += [m["name"].rsplit("/", 1)[1] for m in r.json()["models"]]
                token = r.json().get("nextPageToken")
                if not token:
                    return names

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        walks = [walk(o) for o in ("name", "display_name desc", "create_time", "name desc")]
    finally:
        stop.set()
        churner.join()
    assert not errors
    for names in walks:
        assert len(names) == len(set(names)), "a walk returned a model twice"
        assert [n for n in names if n.startswith("stable-")] != []
        assert sorted(n for n in names if n.startswith("stable-")) == stable
