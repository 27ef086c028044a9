"""``GET /v1/accounts/{account_id}/models`` is served in front of FastAPI's router (api/fastpath.py). What
the router gave it must still hold: errors in the google.rpc shape, an unexpected failure as a logged
``INTERNAL`` 500 with the request id, the route template in metrics, and everything else (HEAD, other
paths) still routed by FastAPI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.api.app import create_app
from modelyard.store.engine import make_engine
from modelyard.store.repository import Store


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _requests(app: Any, *calls: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.request(method, url, headers=headers) for method, url, headers in calls]


@pytest.fixture()
def app_and_key(tmp_path: Path) -> tuple[Any, str, Store]:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'fast.db'}"))
    app = create_app(store)
    key = store.create_api_key("fast")
    return app, key, store


def test_unexpected_failure_is_an_internal_error_with_request_id(
    app_and_key: tuple[Any, str, Store], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app, key, store = app_and_key

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "alist_models", broken)
    auth = {"Authorization": f"Bearer {key}", "X-Request-Id": "req-123"}
    (resp,) = _run(_requests(app, ("GET", "/v1/accounts/fast/models", auth)))
    assert resp.status_code == 500
    body = resp.json()
    assert body["code"] == 13 and "internal error" in body["message"] and "disk" not in body["message"]
    assert resp.headers["x-request-id"] == "req-123"
    assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)


def test_errors_routes_and_metrics(app_and_key: tuple[Any, str, Store]) -> None:
    app, key, _ = app_and_key
    auth = {"Authorization": f"Bearer {key}"}
    missing, bad_filter, ok, head, other, metrics = _run(
        _requests(
            app,
            ("GET", "/v1/accounts/fast/models", {}),
            ("GET", "/v1/accounts/fast/models?filter=display_name%20%3D", auth),
            ("GET", "/v1/accounts/fast/models?pageSize=1", auth),
            ("HEAD", "/v1/accounts/fast/models", auth),
            ("GET", "/v1/accounts/fast/models/nope", auth),
            ("GET", "/metrics", {}),
        )
    )
    assert missing.status_code == 401 and missing.json()["code"] == 16
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert bad_filter.status_code == 400 and bad_filter.json()["code"] == 3
    assert bad_filter.json()["details"][1]["fieldViolations"][0]["field"] == "filter"
    assert ok.status_code == 200 and ok.json() == {"models": [], "totalSize": 0}
    assert head.status_code == 200 and head.content == b""  # HEAD is the GET without its body
    assert other.status_code == 404 and other.json()["code"] == 5
    text = metrics.text
    assert 'route="/v1/accounts/{account_id}/models"' in text
    assert 'status="401"' in text and 'status="400"' in text


def test_sqlite_list_runs_in_a_bounded_number_of_threads(
    app_and_key: tuple[Any, str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent SQLite Lists share SQLITE_LIST_THREADS threads (more threads only fight over the GIL),
    and every request still gets its page.

    Observed with counters, not sleeps: every List that reaches a thread is held at a gate until all 12
    requests are accounted for, each either in a thread or queued at the store's limiter. At that moment
    exactly SQLITE_LIST_THREADS Lists are running (one more would be in a thread too); then the gate
    opens and the counter keeps checking that no more ever run at once."""
    import threading

    from modelyard.store import listing

    requests = 12
    app, key, store = app_and_key
    for i in range(5):
        store.create_model("fast", f"m{i}", {"displayName": f"M {i}"})
    running, most, lock = 0, 0, threading.Condition()
    gate_open = False
    real = store.lister.list_models

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            # A hang guard only: the observer opens the gate as soon as every request is accounted for.
            assert lock.wait_for(lambda: gate_open, timeout=60), "the gate never opened"
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(store.lister, "list_models", counting)
    auth = {"Authorization": f"Bearer {key}"}

    async def observe() -> tuple[int, int]:
        """Wait (yielding to the event loop) until every request is in a thread or queued at the limiter;
        return (running, queued) at that moment and open the gate."""
        nonlocal gate_open
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 60  # a hang guard, not a timing assertion
        while True:
            limiter = store.lister._readers
            queued = limiter.statistics().tasks_waiting if limiter is not None else 0
            with lock:
                seen = running
                if seen + queued == requests or loop.time() > give_up:
                    gate_open = True
                    lock.notify_all()
                    return seen, queued
            await asyncio.sleep(0.001)

    async def concurrently() -> tuple[list[httpx.Response], tuple[int, int]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            observed = asyncio.create_task(observe())
            responses = await asyncio.gather(
                *(
                    client.get(f"/v1/accounts/fast/models?pageSize={1 + i % 5}", headers=auth)
                    for i in range(requests)
                )
            )
            return list(responses), await observed

    responses, (at_once, queued) = _run(concurrently())
    assert (at_once, queued) == (listing.SQLITE_LIST_THREADS, requests - listing.SQLITE_LIST_THREADS)
    assert [len(r.json()["models"]) for r in responses] == [1 + i % 5 for i in range(requests)]
    assert most == listing.SQLITE_LIST_THREADS
