"""List Models over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): readMask (aip.md §5
Profile A), the query parameter spellings and the filter parameter's error handling (decisions.md
"readMask", "Filter"; the filter language itself is tested in tests/aip/).

Most data is seeded with ``server.store.import_batch``; every read goes through the HTTP API.
"""

from __future__ import annotations

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
