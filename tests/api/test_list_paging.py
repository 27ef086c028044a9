"""List Models over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): walks, page tokens
(opaque, signed, expiring, usable on any replica), exact totalSize and keyset stability under writes
(decisions.md "List paging").

Most data is seeded with ``server.store.import_batch``; every read goes through the HTTP API.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from modelyard.aip.pagetoken import PageTokenCodec, digest
from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    TOKEN_RE,
    assert_error,
    base_model,
    create,
    ids,
    models_url,
    names,
    page,
    seed,
    seed_n,
    stored,
    uid,
    walk,
)
from tests.support.server import Server, start_server, stop_server

# ---------------------------------------------------------------------------------------------------
# Walks, tokens, totalSize
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_walk_returns_every_model_once_in_order(server: Server, account: Account, size: int) -> None:
    expected = seed_n(server, account, 10)
    models, pages = walk(account.client, account.url(), page_size=size)
    assert names(models) == expected
    assert len(pages) == -(-10 // size)


def test_exact_multiple_of_the_page_size_ends_without_an_empty_page(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 4)
    models, pages = walk(account.client, account.url(), page_size=2)
    assert names(models) == expected
    assert len(pages) == 2
    assert "nextPageToken" not in pages[-1]


def test_tokens_are_opaque_url_safe_and_never_reused(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 6)
    tokens = [page(account, {"pageSize": 2})["nextPageToken"] for _ in range(3)]
    assert len(set(tokens)) == 3, "identical first-page requests must get different tokens"
    _, pages = walk(account.client, account.url(), page_size=1)
    walk_tokens = [p["nextPageToken"] for p in pages if "nextPageToken" in p]
    assert len(walk_tokens) == 5 and len(set(walk_tokens + tokens)) == 8
    for token in tokens + walk_tokens:
        assert TOKEN_RE.match(token), token
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        for name in expected:
            assert name.encode() not in raw and name.rsplit("/", 1)[1].encode() not in raw
    # every token of the walk still works, and the same token gives the same page
    again = page(account, {"pageSize": 1, "pageToken": walk_tokens[2]})
    assert again["models"] == pages[3]["models"]


def test_every_issued_token_is_distinct_across_parallel_walks(server: Server, account: Account) -> None:
    seed_n(server, account, 5)
    tokens: list[str] = []
    for _ in range(2):
        _, pages = walk(account.client, account.url(), page_size=1)
        tokens += [p["nextPageToken"] for p in pages if "nextPageToken" in p]
    assert len(tokens) == 8 and len(set(tokens)) == 8


def test_expired_token_is_400_page_token_expired(server: Server, account: Account) -> None:
    names_ = seed_n(server, account, 3)
    codec = PageTokenCodec(server.store.secret("page_token_key"))
    payload = {
        "k": [names_[0]],
        "a": digest(account.id),
        "u": digest(account.id),
        "f": digest(""),
        "o": digest("name"),
    }
    # control: the same construction, 2 days old, is accepted (so the binding above is right)
    fresh = codec.encode(payload, now=time.time() - 2 * 24 * 3600)
    body = page(account, {"pageSize": 1, "pageToken": fresh})
    assert names(body["models"]) == [names_[1]]
    expired = codec.encode(payload, now=time.time() - 4 * 24 * 3600)
    resp = account.client.get(account.url(), params={"pageSize": 1, "pageToken": expired})
    assert_error(resp, 400, INVALID_ARGUMENT, reason="PAGE_TOKEN_EXPIRED", field="pageToken")


def test_token_signed_with_another_key_is_400(server: Server, account: Account) -> None:
    names_ = seed_n(server, account, 3)
    codec = PageTokenCodec(b"\x07" * 32)
    forged = codec.encode(
        {
            "k": [names_[0]],
            "a": digest(account.id),
            "u": digest(account.id),
            "f": digest(""),
            "o": digest("name"),
        }
    )
    resp = account.client.get(account.url(), params={"pageSize": 1, "pageToken": forged})
    assert_error(resp, 400, INVALID_ARGUMENT, field="pageToken")


def test_any_replica_on_the_same_database_continues_a_walk(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 5)
    first = page(account, {"pageSize": 2})
    proc, base = start_server(server.db_url)
    try:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {account.key}"}, timeout=30
        ) as c2:
            resp = c2.get(account.url(), params={"pageSize": 2, "pageToken": first["nextPageToken"]})
            assert resp.status_code == 200, resp.text
            second = resp.json()
    finally:
        stop_server(proc)
    third = page(account, {"pageSize": 2, "pageToken": second["nextPageToken"]})
    assert names(first["models"] + second["models"] + third["models"]) == expected


def test_total_size_follows_inserts_deletes_and_visibility(server: Server, account: Account) -> None:
    seed_n(server, account, 3)
    assert page(account)["totalSize"] == 3
    created = create(account.client, account.id, base_model())
    assert page(account)["totalSize"] == 4
    assert page(account, {"pageSize": 1})["totalSize"] == 4
    server.store.import_batch(account.id, [(uid(), stored())], upsert=False)  # another process writes
    assert page(account)["totalSize"] == 5
    assert account.client.delete(account.url() + "/" + created["name"].rsplit("/", 1)[1]).status_code == 200
    assert page(account)["totalSize"] == 4
    # another account's view counts public models only, and follows visibility changes
    other = server.new_account()
    assert page(other, url=account.url())["totalSize"] == 0
    assert account.client.patch(account.url() + "/m-0001", json={"public": True}).status_code == 200
    assert page(other, url=account.url())["totalSize"] == 1
    assert page(other, url=account.url(), params={"filter": "public = true"})["totalSize"] == 1
    assert page(account, {"filter": "public = true"})["totalSize"] == 1
    assert account.client.delete(account.url() + "/m-0001").status_code == 200
    assert page(other, url=account.url())["totalSize"] == 0
    assert page(account)["totalSize"] == 3


def test_total_size_for_all_accounts(server: Server, account: Account) -> None:
    other = server.new_account()
    tag = uid("tag")
    seed(server, account, {f"a-{i}": stored(description=tag) for i in range(2)})
    seed(server, other, {f"b-{i}": stored(description=tag, public=i < 2) for i in range(4)})
    body = page(account, {"filter": f'description = "{tag}"'}, url=models_url("-"))
    assert body["totalSize"] == 4
    assert sorted(names(body["models"])) == sorted(
        [f"accounts/{account.id}/models/a-{i}" for i in range(2)]
        + [f"accounts/{other.id}/models/b-{i}" for i in range(2)]
    )
    models, pages = walk(account.client, models_url("-"), {"filter": f'description = "{tag}"'}, page_size=1)
    assert len(models) == 4 and {p["totalSize"] for p in pages} == {4}


def test_keyset_walk_is_stable_under_inserts_and_deletes(server: Server, account: Account) -> None:
    """Models that exist unchanged for the whole walk are returned exactly once, whatever is inserted or
    deleted meanwhile (before or after the cursor, including the cursor's own row)."""
    stable = seed(server, account, {f"k-{i:02d}": stored() for i in range(0, 40, 2)})
    seed(server, account, {f"k-{i:02d}": stored() for i in range(1, 40, 2)})  # odd: unstable
    seen: list[str] = []
    token = None
    step = 0
    while True:
        params: dict[str, Any] = {"pageSize": 3}
        if token:
            params["pageToken"] = token
        body = page(account, params)
        batch = names(body["models"])
        seen += batch
        token = body.get("nextPageToken")
        if not token:
            break
        step += 1
        # delete the cursor row itself and two unseen odd (unstable) rows; insert before and after the cursor
        account.client.delete(account.url() + "/" + batch[-1].rsplit("/", 1)[1])
        for victim in (f"k-{(2 * step + 21) % 40:02d}", f"k-{(4 * step + 1) % 40:02d}"):
            account.client.delete(account.url() + f"/{victim}")
        create(account.client, account.id, base_model(), f"k-{step:02d}-new")
        create(account.client, account.id, base_model(), f"k-{39 - step:02d}-new")
    assert len(seen) == len(set(seen)), "a model was returned twice"
    assert seen == sorted(seen)
    for name in stable:  # stable rows are only ever deleted after being returned (as the cursor row)
        assert seen.count(name) == 1, name


def test_keyset_walk_with_descending_order_under_updates(server: Server, account: Account) -> None:
    stable = {f"s-{i:02d}": stored(displayName=f"name {i:02d}") for i in range(12)}
    seed(server, account, stable)
    seed(server, account, {f"u-{i:02d}": stored(displayName=f"name {i:02d}x") for i in range(6)})
    params: dict[str, Any] = {"orderBy": "display_name desc", "pageSize": 4}
    seen: list[str] = []
    token = None
    round_ = 0
    while True:
        query = dict(params)
        if token:
            query["pageToken"] = token
        body = page(account, query)
        seen += ids(body["models"])
        token = body.get("nextPageToken")
        if not token:
            break
        # move unstable models around (to the end and to the start of the order) and add new ones
        account.client.patch(account.url() + f"/u-{round_:02d}", json={"displayName": "zzz"})
        account.client.patch(account.url() + f"/u-{round_ + 3:02d}", json={"displayName": "aaa"})
        create(account.client, account.id, base_model(displayName=f"name {5 - round_:02d}y"))
        round_ += 1
    for model_id in stable:
        assert seen.count(model_id) == 1, model_id
    stable_seen = [s for s in seen if s.startswith("s-")]
    assert stable_seen == sorted(stable, reverse=True)
