"""List Models over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): the paging
conformance scenarios of aip.md §4 (decisions.md "List paging").

Most data is seeded with ``server.store.import_batch`` (fast, and able to set output-only fields such as
``public``, ``supportsServerless`` and the times); every read goes through the HTTP API.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    assert_error,
    error_info,
    ids,
    models_url,
    names,
    page,
    seed,
    seed_n,
    stored,
    walk,
)
from tests.support.server import Server

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
    for size in (201, 1001, 2**31 - 1):  # larger is not an int32: refused (the bad page size test)
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


@pytest.mark.parametrize(
    "value", ["-1", "-200", "abc", "1.5", "1e3", "0x10", "ten", "nan", "1_0", "٣", "2147483648", "9" * 21]
)
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
