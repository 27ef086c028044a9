"""List Models over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): orderBy (AIP-132,
decisions.md "orderBy"): every orderable field, directions, ties, paging in order and invalid orders.

Most data is seeded with ``server.store.import_batch``; every read goes through the HTTP API.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    assert_error,
    base_model,
    create,
    error_info,
    ids,
    page,
    seed,
    stored,
    walk,
)
from tests.support.server import Server

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
