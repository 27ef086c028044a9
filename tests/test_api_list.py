"""List Models over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): paging (aip.md §4),
page tokens, totalSize, keyset stability, orderBy (AIP-132), readMask (aip.md §5 Profile A), the query
parameter spellings and the filter parameter's error handling (decisions.md "List paging", "orderBy",
"readMask", "Filter").

Most data is seeded with ``server.store.import_batch`` (fast, and able to set output-only fields such as
``public``, ``supportsServerless`` and the times); every read goes through the HTTP API.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Account, Server, start_server, stop_server
from helpers import (
    INVALID_ARGUMENT,
    assert_error,
    base_model,
    create,
    error_info,
    ids,
    models_url,
    names,
    stored,
    uid,
    walk,
)

from modelyard.aip.pagetoken import PageTokenCodec, digest

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def seed(server: Server, account: Account, items: dict[str, dict[str, Any]]) -> list[str]:
    """Insert models directly (one transaction); returns their names in name order."""
    server.store.import_batch(account.id, list(items.items()), upsert=False)
    return sorted(f"accounts/{account.id}/models/{i}" for i in items)


def seed_n(server: Server, account: Account, n: int, prefix: str = "m") -> list[str]:
    return seed(server, account, {f"{prefix}-{i:04d}": stored(displayName=f"model {i}") for i in range(n)})


def page(account: Account, params: dict[str, Any] | None = None, url: str | None = None) -> dict[str, Any]:
    resp = account.client.get(url or account.url(), params=params or {})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


# ---------------------------------------------------------------------------------------------------
# aip.md §4 conformance scenarios
# ---------------------------------------------------------------------------------------------------


def test_scenario_1_walk_with_page_size_2(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 7)
    models, pages = walk(account.client, account.url(), page_size=2)
    assert names(models) == expected
    assert [len(p["models"]) for p in pages] == [2, 2, 2, 1]
    assert "nextPageToken" not in pages[-1]


def test_scenario_2_and_3_page_size_default_and_maximum(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 205)
    for params in ({}, {"pageSize": 0}, {"pageSize": ""}, {"page_size": 0}):
        body = page(account, params)
        assert names(body["models"]) == expected[:50], params
        assert body["nextPageToken"]
        assert body["totalSize"] == 205
    for size in (201, 1001, 2**31, 10**30):
        body = page(account, {"pageSize": size})
        assert names(body["models"]) == expected[:200], size
        assert body["nextPageToken"]
    body = page(account, {"pageSize": 200})
    rest = page(account, {"pageSize": 1001, "pageToken": body["nextPageToken"]})
    assert names(rest["models"]) == expected[200:]
    assert "nextPageToken" not in rest


@pytest.mark.parametrize("literal", ['"0000-01-01T00:00:00Z"', 'timestamp("0000-12-31T23:59:59Z")'])
def test_a_timestamp_in_year_zero_is_400_not_500(account: Account, literal: str) -> None:
    resp = account.client.get(account.url(), params={"filter": f"create_time > {literal}"})
    body = assert_error(resp, 400, INVALID_ARGUMENT)
    assert "0000-" in body["message"], body


@pytest.mark.parametrize("value", ["-1", "-200", "abc", "1.5", "1e3", "0x10", "ten", "nan", "1_0", "٣"])
@pytest.mark.parametrize("param", ["pageSize", "page_size"])
def test_scenario_4_bad_page_size_is_400_naming_page_size(account: Account, param: str, value: str) -> None:
    body = assert_error(account.client.get(account.url(), params={param: value}), 400, INVALID_ARGUMENT)
    fields = [v["field"] for d in body["details"] if "fieldViolations" in d for v in d["fieldViolations"]]
    assert fields and fields[0].replace("_", "").lower() == "pagesize", body
    assert error_info(body)["reason"] == "INVALID_PAGE_SIZE"


def test_scenario_5_page_size_may_change_between_pages(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 12)
    seen: list[str] = []
    token = None
    for size in (1, 3, 2, 10):
        params: dict[str, Any] = {"pageSize": size}
        if token:
            params["pageToken"] = token
        body = page(account, params)
        assert len(body["models"]) == min(size, len(expected) - len(seen))
        seen += names(body["models"])
        token = body.get("nextPageToken")
        if not token:
            break
    assert seen == expected
    assert token is None


@pytest.mark.parametrize(
    ("first", "second", "changed"),
    [
        ({"filter": "context_length > 0"}, {"filter": "context_length > 1"}, "filter"),
        ({"filter": "context_length > 0"}, {}, "filter"),
        ({}, {"filter": "context_length > 0"}, "filter"),
        ({"orderBy": "display_name"}, {"orderBy": "display_name desc"}, "orderBy"),
        ({"orderBy": "display_name"}, {}, "orderBy"),
        ({}, {"orderBy": "create_time"}, "orderBy"),
    ],
    ids=[
        "filter-changed",
        "filter-dropped",
        "filter-added",
        "order-direction",
        "order-dropped",
        "order-added",
    ],
)
def test_scenario_6_changed_filter_or_order_with_an_old_token_is_400(
    server: Server, account: Account, first: dict[str, Any], second: dict[str, Any], changed: str
) -> None:
    seed(server, account, {f"c-{i}": stored(contextLength=10 + i, displayName=f"d{i}") for i in range(4)})
    token = page(account, {**first, "pageSize": 1})["nextPageToken"]
    resp = account.client.get(account.url(), params={**second, "pageSize": 1, "pageToken": token})
    body = assert_error(resp, 400, INVALID_ARGUMENT, reason="PAGE_TOKEN_REQUEST_MISMATCH", field="pageToken")
    assert changed in body["message"], body
    assert "models" not in body


def test_scenario_6_changed_account_with_an_old_token_is_400(server: Server, account: Account) -> None:
    seed_n(server, account, 3)
    other = server.new_account()
    seed(server, other, {f"p-{i}": stored(public=True) for i in range(3)})
    token = page(account, {"pageSize": 1})["nextPageToken"]
    for url in (models_url(other.id), models_url("-")):
        resp = account.client.get(url, params={"pageSize": 1, "pageToken": token})
        body = assert_error(
            resp, 400, INVALID_ARGUMENT, reason="PAGE_TOKEN_REQUEST_MISMATCH", field="pageToken"
        )
        assert "account" in body["message"], body


def test_read_mask_and_page_size_may_change_mid_walk(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 5)
    first = page(account, {"pageSize": 2, "readMask": "name"})
    second = page(
        account, {"pageSize": 3, "readMask": "name,displayName", "pageToken": first["nextPageToken"]}
    )
    assert names(first["models"] + second["models"]) == expected
    assert set(second["models"][0]) == {"name", "displayName"}


def _tamper(token: str) -> Iterator[tuple[str, str]]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for position in (0, 12, len(raw) // 2, len(raw) - 1):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        yield f"bit-flip-{position}", base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
    yield "truncated-end", token[:-4]
    yield "truncated-half", token[: len(token) // 2]
    yield "truncated-short", token[:8]
    yield "extended", token + "AAAA"
    yield "doubled", token + token
    yield "plain-base64-json", base64.urlsafe_b64encode(b'{"k":["a"],"v":1}').decode()
    yield "garbage", "garbage"
    yield "bad-chars", "!!!not base64!!!"
    yield "padding-only", "===="
    yield "unicode", "töken"
    yield "a-number", "2"
    yield "long", "A" * 5000


def test_scenario_7_tampered_truncated_and_garbage_tokens_are_400(server: Server, account: Account) -> None:
    seed_n(server, account, 4)
    token = page(account, {"pageSize": 1})["nextPageToken"]
    for label, bad in _tamper(token):
        resp = account.client.get(account.url(), params={"pageSize": 1, "pageToken": bad})
        body = assert_error(resp, 400, INVALID_ARGUMENT, field="pageToken")
        assert "models" not in body, label
    # the genuine token still works
    assert page(account, {"pageSize": 1, "pageToken": token})["models"]


def test_scenario_8_token_replayed_by_another_caller_is_rejected(server: Server, account: Account) -> None:
    """A token carries no authority: another caller replaying it, even on a collection it can read, is
    INVALID_ARGUMENT and gets no data."""
    seed(server, account, {f"r-{i}": stored(public=i % 2 == 0) for i in range(6)})
    intruder = server.new_account()
    for url in (account.url(), models_url("-")):
        token = page(account, {"pageSize": 1}, url=url)["nextPageToken"]
        resp = intruder.client.get(url, params={"pageSize": 1, "pageToken": token})
        body = assert_error(resp, 400, INVALID_ARGUMENT, field="pageToken")
        assert "models" not in body and "nextPageToken" not in body
    # and the intruder's own listing of the account shows public models only
    visible, _ = walk(intruder.client, account.url(), page_size=2)
    assert ids(visible) == ["r-0", "r-2", "r-4"]


def test_scenario_9_total_size_is_exact_and_the_same_on_every_page(server: Server, account: Account) -> None:
    seed(server, account, {f"t-{i:02d}": stored(contextLength=i) for i in range(11)})
    _, pages = walk(account.client, account.url(), page_size=3)
    assert {p["totalSize"] for p in pages} == {11}
    _, pages = walk(account.client, account.url(), {"filter": "context_length >= 4"}, page_size=2)
    assert {p["totalSize"] for p in pages} == {7}
    assert sum(len(p["models"]) for p in pages) == 7


def test_scenario_10_a_filter_matching_nothing_gives_an_empty_list_and_no_token(
    server: Server, account: Account
) -> None:
    seed_n(server, account, 3)
    body = page(account, {"filter": "context_length > 1000000", "pageSize": 1})
    assert body.get("models", []) == []
    assert "nextPageToken" not in body
    assert body["totalSize"] == 0


def test_an_account_without_models(account: Account) -> None:
    body = page(account)
    assert body.get("models", []) == []
    assert "nextPageToken" not in body
    assert body["totalSize"] == 0


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


# ---------------------------------------------------------------------------------------------------
# orderBy
# ---------------------------------------------------------------------------------------------------


def _order(account: Account, order_by: str, sizes: tuple[int, ...] = (1, 2, 3, 50)) -> list[str]:
    """The ids in ``order_by`` order; every page size must give the same sequence."""
    results = []
    for size in sizes:
        models, _ = walk(account.client, account.url(), {"orderBy": order_by}, page_size=size)
        results.append(ids(models))
    assert all(r == results[0] for r in results), results
    return results[0]


def test_default_order_is_name(server: Server, account: Account) -> None:
    seed(server, account, {"b": stored(), "a-2": stored(), "a-10": stored(), "c": stored(), "a": stored()})
    assert ids(page(account)["models"]) == ["a", "a-10", "a-2", "b", "c"]
    assert _order(account, "name") == ["a", "a-10", "a-2", "b", "c"]
    assert _order(account, "name desc") == ["c", "b", "a-2", "a-10", "a"]
    assert _order(account, "name DESC") == ["c", "b", "a-2", "a-10", "a"]
    assert _order(account, "  name   asc  ") == ["a", "a-10", "a-2", "b", "c"]


def test_order_by_display_name_uses_code_point_order(server: Server, account: Account) -> None:
    values = {
        "m-cjk": "中",
        "m-e-acute": "é",
        "m-lower-a": "a",
        "m-upper-b": "B",
        "m-upper-z": "Z",
        "m-ab": "ab",
        "m-emoji": "😀",
        "m-fullwidth": "Ａ",
        "m-unset": None,
        "m-tilde": "~",
        "m-lower-b": "b",
    }
    seed(server, account, {k: stored(displayName=v) for k, v in values.items()})
    expected = sorted(values, key=lambda k: (values[k] or "", k))
    assert expected[:5] == ["m-unset", "m-upper-b", "m-upper-z", "m-lower-a", "m-ab"]
    assert _order(account, "display_name") == expected
    assert _order(account, "displayName") == expected
    desc = sorted(values, key=lambda k: values[k] or "", reverse=True)
    assert _order(account, "displayName desc") == desc
    assert _order(account, "display_name DESC") == desc
    assert _order(account, "display_name Desc") == desc


def test_order_by_display_name_ties_break_on_name(server: Server, account: Account) -> None:
    seed(server, account, {f"t-{i}": stored(displayName="same" if i % 2 else "other") for i in range(6)})
    assert _order(account, "display_name") == ["t-0", "t-2", "t-4", "t-1", "t-3", "t-5"]
    assert _order(account, "display_name desc") == ["t-1", "t-3", "t-5", "t-0", "t-2", "t-4"]
    assert _order(account, "display_name desc, name desc") == ["t-5", "t-3", "t-1", "t-4", "t-2", "t-0"]


def test_order_by_create_time_and_update_time(server: Server, account: Account) -> None:
    items = {
        "t-a": stored(createTime="2024-03-01T00:00:00Z", updateTime="2024-05-01T00:00:00Z"),
        "t-b": stored(createTime="2024-01-01T00:00:00.000001Z", updateTime="2024-01-02T00:00:00Z"),
        "t-c": stored(createTime="2023-12-31T23:59:59.999999Z", updateTime="2025-01-01T00:00:00Z"),
        "t-d": stored(createTime="2024-01-01T00:00:00Z", updateTime="2024-01-03T00:00:00Z"),
        "t-e": stored(createTime="2024-03-01T00:00:00Z", updateTime="2024-01-01T00:00:00Z"),
    }
    seed(server, account, items)
    assert _order(account, "create_time desc") == ["t-a", "t-e", "t-b", "t-d", "t-c"]
    assert _order(account, "createTime") == ["t-c", "t-d", "t-b", "t-a", "t-e"]
    assert _order(account, "update_time") == ["t-e", "t-b", "t-d", "t-a", "t-c"]
    assert _order(account, "updateTime desc") == ["t-c", "t-a", "t-d", "t-b", "t-e"]


def test_order_by_update_time_follows_updates(server: Server, account: Account) -> None:
    for i in range(3):
        create(account.client, account.id, base_model(), f"u-{i}")
    assert account.client.patch(account.url() + "/u-0", json={"description": "touched"}).status_code == 200
    assert _order(account, "update_time desc", (1, 50))[0] == "u-0"
    assert _order(account, "create_time desc", (1, 50)) == ["u-2", "u-1", "u-0"]


def test_order_by_kind_uses_enum_number_order(server: Server, account: Account) -> None:
    kinds = {
        "k-embedding": "EMBEDDING_MODEL",  # 10
        "k-base": "HF_BASE_MODEL",  # 1
        "k-custom": "CUSTOM_MODEL",  # 9
        "k-flumina": "FLUMINA_BASE_MODEL",  # 4
        "k-peft": "HF_PEFT_ADDON",  # 2
        "k-unset": None,  # KIND_UNSPECIFIED, 0
        "k-snapshot": "SNAPSHOT_MODEL",  # 11
        "k-draft": "DRAFT_ADDON",  # 6
    }
    seed(server, account, {k: stored(kind=v, baseModelDetails=None) for k, v in kinds.items()})
    expected = [
        "k-unset",
        "k-base",
        "k-peft",
        "k-flumina",
        "k-draft",
        "k-custom",
        "k-embedding",
        "k-snapshot",
    ]
    assert _order(account, "kind") == expected
    assert _order(account, "kind desc") == expected[::-1]


def test_order_by_numbers_is_numeric_and_unset_is_zero(server: Server, account: Account) -> None:
    items = {
        "n-9": stored(contextLength=9, baseModelDetails={"parameterCount": "9"}),
        "n-10": stored(contextLength=10, baseModelDetails={"parameterCount": "10"}),
        "n-big": stored(contextLength=2**31 - 1, baseModelDetails={"parameterCount": "100000000000"}),
        "n-2000": stored(contextLength=2000, baseModelDetails={"parameterCount": "2000"}),
        "n-unset-a": stored(kind="HF_PEFT_ADDON", baseModelDetails=None),
        "n-unset-b": stored(baseModelDetails={}),
        "n-max": stored(contextLength=100, baseModelDetails={"parameterCount": str(2**63 - 1)}),
    }
    seed(server, account, items)
    assert _order(account, "context_length") == [
        "n-unset-a",
        "n-unset-b",
        "n-9",
        "n-10",
        "n-max",
        "n-2000",
        "n-big",
    ]
    assert _order(account, "contextLength desc") == [
        "n-big",
        "n-2000",
        "n-max",
        "n-10",
        "n-9",
        "n-unset-a",
        "n-unset-b",
    ]
    assert _order(account, "base_model_details.parameter_count desc") == [
        "n-max",
        "n-big",
        "n-2000",
        "n-10",
        "n-9",
        "n-unset-a",
        "n-unset-b",
    ]
    assert _order(account, "baseModelDetails.parameterCount") == [
        "n-unset-a",
        "n-unset-b",
        "n-9",
        "n-10",
        "n-2000",
        "n-big",
        "n-max",
    ]


BOOL_ITEMS = {
    "b-1": stored(kind="HF_PEFT_ADDON", baseModelDetails=None, supportsTools=True, displayName="x"),
    "b-2": stored(kind="HF_BASE_MODEL", supportsTools=True, displayName="y"),
    "b-3": stored(kind="HF_BASE_MODEL", displayName="z"),
    "b-4": stored(kind="HF_PEFT_ADDON", baseModelDetails=None, displayName="w"),
    "b-5": stored(kind="HF_BASE_MODEL", supportsTools=True, displayName="a"),
}


def test_order_by_multiple_fields(server: Server, account: Account) -> None:
    seed(server, account, BOOL_ITEMS)
    assert _order(account, "kind, display_name desc") == ["b-3", "b-2", "b-5", "b-1", "b-4"]
    assert _order(account, "kind desc ,  display_name") == ["b-4", "b-1", "b-5", "b-2", "b-3"]
    assert _order(account, "kind,create_time desc,name desc") == ["b-5", "b-3", "b-2", "b-4", "b-1"]


ENUM_NUMBERS = {
    "UPLOADING": 1,
    "READY": 2,
    "CANCELLED": 1,
    "NOT_FOUND": 5,
    "HF_BASE_MODEL": 1,
    "EMBEDDING_MODEL": 10,
    "NATIVE": 1,
    "UNINITIALIZED": 3,
    "FP8": 2,
    "FP4": 11,
    "FULL_SNAPSHOT": 0,
    "INCREMENTAL_SNAPSHOT": 1,
}
STRING_FIELDS = [
    "display_name",
    "description",
    "status.message",
    "github_url",
    "hugging_face_url",
    "base_model_details.model_type",
    "peft_details.base_model",
    "peft_details.base_model_type",
    "peft_details.merge_addon_model_name",
    "conversation_config.style",
    "conversation_config.system",
    "conversation_config.template",
    "imported_from",
    "fine_tuning_job",
    "default_draft_model",
    "cluster",
]
INT_FIELDS = [
    "base_model_details.world_size",
    "peft_details.r",
    "context_length",
    "default_draft_token_count",
    "deprecation_date.year",
    "deprecation_date.month",
    "deprecation_date.day",
    "training_context_length",
]
BOOL_FIELDS = [
    "base_model_details.moe",
    "base_model_details.tunable",
    "base_model_details.supports_fireattention",
    "base_model_details.supports_mtp",
    "public",
    "supports_image_input",
    "supports_tools",
    "calibrated",
    "tunable",
    "supports_lora",
    "use_hf_apply_chat_template",
    "rl_tunable",
    "supports_serverless",
    "supervised_lora_tunable",
    "supervised_full_parameter_tunable",
    "rl_lora_tunable",
    "rl_full_parameter_tunable",
]
ENUM_FIELDS = {
    "state": ("READY", "UPLOADING"),
    "status.code": ("NOT_FOUND", "CANCELLED"),
    "kind": ("EMBEDDING_MODEL", "HF_BASE_MODEL"),
    "base_model_details.checkpoint_format": ("UNINITIALIZED", "NATIVE"),
    "base_model_details.default_precision": ("FP4", "FP8"),
    "snapshot_type": ("INCREMENTAL_SNAPSHOT", "FULL_SNAPSHOT"),
}
ORDERABLE: dict[str, tuple[Any, Any]] = {
    **{f: ("b", "a") for f in STRING_FIELDS},
    **{f: (7, 3) for f in INT_FIELDS},
    "base_model_details.parameter_count": ("70", "9"),  # numeric order, not string order
    **ENUM_FIELDS,
    "create_time": ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"),
    "update_time": ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"),
}


def _camel_path(path: str) -> list[str]:
    return [re.sub(r"_([a-z])", lambda m: m.group(1).upper(), p) for p in path.split(".")]


def _with(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    keys = _camel_path(path)
    target = resource
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return resource


def _sort_value(value: Any) -> Any:
    if isinstance(value, str) and value in ENUM_NUMBERS:
        return ENUM_NUMBERS[value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _check_field_order(server: Server, account: Account, path: str, high: Any, low: Any) -> None:
    """Two models with the field set (high, low) and two without it (the zero value): ascending and
    descending, walked one model per page and in one page, with ``name`` as the tie-breaker."""
    zero: Any = {"b": "", 7: 0, "70": "0", True: False}.get(high, "ZERO")
    timestamps = path in ("create_time", "update_time")
    if timestamps:
        zero = "2023-01-01T00:00:00Z"
    items = {
        "x-0": _with({}, path, high),
        "x-1": _with({}, path, low),
        "x-2": _with({}, path, zero) if timestamps else {},
        "x-3": _with({}, path, zero) if timestamps else {},
    }
    seed(server, account, items)
    zero_key = _sort_value(zero) if zero != "ZERO" else 0
    values = {"x-0": _sort_value(high), "x-1": _sort_value(low), "x-2": zero_key, "x-3": zero_key}
    ascending = sorted(values, key=lambda k: (values[k], k))
    descending = sorted(sorted(values), key=lambda k: values[k], reverse=True)
    camel = ".".join(_camel_path(path))
    assert _order(account, path, (1, 50)) == ascending, path
    assert _order(account, f"{camel} desc", (1, 3, 50)) == descending, path


@pytest.mark.parametrize("path", sorted(ORDERABLE))
def test_every_scalar_field_orders_and_pages(server: Server, account: Account, path: str) -> None:
    high, low = ORDERABLE[path]
    _check_field_order(server, account, path, high, low)


def test_order_by_a_bool_field_pages(server: Server, account: Account) -> None:
    """Ordering on a bool (false < true) must page like any other field: the second page of
    ``orderBy=supports_tools`` is built from a bool keyset value. Then every bool field, top-level and
    nested. One test, stopping at the first failure, because each failure is a server-side 500 whose
    traceback (~15 KB) goes to the session server's stdout pipe, which conftest never drains."""
    seed(server, account, BOOL_ITEMS)
    assert _order(account, "supports_tools", (50,)) == ["b-3", "b-4", "b-1", "b-2", "b-5"]
    assert _order(account, "supports_tools") == ["b-3", "b-4", "b-1", "b-2", "b-5"]
    assert _order(account, "supports_tools desc, display_name") == ["b-5", "b-1", "b-2", "b-4", "b-3"]
    assert _order(account, "kind desc,supportsTools DESC,name") == ["b-1", "b-4", "b-2", "b-5", "b-3"]
    for path in BOOL_FIELDS:
        _check_field_order(server, server.new_account(), path, True, True)


def test_order_by_snake_query_parameter(server: Server, account: Account) -> None:
    seed(server, account, {"o-a": stored(displayName="2"), "o-b": stored(displayName="1")})
    body = page(account, {"order_by": "display_name"})
    assert ids(body["models"]) == ["o-b", "o-a"]


@pytest.mark.parametrize(
    "order_by",
    [
        "name, name desc",
        "display_name, displayName desc",
        "deployed_model_refs",
        "deployedModelRefs.state",
        "default_sampling_params",
        "default_sampling_params.temperature",
        "base_model_details",
        "status",
        "supported_precisions",
        "base_model_details.huggingface_files",
        "peft_details.target_modules",
        "name desc desc",
        "name sideways",
        "name,",
        ",",
        ",name",
        "name,,display_name",
        "-name",
        "name[0]",
        "name.first",
        "base_model_details.nope",
        "base_model_details..moe",
        ".name",
        "display_Name",
        "displayname",
        "créé",
    ],
)
def test_invalid_order_by_is_400(account: Account, order_by: str) -> None:
    resp = account.client.get(account.url(), params={"orderBy": order_by})
    body = assert_error(resp, 400, INVALID_ARGUMENT, field="orderBy")
    assert error_info(body)["reason"] == "INVALID_ORDER_BY"


def test_unknown_order_by_field_suggests_the_nearest(account: Account) -> None:
    resp = account.client.get(account.url(), params={"orderBy": "contex_length desc"})
    body = assert_error(resp, 400, INVALID_ARGUMENT, field="orderBy")
    assert "did you mean" in body["message"] and "context_length" in body["message"], body
    resp = account.client.get(account.url(), params={"order_by": "base_model_details.paramter_count"})
    body = assert_error(resp, 400, INVALID_ARGUMENT, field="orderBy")
    assert "parameter_count" in body["message"], body


def test_blank_order_by_is_the_default(server: Server, account: Account) -> None:
    seed(server, account, {"z": stored(displayName="a"), "a": stored(displayName="z")})
    assert ids(page(account, {"orderBy": "   "})["models"]) == ["a", "z"]


# ---------------------------------------------------------------------------------------------------
# readMask (aip.md §5, Profile A)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture()
def masked_account(server: Server, account: Account) -> Account:
    seed(
        server,
        account,
        {
            "r-1": stored(
                displayName="One",
                description="first",
                contextLength=100,
                baseModelDetails={"parameterCount": "7", "moe": True},
                defaultSamplingParams={"temperature": 0.5, "top p": 0.9},
                deployedModelRefs=[{"name": "accounts/x/deployedModels/d", "state": "DEPLOYED"}],
                supportsServerless=True,
            ),
            "r-2": stored(displayName="Two", kind="HF_PEFT_ADDON", baseModelDetails=None),
            "r-3": stored(displayName="Three"),
        },
    )
    return account


def _masked(account: Account, mask: str, param: str = "readMask") -> dict[str, Any]:
    return page(account, {param: mask, "pageSize": 1})


@pytest.mark.parametrize("mask", [None, "*", "", " * "])
def test_read_mask_absent_or_star_gives_full_models(masked_account: Account, mask: str | None) -> None:
    full = page(masked_account, {"pageSize": 1})
    body = full if mask is None else _masked(masked_account, mask)
    assert body == {**full, "nextPageToken": body["nextPageToken"]}
    model = body["models"][0]
    assert model["displayName"] == "One" and model["supportsServerless"] is True
    assert "deployedModelRefs" not in model
    assert body["nextPageToken"] and body["totalSize"] == 3


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("name,displayName", {"name": "N", "displayName": "One"}),
        ("name,display_name", {"name": "N", "displayName": "One"}),
        (" name , displayName ", {"name": "N", "displayName": "One"}),
        ("displayName", {"displayName": "One"}),
        ("baseModelDetails", {"baseModelDetails": {"parameterCount": "7", "moe": True}}),
        ("baseModelDetails.parameterCount", {"baseModelDetails": {"parameterCount": "7"}}),
        ("base_model_details.parameter_count", {"baseModelDetails": {"parameterCount": "7"}}),
        ("defaultSamplingParams", {"defaultSamplingParams": {"temperature": 0.5, "top p": 0.9}}),
        ("defaultSamplingParams.temperature", {"defaultSamplingParams": {"temperature": 0.5}}),
        ("default_sampling_params.`top p`", {"defaultSamplingParams": {"top p": 0.9}}),
        ("deployedModelRefs", {}),
        ("deployedModelRefs.state", {}),
        ("name,deployedModelRefs", {"name": "N"}),
        ("supportsServerless,contextLength", {"supportsServerless": True, "contextLength": 100}),
        ("githubUrl", {}),
    ],
)
def test_read_mask_shapes_each_model(masked_account: Account, mask: str, expected: dict[str, Any]) -> None:
    expected = {
        k: (f"accounts/{masked_account.id}/models/r-1" if v == "N" else v) for k, v in expected.items()
    }
    for param in ("readMask", "read_mask"):
        body = _masked(masked_account, mask, param)
        assert body["models"] == [expected], (param, body)
        assert body["nextPageToken"], "nextPageToken always comes with a mask"
        assert body["totalSize"] == 3


def test_read_mask_applies_to_every_page(masked_account: Account) -> None:
    models, pages = walk(masked_account.client, masked_account.url(), {"readMask": "name"}, page_size=2)
    assert all(set(m) == {"name"} for m in models)
    assert len(models) == 3
    assert all("totalSize" in p for p in pages)


def test_deployed_model_refs_never_in_list(masked_account: Account) -> None:
    for params in ({}, {"readMask": "*"}, {"readMask": "deployedModelRefs"}, {"orderBy": "display_name"}):
        models, _ = walk(masked_account.client, masked_account.url(), params, page_size=2)
        assert all("deployedModelRefs" not in m for m in models), params
    models, _ = walk(
        masked_account.client,
        models_url("-"),
        {"filter": f'supports_serverless = true name = "accounts/{masked_account.id}/models/*"'},
        page_size=50,
    )
    assert ids(models) == ["r-1"]
    assert all("deployedModelRefs" not in m for m in models)
    got = masked_account.client.get(masked_account.url() + "/r-1").json()
    assert got["deployedModelRefs"] == [{"name": "accounts/x/deployedModels/d", "state": "DEPLOYED"}]


@pytest.mark.parametrize(
    "mask",
    [
        "*,name",
        "name,*",
        "name,,displayName",
        "name,",
        ",",
        ",name",
        " , ",
        "nope",
        "baseModelDetails.nope",
        "display_Name",
        "displayname",
        "DisplayName",
        "deployedModelRefs.0",
        "deployedModelRefs[0]",
        "deployedModelRefs.0.state",
        "name.first",
        "baseModelDetails.",
        ".name",
        "base_model_details..moe",
        "defaultSamplingParams.temperature.x",
    ],
)
def test_invalid_read_mask_is_400(masked_account: Account, mask: str) -> None:
    for param in ("readMask", "read_mask"):
        resp = masked_account.client.get(masked_account.url(), params={param: mask})
        body = assert_error(resp, 400, INVALID_ARGUMENT, field="readMask")
        assert error_info(body)["reason"] == "INVALID_READ_MASK", body


# ---------------------------------------------------------------------------------------------------
# Query parameter spellings
# ---------------------------------------------------------------------------------------------------


def test_snake_case_query_parameters(server: Server, account: Account) -> None:
    seed(server, account, {f"s-{i}": stored(displayName=f"{9 - i}", contextLength=i) for i in range(5)})
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {
            "page_size": 2,
            "order_by": "display_name desc",
            "read_mask": "name",
            "filter": "context_length >= 1",
        }
        if token:
            params["page_token"] = token
        body = page(account, params)
        assert all(set(m) == {"name"} for m in body["models"])
        assert body["totalSize"] == 4
        seen += ids(body["models"])
        token = body.get("nextPageToken")
        if not token:
            break
    assert seen == ["s-1", "s-2", "s-3", "s-4"]


def test_camel_and_snake_tokens_are_interchangeable(server: Server, account: Account) -> None:
    expected = seed_n(server, account, 4)
    first = page(account, {"page_size": 2, "order_by": "name"})
    second = page(account, {"pageSize": 2, "orderBy": "name", "pageToken": first["nextPageToken"]})
    assert names(first["models"] + second["models"]) == expected


# ---------------------------------------------------------------------------------------------------
# filter (the parameter's contract over HTTP; the language itself is tested elsewhere)
# ---------------------------------------------------------------------------------------------------


def test_documented_supports_serverless_filter(server: Server, account: Account) -> None:
    seed(
        server,
        account,
        {f"f-{i}": stored(supportsServerless=i % 3 == 0, displayName=f"x{i}") for i in range(9)},
    )
    for text in ("supports_serverless=true", "supports_serverless = true", "supportsServerless = true"):
        models, pages = walk(account.client, account.url(), {"filter": text}, page_size=2)
        assert ids(models) == ["f-0", "f-3", "f-6"], text
        assert {p["totalSize"] for p in pages} == {3}
        assert all(m["supportsServerless"] is True for m in models)
    models, _ = walk(account.client, account.url(), {"filter": "supports_serverless = false"}, page_size=50)
    assert len(models) == 6


def test_global_search_filter(server: Server, account: Account) -> None:
    seed(
        server,
        account,
        {
            "llama-3-8b": stored(),
            "mistral": stored(displayName="Not LLaMA at all"),
            "qwen": stored(description="a llama-like model"),
            "other": stored(displayName="other"),
        },
    )
    assert ids(page(account, {"filter": "llama"})["models"]) == ["llama-3-8b", "mistral", "qwen"]
    assert ids(page(account, {"filter": '"llama 3"'})["models"]) == []
    assert ids(page(account, {"filter": "llama at"})["models"]) == ["mistral"]


@pytest.mark.parametrize(
    "text",
    [
        "contex_length = 1",
        "nope = 1",
        "context_length = ",
        "(context_length = 1",
        "context_length = 1)",
        "context_length = 1 and public = true",
        "*",
        "kind = LLAMA",
        "kind < HF_BASE_MODEL",
        "public > false",
        "context_length = abc",
        "create_time > 2024-01-01",
        "display_name = ==",
        "deployed_model_refs.state = DEPLOYED x y z (",
        "a" * 9000,
        "(" * 100 + "public = true" + ")" * 100,
        " OR ".join(["public = true"] * 600),
    ],
)
def test_bad_filter_is_400_never_ignored(server: Server, account: Account, text: str) -> None:
    seed_n(server, account, 2)
    for param in ("filter",):
        resp = account.client.get(account.url(), params={param: text})
        body = assert_error(resp, 400, INVALID_ARGUMENT, field="filter")
        assert "models" not in body


def test_filter_limits_are_exact(server: Server, account: Account) -> None:
    """8 KiB of UTF-8, 64 levels of nesting and 500 terms are allowed; one more is INVALID_ARGUMENT."""
    seed(server, account, {f"l-{i}": stored(contextLength=i, public=True) for i in range(3)})
    longest = 'display_name = "' + "é" * ((8192 - 17) // 2) + '"'
    longest += " " * (8192 - len(longest.encode()))
    assert len(longest.encode()) == 8192
    assert page(account, {"filter": longest})["totalSize"] == 0
    assert_error(account.client.get(account.url(), params={"filter": longest + "x"}), 400, INVALID_ARGUMENT)
    deep = "(" * 64 + "context_length = 1" + ")" * 64
    assert ids(page(account, {"filter": deep})["models"]) == ["l-1"]
    too_deep = "(" * 65 + "context_length = 1" + ")" * 65
    assert_error(account.client.get(account.url(), params={"filter": too_deep}), 400, INVALID_ARGUMENT)
    many = " OR ".join(["public=true"] * 500)
    assert len(many.encode()) <= 8192
    body = page(account, {"filter": many, "pageSize": 1})
    assert body["totalSize"] == 3
    rest, _ = walk(account.client, account.url(), {"filter": many}, page_size=1)
    assert ids(rest) == ["l-0", "l-1", "l-2"]
    too_many = " OR ".join(["public=true"] * 501)
    assert_error(account.client.get(account.url(), params={"filter": too_many}), 400, INVALID_ARGUMENT)


def test_nul_and_control_characters_in_a_filter_never_give_500(server: Server, account: Account) -> None:
    """No string can contain NUL (it is rejected on input), so a filter value with one matches nothing
    or is INVALID_ARGUMENT; it must not reach the database as text (PostgreSQL cannot hold NUL). One
    test that stops at the first 500 (see test_order_by_a_bool_field_pages about tracebacks)."""
    seed_n(server, account, 2)
    for text in [
        "\x00",
        "\ud7ff\x01",
        'display_name = "a\x00b"',
        "display_name:\x00",
        'description = "\x00*"',
    ]:
        resp = account.client.get(account.url(), params={"filter": text})
        assert resp.status_code in (200, 400), (text, resp.text)
        if resp.status_code == 400:
            assert_error(resp, 400, INVALID_ARGUMENT, field="filter")
        else:
            assert resp.json()["totalSize"] == 0, text


def test_filter_error_names_the_position_and_a_suggestion(account: Account) -> None:
    resp = account.client.get(account.url(), params={"filter": "contex_length = 1"})
    body = assert_error(resp, 400, INVALID_ARGUMENT, field="filter")
    message = body["message"]
    assert "contex_length" in message and "column 1" in message, message
    assert "did you mean" in message and "context_length" in message, message
