"""Exact totalSize without counting rows: ``accounts.model_count`` / ``public_count`` are kept by every write
path (API create, update, delete; admin import with and without ``--upsert``) and answer unfiltered Lists
for the three scopes (own account, another account's public models, ``accounts/-``)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, or_, select

from modelyard.store.errors import AlreadyExists
from modelyard.store.tables import accounts, models
from tests.support.accounts import Account
from tests.support.api import base_model, create, models_url, stored
from tests.support.server import Server


def _sql_counts(server: Server, caller: str, target: str) -> int:
    """What the scope sees, counted the slow way."""
    with server.store.engine.connect() as conn:
        stmt = select(func.count()).select_from(models)
        if target == "-":
            stmt = stmt.where(or_(models.c.account_id == caller, models.c.public.is_(True)))
        elif target == caller:
            stmt = stmt.where(models.c.account_id == target)
        else:
            stmt = stmt.where(models.c.account_id == target, models.c.public.is_(True))
        return int(conn.execute(stmt).scalar_one())


def _total(account: Account, target: str) -> int:
    resp = account.client.get(models_url(target), params={"pageSize": 1})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["totalSize"])


def _check(server: Server, a: Account, b: Account) -> tuple[int, int, int]:
    seen = (_total(a, a.id), _total(b, a.id), _total(a, "-"))
    assert seen == (
        _sql_counts(server, a.id, a.id),
        _sql_counts(server, b.id, a.id),
        _sql_counts(server, a.id, "-"),
    )
    with server.store.engine.connect() as conn:
        kept = conn.execute(
            select(accounts.c.model_count, accounts.c.public_count).where(accounts.c.account_id == a.id)
        ).one()
    assert tuple(kept) == (seen[0], seen[1])
    return seen


def test_unfiltered_totals_follow_every_write_path(server: Server) -> None:
    a, b = server.new_account(), server.new_account()
    assert _check(server, a, b)[:2] == (0, 0)

    server.store.import_batch(
        a.id, [("p1", stored(public=True)), ("p2", stored(public=True)), ("q1", stored())], upsert=False
    )
    assert _check(server, a, b)[:2] == (3, 2)

    create(a.client, a.id, base_model(), "c1")
    create(a.client, a.id, base_model(), "c2")
    assert _check(server, a, b)[:2] == (5, 2)

    resp = a.client.patch(models_url(a.id, "c1"), json={"displayName": "renamed"})
    assert resp.status_code == 200, resp.text
    assert _check(server, a, b)[:2] == (5, 2)

    assert a.client.delete(models_url(a.id, "p1")).status_code == 200
    assert _check(server, a, b)[:2] == (4, 1)
    assert a.client.delete(models_url(a.id, "p1")).status_code == 404  # nothing changes twice
    assert _check(server, a, b)[:2] == (4, 1)

    # Upsert: p2 becomes private, q1 public, n1 is new and public.
    created, replaced = server.store.import_batch(
        a.id, [("p2", stored()), ("q1", stored(public=True)), ("n1", stored(public=True))], upsert=True
    )
    assert (created, replaced) == (1, 2)
    assert _check(server, a, b)[:2] == (5, 2)

    # A rejected batch changes nothing.
    with pytest.raises(AlreadyExists):
        server.store.import_batch(a.id, [("n2", stored(public=True)), ("n1", stored())], upsert=False)
    assert _check(server, a, b)[:2] == (5, 2)

    # A failed create (the id exists) changes nothing either.
    resp = a.client.post(models_url(a.id), json={"modelId": "c2", "model": base_model()})
    assert resp.status_code == 409
    assert _check(server, a, b)[:2] == (5, 2)

    for model_id in ("p2", "q1", "n1", "c1", "c2"):
        assert a.client.delete(models_url(a.id, model_id)).status_code == 200
    assert _check(server, a, b)[:2] == (0, 0)


def test_filtered_and_unfiltered_totals_agree(server: Server) -> None:
    a = server.new_account()
    server.store.import_batch(a.id, [(f"m{i}", stored(public=i % 3 == 0)) for i in range(10)], upsert=False)
    unfiltered = _total(a, a.id)
    resp = a.client.get(models_url(a.id), params={"filter": 'name:"models/"', "pageSize": 1})
    assert resp.status_code == 200, resp.text
    assert unfiltered == int(resp.json()["totalSize"]) == 10


def _names(account: Account, params: dict[str, str]) -> tuple[list[str], int]:
    resp = account.client.get(models_url(account.id), params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return [m["name"].rsplit("/", 1)[1] for m in body.get("models", [])], int(body["totalSize"])


def test_cached_bounds_never_hide_models_written_later(server: Server) -> None:
    """A filtered List walks only between the first order column's smallest and largest matching value,
    computed with the count for one data version. Models written afterwards by another process, outside
    the old bounds on either side, must still be listed (the page notices the new version)."""
    a = server.new_account()
    items = [(f"m-{i:03d}", stored(displayName=f"Other {i}")) for i in range(40)]
    items += [(f"q-{i:03d}", stored(displayName=f"Qwen {i}")) for i in range(5)]
    server.store.import_batch(a.id, items, upsert=False)
    params = {"filter": 'display_name = "Qwen*"', "pageSize": "3"}
    first, total = _names(a, params)
    assert (first, total) == (["q-000", "q-001", "q-002"], 5)
    assert _names(a, params) == (first, total)  # served with the cached bounds

    server.store.import_batch(a.id, [("a-early", stored(displayName="Qwen early"))], upsert=False)
    assert _names(a, params) == (["a-early", "q-000", "q-001"], 6)

    server.store.import_batch(a.id, [("z-late", stored(displayName="Qwen late"))], upsert=False)
    everything = {**params, "pageSize": "100"}
    assert _names(a, everything) == (["a-early", "q-000", "q-001", "q-002", "q-003", "q-004", "z-late"], 7)

    # Bounds on another first order column, in descending order.
    by_time = {"filter": 'display_name = "Qwen*"', "orderBy": "update_time desc", "pageSize": "2"}
    before, _ = _names(a, by_time)
    newest = stored(displayName="Qwen newest", updateTime="2099-01-01T00:00:00Z")
    server.store.import_batch(a.id, [("n-newest", newest)], upsert=False)
    after, total = _names(a, by_time)
    assert after[0] == "n-newest" and after[1] == before[0] and total == 8

    # No match at all, then one.
    none = {"filter": 'display_name = "Mistral*"'}
    assert _names(a, none) == ([], 0)
    server.store.import_batch(a.id, [("mistral", stored(displayName="Mistral 7B"))], upsert=False)
    assert _names(a, none) == (["mistral"], 1)
    assert a.client.delete(models_url(a.id, "mistral")).status_code == 200
    assert _names(a, none) == ([], 0)
