"""Create Model over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): what a create
returns, the fields it accepts and their defaults, output-only fields and duplicates.

Rules come from ``shared/spec/decisions.md`` (Resources and JSON), the seed's Model schema and
``fireworks-models-api.md`` §1 and §2.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    ALREADY_EXISTS,
    INVALID_ARGUMENT,
    OUTPUT_ONLY,
    PEFT_DETAILS,
    RFC3339_Z,
    assert_error,
    base_model,
    create,
    parse_timestamp,
    post_model,
    teft_model,
    uid,
)
from tests.support.server import Server


def test_create_returns_the_model_in_uploading_state(account: Account) -> None:
    model_id = uid()
    resp = post_model(account, {"modelId": model_id, "model": base_model(displayName="My Model")})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["name"] == f"accounts/{account.id}/models/{model_id}"
    assert body["state"] == "UPLOADING"
    assert body["kind"] == "HF_BASE_MODEL"
    assert body["displayName"] == "My Model"
    assert body["baseModelDetails"] == {"parameterCount": "8000000000"}
    for key in ("createTime", "updateTime"):
        assert RFC3339_Z.match(body[key]), body[key]
    assert parse_timestamp(body["updateTime"]) >= parse_timestamp(body["createTime"])
    assert abs(parse_timestamp(body["createTime"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

    got = account.client.get(account.url() + f"/{model_id}")
    assert got.status_code == 200, got.text
    assert got.json() == body


def test_create_accepts_model_id_as_query_parameter(account: Account) -> None:
    model_id = uid()
    resp = account.client.post(account.url(), params={"modelId": model_id}, json={"model": base_model()})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == f"accounts/{account.id}/models/{model_id}"


def test_create_accepts_snake_case_keys(account: Account) -> None:
    model_id = uid()
    body = {
        "model_id": model_id,
        "model": {
            "display_name": "Snake",
            "kind": "HF_BASE_MODEL",
            "base_model_details": {"parameter_count": 7, "world_size": 2, "supports_mtp": True},
            "context_length": 4096,
            "supports_tools": True,
            "hugging_face_url": "https://huggingface.co/x/y",
            "deprecation_date": {"year": 2030, "month": 1, "day": 2},
        },
    }
    resp = post_model(account, body)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["name"].endswith("/" + model_id)
    assert got["displayName"] == "Snake"
    assert got["baseModelDetails"] == {"parameterCount": "7", "worldSize": 2, "supportsMtp": True}
    assert got["contextLength"] == 4096
    assert got["supportsTools"] is True
    assert got["huggingFaceUrl"] == "https://huggingface.co/x/y"
    assert got["deprecationDate"] == {"year": 2030, "month": 1, "day": 2}
    assert not any("_" in k for k in got), got


def test_every_writable_field_round_trips(account: Account) -> None:
    model = {
        "displayName": "Everything",
        "description": "all the writable fields",
        "kind": "HF_BASE_MODEL",
        "githubUrl": "https://github.com/a/b",
        "huggingFaceUrl": "https://huggingface.co/a/b",
        "baseModelDetails": {
            "worldSize": 4,
            "checkpointFormat": "HUGGINGFACE",
            "huggingfaceFiles": ["config.json", "model.safetensors"],
            "parameterCount": "70000000000",
            "moe": True,
            "tunable": True,
            "modelType": "llama",
            "supportsFireattention": True,
            "supportsMtp": True,
        },
        "public": True,
        "conversationConfig": {"style": "jinja", "system": "be nice", "template": "{{ messages }}"},
        "contextLength": 131072,
        "supportsImageInput": True,
        "supportsTools": True,
        "defaultDraftModel": "accounts/fireworks/models/draft",
        "defaultDraftTokenCount": 4,
        "deprecationDate": {"year": 2031, "month": 12, "day": 31},
        "supportsLora": True,
        "useHfApplyChatTemplate": True,
        "trainingContextLength": 8192,
        "snapshotType": "INCREMENTAL_SNAPSHOT",
    }
    model_id = uid()
    created = create(account.client, account.id, model, model_id)
    for key, value in model.items():
        assert created[key] == value, key
    got = account.client.get(account.url() + f"/{model_id}").json()
    assert got == created


def test_create_with_cluster(account: Account) -> None:
    model_id = uid()
    cluster = f"accounts/{account.id}/clusters/c1"
    resp = post_model(account, {"modelId": model_id, "model": base_model(), "cluster": cluster})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cluster"] == cluster


def test_kind_defaults_to_peft_addon(account: Account) -> None:
    resp = post_model(account, {"modelId": uid(), "model": {"peftDetails": PEFT_DETAILS}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["kind"] == "HF_PEFT_ADDON"
    assert resp.json()["peftDetails"] == PEFT_DETAILS


@pytest.mark.parametrize("model", [{}, None], ids=["empty-model", "no-model"])
def test_empty_model_needs_peft_details(account: Account, model: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"modelId": uid()}
    if model is not None:
        body["model"] = model
    assert_error(post_model(account, body), 400, INVALID_ARGUMENT, field="peftDetails")


def test_teft_addon(account: Account) -> None:
    created = create(account.client, account.id, teft_model())
    assert created["kind"] == "HF_TEFT_ADDON"
    assert created["teftDetails"] == {}  # a set (empty) message is present


@pytest.mark.parametrize("count", ["70000000000", 70000000000, 7.0e10], ids=["string", "number", "float"])
def test_parameter_count_is_accepted_as_string_or_number_and_returned_as_string(
    account: Account, count: Any
) -> None:
    created = create(account.client, account.id, base_model(baseModelDetails={"parameterCount": count}))
    assert created["baseModelDetails"]["parameterCount"] == "70000000000"


def test_int32_fields_accept_decimal_strings(account: Account) -> None:
    created = create(account.client, account.id, base_model(contextLength="4096", defaultDraftTokenCount=2.0))
    assert created["contextLength"] == 4096
    assert created["defaultDraftTokenCount"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": [], "modelId": "x"}, "model"),
        ({"model": "", "modelId": "x"}, "model"),
        ({"model": 0, "modelId": "x"}, "model"),
        ({"model": False, "modelId": "x"}, "model"),
        ({"model": "str", "modelId": "x"}, "model"),
        ({"cluster": False}, "cluster"),
        ({"cluster": 0}, "cluster"),
        ({"cluster": {}}, "cluster"),
        ({"cluster": ["c"]}, "cluster"),
    ],
    ids=[
        "model-array",
        "model-empty-string",
        "model-zero",
        "model-false",
        "model-string",
        "cluster-false",
        "cluster-zero",
        "cluster-object",
        "cluster-array",
    ],
)
def test_wrong_types_in_the_create_request_are_400_naming_the_field(
    account: Account, body: dict[str, Any], field: str
) -> None:
    """Falsy values of the wrong type are not silently read as "absent"."""
    request: dict[str, Any] = {"modelId": uid(), "model": base_model(), **body}
    if request["modelId"] == "x":
        request["modelId"] = uid()
    assert_error(post_model(account, request), 400, INVALID_ARGUMENT, field=field)


def test_default_values_are_omitted(account: Account) -> None:
    model = base_model(
        displayName="",
        description="",
        contextLength=0,
        supportsTools=False,
        supportsImageInput=False,
        public=False,
        githubUrl="",
        snapshotType="FULL_SNAPSHOT",
        baseModelDetails={"parameterCount": "0", "moe": False, "worldSize": 0, "huggingfaceFiles": []},
    )
    created = create(account.client, account.id, model)
    for key in (
        "displayName",
        "description",
        "contextLength",
        "supportsTools",
        "supportsImageInput",
        "public",
        "githubUrl",
        "snapshotType",
        "deployedModelRefs",
        "supportsServerless",
    ):
        assert key not in created, key
    assert created["baseModelDetails"] == {}


def test_output_only_fields_are_ignored_on_create(account: Account) -> None:
    model_id = uid()
    model = base_model(**OUTPUT_ONLY)
    model["baseModelDetails"] = {"parameterCount": "5", "defaultPrecision": "FP8"}
    created = create(account.client, account.id, model, model_id)
    assert created["name"] == f"accounts/{account.id}/models/{model_id}"
    assert created["state"] == "UPLOADING"
    assert not created["createTime"].startswith("1999")
    assert created["baseModelDetails"] == {"parameterCount": "5"}
    for key in OUTPUT_ONLY:
        if key not in ("name", "state", "createTime", "updateTime"):
            assert key not in created, key


@pytest.mark.parametrize(
    "extra",
    [
        {"createTime": "not a timestamp"},
        {"state": "NOT_A_STATE"},
        {"supportsServerless": "yes"},
        {"name": 42},
    ],
    ids=["bad-createTime", "bad-state", "bad-supportsServerless", "bad-name"],
)
def test_output_only_fields_are_ignored_even_when_malformed(account: Account, extra: dict[str, Any]) -> None:
    resp = post_model(account, {"modelId": uid(), "model": base_model(**extra)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "UPLOADING"


def test_duplicate_create_is_409_already_exists(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="first"), model_id)
    resp = post_model(account, {"modelId": model_id, "model": base_model(displayName="second")})
    assert_error(resp, 409, ALREADY_EXISTS)
    assert account.client.get(account.url() + f"/{model_id}").json()["displayName"] == "first"


def test_same_model_id_in_two_accounts(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    created = create(other.client, other.id, base_model(), model_id)
    assert created["name"] == f"accounts/{other.id}/models/{model_id}"
