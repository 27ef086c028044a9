"""The Models resource over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): Create, Get,
Update (PATCH), Delete, input validation, access control and the error body.

Rules come from ``shared/spec/decisions.md`` (Resources and JSON, Access, Errors), the seed's Model
schema and ``fireworks-models-api.md`` §1, §2 and §6.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from conftest import Account, Server
from helpers import (
    ALREADY_EXISTS,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PEFT_DETAILS,
    PERMISSION_DENIED,
    RFC3339_Z,
    UNAUTHENTICATED,
    UNIMPLEMENTED,
    assert_error,
    base_model,
    create,
    error_info,
    models_url,
    peft_model,
    stored,
    teft_model,
    uid,
    violation_fields,
)
from sqlalchemy import select

from modelyard.store.tables import api_keys


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _post(account: Account, body: Any, **kwargs: Any) -> httpx.Response:
    return account.client.post(account.url(), json=body, **kwargs)


# ---------------------------------------------------------------------------------------------------
# Create
# ---------------------------------------------------------------------------------------------------


def test_create_returns_the_model_in_uploading_state(account: Account) -> None:
    model_id = uid()
    resp = _post(account, {"modelId": model_id, "model": base_model(displayName="My Model")})
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
    assert _ts(body["updateTime"]) >= _ts(body["createTime"])
    assert abs(_ts(body["createTime"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

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
    resp = _post(account, body)
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
    resp = _post(account, {"modelId": model_id, "model": base_model(), "cluster": cluster})
    assert resp.status_code == 200, resp.text
    assert resp.json()["cluster"] == cluster


def test_kind_defaults_to_peft_addon(account: Account) -> None:
    resp = _post(account, {"modelId": uid(), "model": {"peftDetails": PEFT_DETAILS}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["kind"] == "HF_PEFT_ADDON"
    assert resp.json()["peftDetails"] == PEFT_DETAILS


@pytest.mark.parametrize("model", [{}, None], ids=["empty-model", "no-model"])
def test_empty_model_needs_peft_details(account: Account, model: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"modelId": uid()}
    if model is not None:
        body["model"] = model
    assert_error(_post(account, body), 400, INVALID_ARGUMENT, field="peftDetails")


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
    assert_error(_post(account, request), 400, INVALID_ARGUMENT, field=field)


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


OUTPUT_ONLY = {
    "name": "accounts/somebody-else/models/stolen",
    "state": "READY",
    "createTime": "1999-01-01T00:00:00Z",
    "updateTime": "1999-01-01T00:00:00Z",
    "supportsServerless": True,
    "calibrated": True,
    "tunable": True,
    "rlTunable": True,
    "importedFrom": "accounts/x/models/y",
    "fineTuningJob": "accounts/x/fineTuningJobs/j",
    "status": {"code": "NOT_FOUND", "message": "nope"},
    "deployedModelRefs": [{"name": "accounts/x/deployedModels/d", "state": "DEPLOYED"}],
    "defaultSamplingParams": {"temperature": 0.5},
    "supportedPrecisions": ["FP8"],
    "supportedPrecisionsWithCalibration": ["FP16"],
    "supervisedLoraTunable": True,
    "cluster": "accounts/x/clusters/c",
}


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
    resp = _post(account, {"modelId": uid(), "model": base_model(**extra)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "UPLOADING"


def test_duplicate_create_is_409_already_exists(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="first"), model_id)
    resp = _post(account, {"modelId": model_id, "model": base_model(displayName="second")})
    assert_error(resp, 409, ALREADY_EXISTS)
    assert account.client.get(account.url() + f"/{model_id}").json()["displayName"] == "first"


def test_same_model_id_in_two_accounts(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    created = create(other.client, other.id, base_model(), model_id)
    assert created["name"] == f"accounts/{other.id}/models/{model_id}"


# ---------------------------------------------------------------------------------------------------
# Create: validation
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id",
    ["Upper", "upperX", "1abc", "-abc", "abc-", "a" * 64, "a_b", "a.b", "a b", "café", "中文", "a/b"],
    ids=[
        "uppercase",
        "uppercase-inside",
        "leading-digit",
        "leading-hyphen",
        "trailing-hyphen",
        "64-chars",
        "underscore",
        "dot",
        "space",
        "non-ascii",
        "cjk",
        "slash",
    ],
)
def test_invalid_model_id_is_400(account: Account, model_id: str) -> None:
    assert_error(
        _post(account, {"modelId": model_id, "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )


def test_model_id_violations_use_one_spelling(account: Account) -> None:
    """Every modelId violation names the field the same way, with the JSON name used by the other
    violations (``pageSize``, ``readMask``, ``model.displayName``): not ``model_id`` for some rules and
    ``modelId`` for others."""
    for model_id in ["Upper", "", "1abc", "a" * 64, 42]:
        body = assert_error(
            _post(account, {"modelId": model_id, "model": base_model()}), 400, INVALID_ARGUMENT
        )
        assert violation_fields(body) == ["modelId"], (model_id, body)


def test_empty_model_id_is_400(account: Account) -> None:
    assert_error(
        _post(account, {"modelId": "", "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )
    assert_error(_post(account, {"model": base_model()}), 400, INVALID_ARGUMENT, field="modelId")


def test_model_id_with_a_colon_is_invalid_argument_not_unimplemented(account: Account) -> None:
    """A colon in a body modelId is a bad id (400), not a custom method (501)."""
    assert_error(
        _post(account, {"modelId": "bad:id", "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )


def test_model_id_must_be_a_string(account: Account) -> None:
    assert_error(
        _post(account, {"modelId": 42, "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )


@pytest.mark.parametrize("model_id", ["a", "a" * 63, "a-1", "x9", "llama-v3p1-8b-instruct"])
def test_valid_model_ids(account: Account, model_id: str) -> None:
    created = create(account.client, account.id, base_model(), model_id)
    assert created["name"] == f"accounts/{account.id}/models/{model_id}"


def test_display_name_must_be_fewer_than_64_characters(account: Account) -> None:
    created = create(account.client, account.id, base_model(displayName="x" * 63))
    assert len(created["displayName"]) == 63
    resp = _post(account, {"modelId": uid(), "model": base_model(displayName="x" * 64)})
    assert_error(resp, 400, INVALID_ARGUMENT, field="displayName")


def test_description_must_be_fewer_than_1000_characters(account: Account) -> None:
    created = create(account.client, account.id, base_model(description="é" * 999))
    assert len(created["description"]) == 999
    resp = _post(account, {"modelId": uid(), "model": base_model(description="d" * 1000)})
    assert_error(resp, 400, INVALID_ARGUMENT, field="description")


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ({"kind": "HF_BASE_MODEL"}, "baseModelDetails"),
        (peft_model(baseModelDetails={"parameterCount": "1"}), "baseModelDetails"),
        ({"kind": "FLUMINA_BASE_MODEL", "baseModelDetails": {"parameterCount": "1"}}, "baseModelDetails"),
        ({"kind": "HF_PEFT_ADDON"}, "peftDetails"),
        ({"kind": "HF_TEFT_ADDON", "teftDetails": {}}, "peftDetails"),
        ({"kind": "HF_TEFT_ADDON", "peftDetails": PEFT_DETAILS}, "teftDetails"),
        (peft_model(teftDetails={}), "teftDetails"),
        (base_model(teftDetails={}), "teftDetails"),
        (peft_model(peftDetails={**PEFT_DETAILS, "r": 3}), "peftDetails.r"),
        (peft_model(peftDetails={**PEFT_DETAILS, "r": 65}), "peftDetails.r"),
        (
            peft_model(peftDetails={"baseModel": "accounts/a/models/b", "targetModules": ["q"]}),
            "peftDetails.r",
        ),
        (base_model(defaultDraftModel="accounts/fireworks/models/draft"), "defaultDraftTokenCount"),
    ],
    ids=[
        "base-without-details",
        "peft-with-base-details",
        "flumina-with-base-details",
        "peft-without-peft-details",
        "teft-without-peft-details",
        "teft-without-teft-details",
        "peft-with-teft-details",
        "base-with-teft-details",
        "r-3",
        "r-65",
        "r-unset",
        "draft-model-without-token-count",
    ],
)
def test_kind_rules(account: Account, model: dict[str, Any], field: str) -> None:
    assert_error(_post(account, {"modelId": uid(), "model": model}), 400, INVALID_ARGUMENT, field=field)


@pytest.mark.parametrize("r", [4, 64])
def test_peft_rank_bounds_are_inclusive(account: Account, r: int) -> None:
    created = create(account.client, account.id, peft_model(peftDetails={**PEFT_DETAILS, "r": r}))
    assert created["peftDetails"]["r"] == r


def test_flumina_base_model_needs_no_details(account: Account) -> None:
    assert create(account.client, account.id, {"kind": "FLUMINA_BASE_MODEL"})["kind"] == "FLUMINA_BASE_MODEL"


def test_default_draft_model_with_token_count(account: Account) -> None:
    created = create(
        account.client,
        account.id,
        base_model(defaultDraftModel="accounts/fireworks/models/draft", defaultDraftTokenCount=3),
    )
    assert created["defaultDraftTokenCount"] == 3


@pytest.mark.parametrize(
    "raw",
    [b'{"modelId": ', b"", b"   ", b"{'modelId': 'x'}", b"\xff\xfe", b'{"modelId": "x",}', b"nul\x00"],
    ids=["truncated", "empty", "blank", "single-quotes", "not-utf8", "trailing-comma", "garbage"],
)
def test_malformed_json_is_400(account: Account, raw: bytes) -> None:
    resp = account.client.post(account.url(), content=raw, headers={"content-type": "application/json"})
    assert_error(resp, 400, INVALID_ARGUMENT)


@pytest.mark.parametrize("body", [[], [{"modelId": "x"}], "model", 42, None, True], ids=repr)
def test_non_object_body_is_400(account: Account, body: Any) -> None:
    assert_error(_post(account, body), 400, INVALID_ARGUMENT)


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (base_model(contextLength="abc"), "contextLength"),
        (base_model(contextLength=1.5), "contextLength"),
        (base_model(contextLength=2**31), "contextLength"),
        (base_model(contextLength=True), "contextLength"),
        (base_model(displayName=5), "displayName"),
        (base_model(displayName=["x"]), "displayName"),
        (base_model(supportsTools="yes"), "supportsTools"),
        (base_model(supportsTools=1), "supportsTools"),
        (base_model(kind="LLAMA"), "kind"),
        (base_model(kind="hf_base_model"), "kind"),
        (base_model(kind=99), "kind"),
        (base_model(snapshotType="PARTIAL"), "snapshotType"),
        (base_model(baseModelDetails="big"), "baseModelDetails"),
        (base_model(baseModelDetails={"parameterCount": "lots"}), "baseModelDetails.parameterCount"),
        (base_model(baseModelDetails={"parameterCount": "9" * 25}), "baseModelDetails.parameterCount"),
        (base_model(baseModelDetails={"checkpointFormat": "ZIP"}), "baseModelDetails.checkpointFormat"),
        (peft_model(peftDetails={**PEFT_DETAILS, "targetModules": "q_proj"}), "peftDetails.targetModules"),
        (base_model(deprecationDate={"year": 2025, "month": 13}), "deprecationDate.month"),
        (base_model(deprecationDate="2025-01-01"), "deprecationDate"),
        (base_model(conversationConfig={"system": "x"}), "conversationConfig.style"),
        (base_model(displayName="nul\x00char"), "displayName"),
    ],
    ids=[
        "contextLength-abc",
        "contextLength-fraction",
        "contextLength-overflow",
        "contextLength-bool",
        "displayName-number",
        "displayName-array",
        "supportsTools-yes",
        "supportsTools-1",
        "kind-LLAMA",
        "kind-lowercase",
        "kind-99",
        "snapshotType-unknown",
        "baseModelDetails-string",
        "parameterCount-word",
        "parameterCount-overflow",
        "checkpointFormat-unknown",
        "targetModules-string",
        "date-month-13",
        "date-string",
        "conversationConfig-without-style",
        "nul-character",
    ],
)
def test_wrong_types_and_values_are_400_naming_the_field(
    account: Account, model: dict[str, Any], field: str
) -> None:
    assert_error(_post(account, {"modelId": uid(), "model": model}), 400, INVALID_ARGUMENT, field=field)


def test_unknown_model_field_is_400(account: Account) -> None:
    body = assert_error(
        _post(account, {"modelId": uid(), "model": base_model(contextLenght=10)}),
        400,
        INVALID_ARGUMENT,
        field="contextLenght",
    )
    assert "contextLength" in body["message"] or "context_length" in body["message"]


def test_unknown_nested_field_is_400(account: Account) -> None:
    resp = _post(account, {"modelId": uid(), "model": base_model(baseModelDetails={"paramCount": "1"})})
    assert_error(resp, 400, INVALID_ARGUMENT, field="paramCount")


def test_unknown_top_level_field_is_400(account: Account) -> None:
    resp = _post(account, {"modelId": uid(), "model": base_model(), "displayName": "misplaced"})
    assert_error(resp, 400, INVALID_ARGUMENT, field="displayName")


def test_validation_errors_carry_reason_and_domain(account: Account) -> None:
    body = assert_error(
        _post(account, {"modelId": uid(), "model": base_model(displayName="x" * 64)}), 400, INVALID_ARGUMENT
    )
    info = error_info(body)
    assert info["reason"] and info["domain"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"modelId": "a", "model": ' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
        b'{"modelId": "a", "model": {"contextLength": 1e400}}',
        b'{"modelId": "a", "model": {"displayName": "\\ud800"}}',
        b'{"modelId": "a", "model": {"contextLength": NaN}}',
        b'{"modelId": "a\\u0000b", "model": {}}',
        b'{"modelId": "' + b"a" * 100_000 + b'"}',
    ],
    ids=["deep-array", "deep-object", "huge-number", "lone-surrogate", "nan", "nul-in-id", "huge-id"],
)
def test_hostile_bodies_are_400_never_500(account: Account, raw: bytes) -> None:
    resp = account.client.post(account.url(), content=raw, headers={"content-type": "application/json"})
    assert_error(resp, 400, INVALID_ARGUMENT)


# ---------------------------------------------------------------------------------------------------
# Get
# ---------------------------------------------------------------------------------------------------


def test_get_unknown_model_is_404(account: Account) -> None:
    resp = account.client.get(account.url() + f"/{uid()}")
    assert_error(resp, 404, NOT_FOUND)


def test_get_with_invalid_model_id_is_400(account: Account) -> None:
    assert_error(account.client.get(account.url() + "/Bad_Id"), 400, INVALID_ARGUMENT)


@pytest.mark.parametrize("param", ["readMask", "read_mask"])
def test_get_read_mask(account: Account, param: str) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="Masked", description="hidden"), model_id)
    url = account.url() + f"/{model_id}"
    resp = account.client.get(url, params={param: "name,displayName"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"name": f"accounts/{account.id}/models/{model_id}", "displayName": "Masked"}
    resp = account.client.get(url, params={param: "baseModelDetails.parameterCount"})
    assert resp.json() == {"baseModelDetails": {"parameterCount": "8000000000"}}
    resp = account.client.get(url, params={param: "display_name, base_model_details.parameter_count"})
    assert resp.json() == {"displayName": "Masked", "baseModelDetails": {"parameterCount": "8000000000"}}
    full = account.client.get(url).json()
    assert account.client.get(url, params={param: "*"}).json() == full
    assert account.client.get(url, params={param: ""}).json() == full


@pytest.mark.parametrize("mask", ["nope", "*,name", "name,,displayName", "displayname", "name.x"])
def test_get_invalid_read_mask_is_400(account: Account, mask: str) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.get(account.url() + f"/{model_id}", params={"readMask": mask})
    assert_error(resp, 400, INVALID_ARGUMENT, field="readMask")


def test_get_returns_deployed_model_refs_and_output_only_fields(server: Server, account: Account) -> None:
    model_id = uid()
    refs = [
        {
            "name": f"accounts/{account.id}/deployedModels/d1",
            "deployment": f"accounts/{account.id}/deployments/dep1",
            "state": "DEPLOYED",
            "default": True,
        }
    ]
    server.store.create_model(
        account.id,
        model_id,
        stored(
            deployedModelRefs=refs,
            supportsServerless=True,
            supportedPrecisions=["FP8", "FP16"],
            supportedPrecisionsWithCalibration=["FP8"],
            supervisedLoraTunable=True,
            defaultSamplingParams={"temperature": 0.5},
            status={"code": "OK", "message": "fine"},
        ),
    )
    got = account.client.get(account.url() + f"/{model_id}").json()
    assert got["deployedModelRefs"] == refs
    assert got["supportsServerless"] is True
    assert got["supportedPrecisions"] == ["FP8", "FP16"]
    assert got["supportedPrecisionsWithCalibration"] == ["FP8"]
    assert got["supervisedLoraTunable"] is True
    assert got["defaultSamplingParams"] == {"temperature": 0.5}
    masked = account.client.get(
        account.url() + f"/{model_id}", params={"readMask": "deployedModelRefs.state"}
    )
    assert masked.json() == {"deployedModelRefs": [{"state": "DEPLOYED"}]}
    listed = account.client.get(account.url()).json()["models"]
    assert [m for m in listed if m["name"].endswith("/" + model_id)]
    assert all("deployedModelRefs" not in m for m in listed)


# ---------------------------------------------------------------------------------------------------
# Update
# ---------------------------------------------------------------------------------------------------


def test_update_changes_only_the_keys_sent(account: Account) -> None:
    model_id = uid()
    before = create(
        account.client,
        account.id,
        base_model(displayName="Old", description="Keep me", contextLength=100),
        model_id,
    )
    url = account.url() + f"/{model_id}"
    resp = account.client.patch(url, json={"displayName": "New", "supportsTools": True})
    assert resp.status_code == 200, resp.text
    after = resp.json()
    assert after["displayName"] == "New"
    assert after["supportsTools"] is True
    assert after["description"] == "Keep me"
    assert after["contextLength"] == 100
    assert after["baseModelDetails"] == before["baseModelDetails"]
    assert after["name"] == before["name"]
    assert after["createTime"] == before["createTime"]
    assert after["state"] == "UPLOADING"
    assert RFC3339_Z.match(after["updateTime"])
    assert _ts(after["updateTime"]) > _ts(before["updateTime"])
    assert account.client.get(url).json() == after


def test_update_time_advances_on_every_update(account: Account) -> None:
    model_id = uid()
    created = create(account.client, account.id, base_model(), model_id)
    url = account.url() + f"/{model_id}"
    times = [_ts(created["updateTime"])]
    for i in range(3):
        resp = account.client.patch(url, json={"description": f"v{i}"})
        assert resp.status_code == 200, resp.text
        times.append(_ts(resp.json()["updateTime"]))
    assert times == sorted(times) and len(set(times)) == len(times)


def test_update_without_mask_changes_only_the_nested_keys_sent(account: Account) -> None:
    """Without updateMask the mask is implied by the body, leaf by leaf (grpc-gateway's
    FieldMaskFromRequestBody): a nested key sent changes, even to its default value, and the sibling
    keys that were not sent stay."""
    model_id = uid()
    details = {"parameterCount": "7", "moe": True, "modelType": "llama", "worldSize": 2}
    create(account.client, account.id, base_model(baseModelDetails=details), model_id)
    url = account.url() + f"/{model_id}"
    resp = account.client.patch(url, json={"baseModelDetails": {"parameterCount": "9"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["baseModelDetails"] == {**details, "parameterCount": "9"}
    resp = account.client.patch(url, json={"baseModelDetails": {"modelType": "mistral", "moe": False}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["baseModelDetails"] == {"parameterCount": "9", "modelType": "mistral", "worldSize": 2}
    resp = account.client.patch(url, json={"baseModelDetails": {"worldSize": 0}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["baseModelDetails"] == {"parameterCount": "9", "modelType": "mistral"}
    assert account.client.get(url).json()["baseModelDetails"] == {
        "parameterCount": "9",
        "modelType": "mistral",
    }


def test_update_without_mask_can_replace_a_whole_message(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, peft_model(), model_id)
    url = account.url() + f"/{model_id}"
    new_peft = {"baseModel": "accounts/a/models/other", "r": 32, "targetModules": ["k_proj"]}
    resp = account.client.patch(url, json={"peftDetails": new_peft})
    assert resp.status_code == 200, resp.text
    assert resp.json()["peftDetails"] == new_peft
    resp = account.client.patch(url, json={"peftDetails": {"r": 16}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["peftDetails"] == {**new_peft, "r": 16}


def test_update_accepts_snake_case_keys(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}", json={"display_name": "Snake", "context_length": 2048}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["displayName"] == "Snake"
    assert resp.json()["contextLength"] == 2048


def test_update_setting_a_default_value_clears_the_field(account: Account) -> None:
    model_id = uid()
    create(
        account.client, account.id, base_model(description="d", supportsTools=True, contextLength=5), model_id
    )
    resp = account.client.patch(
        account.url() + f"/{model_id}", json={"description": "", "supportsTools": False, "contextLength": 0}
    )
    assert resp.status_code == 200, resp.text
    for key in ("description", "supportsTools", "contextLength"):
        assert key not in resp.json(), key


@pytest.mark.parametrize("param", ["updateMask", "update_mask"])
@pytest.mark.parametrize("paths", ["description,displayName", "description,display_name"])
def test_update_mask_clears_masked_fields_absent_from_the_body(
    account: Account, param: str, paths: str
) -> None:
    model_id = uid()
    create(
        account.client,
        account.id,
        base_model(displayName="Old", description="Gone", contextLength=7),
        model_id,
    )
    resp = account.client.patch(
        account.url() + f"/{model_id}", params={param: paths}, json={"displayName": "New"}
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["displayName"] == "New"
    assert "description" not in got
    assert got["contextLength"] == 7


def test_update_mask_ignores_body_keys_outside_the_mask(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="Old", description="Same"), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}",
        params={"updateMask": "display_name"},
        json={"displayName": "New", "description": "ignored"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["displayName"] == "New"
    assert resp.json()["description"] == "Same"


def test_update_mask_nested_paths(account: Account) -> None:
    model_id = uid()
    create(
        account.client,
        account.id,
        base_model(baseModelDetails={"parameterCount": "7", "moe": True, "modelType": "llama"}),
        model_id,
    )
    url = account.url() + f"/{model_id}"
    resp = account.client.patch(
        url,
        params={"updateMask": "base_model_details.parameter_count"},
        json={"baseModelDetails": {"parameterCount": 9, "moe": False}},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["baseModelDetails"] == {"parameterCount": "9", "moe": True, "modelType": "llama"}
    resp = account.client.patch(url, params={"updateMask": "baseModelDetails.moe"}, json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["baseModelDetails"] == {"parameterCount": "9", "modelType": "llama"}


def test_update_mask_into_an_unset_message_does_not_create_it(account: Account) -> None:
    """Clearing ``base_model_details.parameter_count`` on a model without baseModelDetails is a no-op
    (protobuf FieldMask merge semantics); it must not create an empty baseModelDetails (which then fails
    the kind rules for a PEFT addon)."""
    model_id = uid()
    created = create(account.client, account.id, peft_model(displayName="p"), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}", params={"updateMask": "base_model_details.parameter_count"}, json={}
    )
    assert resp.status_code == 200, resp.text
    assert "baseModelDetails" not in resp.json()
    assert resp.json()["peftDetails"] == created["peftDetails"]


def test_empty_update_mask_is_not_a_full_replacement(account: Account) -> None:
    """``?updateMask=`` (an empty value) must not mean ``*``: either it is the absent mask (the keys sent
    are updated, AIP-134's implied mask) or it is rejected as INVALID_ARGUMENT naming updateMask. It
    must never silently clear the fields that were not sent."""
    model_id = uid()
    created = create(account.client, account.id, base_model(displayName="Keep", contextLength=9), model_id)
    url = account.url() + f"/{model_id}"
    body = {"description": "x", "kind": "HF_BASE_MODEL", "baseModelDetails": {"parameterCount": "8000000000"}}
    for param in ("updateMask", "update_mask"):
        resp = account.client.patch(url, params={param: ""}, json=body)
        if resp.status_code == 400:
            assert_error(resp, 400, INVALID_ARGUMENT, field="updateMask")
            assert account.client.get(url).json() == created
        else:
            assert resp.status_code == 200, resp.text
            got = resp.json()
            assert got["description"] == "x"
            assert got.get("displayName") == "Keep", f"an empty updateMask cleared fields not sent: {got}"
            assert got.get("contextLength") == 9


def test_update_mask_star_replaces_every_writable_field(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="Old", description="Gone"), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}",
        params={"updateMask": "*"},
        json={"kind": "HF_BASE_MODEL", "baseModelDetails": {"parameterCount": "1"}, "contextLength": 3},
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert "displayName" not in got and "description" not in got
    assert got["contextLength"] == 3
    assert got["state"] == "UPLOADING"  # output-only fields survive


@pytest.mark.parametrize("mask", ["nope", "display_name,,description", "deployed_model_refs.state", "*,name"])
def test_invalid_update_mask_is_400(account: Account, mask: str) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.patch(account.url() + f"/{model_id}", params={"updateMask": mask}, json={})
    assert_error(resp, 400, INVALID_ARGUMENT, field="updateMask")


def test_output_only_fields_are_ignored_on_update(account: Account) -> None:
    model_id = uid()
    created = create(account.client, account.id, base_model(displayName="D"), model_id)
    resp = account.client.patch(account.url() + f"/{model_id}", json={**OUTPUT_ONLY, "displayName": "E"})
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["displayName"] == "E"
    assert got["name"] == created["name"]
    assert got["state"] == "UPLOADING"
    assert got["createTime"] == created["createTime"]
    assert "supportsServerless" not in got and "cluster" not in got
    masked = account.client.patch(
        account.url() + f"/{model_id}", params={"updateMask": "state,create_time"}, json={"state": "READY"}
    )
    assert masked.status_code == 200, masked.text
    assert masked.json()["state"] == "UPLOADING"
    assert masked.json()["createTime"] == created["createTime"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"displayName": "x" * 64}, "displayName"),
        ({"description": "x" * 1000}, "description"),
        ({"kind": "LLAMA"}, "kind"),
        ({"contextLength": "abc"}, "contextLength"),
        ({"supportsTools": "yes"}, "supportsTools"),
        ({"kind": "HF_PEFT_ADDON"}, "baseModelDetails"),
        ({"defaultDraftModel": "accounts/a/models/d"}, "defaultDraftTokenCount"),
        ({"teftDetails": {}}, "teftDetails"),
        ({"unknownField": 1}, "unknownField"),
    ],
    ids=[
        "displayName-64",
        "description-1000",
        "kind-unknown",
        "contextLength-abc",
        "supportsTools-yes",
        "kind-change-breaks-rules",
        "draft-without-count",
        "teft-on-base",
        "unknown-field",
    ],
)
def test_invalid_update_is_400_and_changes_nothing(
    account: Account, patch: dict[str, Any], field: str
) -> None:
    model_id = uid()
    created = create(account.client, account.id, base_model(displayName="Before"), model_id)
    url = account.url() + f"/{model_id}"
    assert_error(account.client.patch(url, json=patch), 400, INVALID_ARGUMENT, field=field)
    assert account.client.get(url).json() == created


def test_update_kind_with_matching_details(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}",
        params={"updateMask": "kind,base_model_details,peft_details"},
        json={"kind": "HF_PEFT_ADDON", "peftDetails": PEFT_DETAILS},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["kind"] == "HF_PEFT_ADDON"
    assert "baseModelDetails" not in resp.json()


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b'"str"', b"42", b"null", b"\xff"],
    ids=["truncated", "array", "string", "number", "null", "bytes"],
)
def test_update_with_malformed_or_non_object_body_is_400(account: Account, raw: bytes) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.patch(
        account.url() + f"/{model_id}", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(resp, 400, INVALID_ARGUMENT)


def test_update_unknown_model_is_404(account: Account) -> None:
    resp = account.client.patch(account.url() + f"/{uid()}", json={"displayName": "x"})
    assert_error(resp, 404, NOT_FOUND)


# ---------------------------------------------------------------------------------------------------
# Delete
# ---------------------------------------------------------------------------------------------------


def test_delete_returns_empty_object_then_404(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    url = account.url() + f"/{model_id}"
    resp = account.client.delete(url)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    assert_error(account.client.get(url), 404, NOT_FOUND)
    assert_error(account.client.delete(url), 404, NOT_FOUND)
    assert_error(account.client.patch(url, json={"displayName": "x"}), 404, NOT_FOUND)
    listed = account.client.get(account.url()).json()
    assert all(not m["name"].endswith("/" + model_id) for m in listed["models"])
    # the id can be reused
    assert create(account.client, account.id, base_model(), model_id)["name"].endswith("/" + model_id)


def test_delete_unknown_model_is_404(account: Account) -> None:
    assert_error(account.client.delete(account.url() + f"/{uid()}"), 404, NOT_FOUND)


# ---------------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------------


def _requests(account_id: str, model_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", models_url(account_id), None),
        ("GET", models_url(account_id, model_id), None),
        ("POST", models_url(account_id), {"modelId": uid(), "model": base_model()}),
        ("PATCH", models_url(account_id, model_id), {"displayName": "x"}),
        ("DELETE", models_url(account_id, model_id), None),
        ("GET", models_url("-"), None),
    ]


def test_no_api_key_is_401_unauthenticated(server: Server, account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    anon = server.anonymous()
    for method, url, body in _requests(account.id, model_id):
        resp = anon.request(method, url, json=body)
        assert_error(resp, 401, UNAUTHENTICATED)
        assert resp.headers.get("www-authenticate"), (method, url)
    assert account.client.get(account.url() + f"/{model_id}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer my_not-a-real-key"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "my_no-scheme"},
        {"X-Api-Key": "my_not-a-real-key"},
        {"X-Api-Key": ""},
    ],
    ids=["unknown-bearer", "empty-bearer", "basic", "no-scheme", "unknown-x-api-key", "empty-x-api-key"],
)
def test_bad_api_key_is_401(server: Server, account: Account, headers: dict[str, str]) -> None:
    anon = server.anonymous()
    for method, url, body in _requests(account.id, uid()):
        resp = anon.request(method, url, json=body, headers=headers)
        assert_error(resp, 401, UNAUTHENTICATED)
        assert resp.headers.get("www-authenticate")


def test_x_api_key_header_works(server: Server, account: Account) -> None:
    model_id = uid()
    anon = server.anonymous()
    headers = {"X-Api-Key": account.key}
    resp = anon.post(account.url(), json={"modelId": model_id, "model": base_model()}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert anon.get(account.url() + f"/{model_id}", headers=headers).status_code == 200
    assert anon.get(account.url(), headers=headers).json()["totalSize"] == 1


def test_bearer_scheme_is_case_insensitive(server: Server, account: Account) -> None:
    resp = server.anonymous().get(account.url(), headers={"Authorization": f"bearer {account.key}"})
    assert resp.status_code == 200, resp.text


def test_api_keys_are_stored_only_as_hashes(server: Server, account: Account) -> None:
    with server.store.engine.connect() as conn:
        rows = conn.execute(select(api_keys).where(api_keys.c.account_id == account.id)).all()
    assert rows
    for row in rows:
        for value in row:
            if isinstance(value, bytes | memoryview):
                assert account.key.encode() not in bytes(value)
            elif isinstance(value, str):
                assert account.key not in value


def test_private_model_of_another_account_is_404(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    create(other.client, other.id, base_model(), model_id)
    existing = account.client.get(models_url(other.id, model_id))
    body = assert_error(existing, 404, NOT_FOUND)
    missing_id = uid()
    missing = assert_error(account.client.get(models_url(other.id, missing_id)), 404, NOT_FOUND)
    # the two answers differ only by the name asked for: existence is not revealed
    assert body["message"].replace(model_id, "X") == missing["message"].replace(missing_id, "X")
    assert error_info(body)["reason"] == error_info(missing)["reason"]
    # a read mask does not change that
    assert_error(
        account.client.get(models_url(other.id, model_id), params={"readMask": "name"}), 404, NOT_FOUND
    )


def test_public_model_of_another_account_is_readable(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    created = create(other.client, other.id, base_model(public=True), model_id)
    resp = account.client.get(models_url(other.id, model_id))
    assert resp.status_code == 200, resp.text
    assert resp.json() == created


def test_making_a_model_private_hides_it(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    create(other.client, other.id, base_model(public=True), model_id)
    assert account.client.get(models_url(other.id, model_id)).status_code == 200
    assert other.client.patch(models_url(other.id, model_id), json={"public": False}).status_code == 200
    assert_error(account.client.get(models_url(other.id, model_id)), 404, NOT_FOUND)


def test_listing_another_account_returns_only_its_public_models(server: Server, account: Account) -> None:
    other = server.new_account()
    public_ids = sorted(uid("pub") for _ in range(3))
    for model_id in public_ids:
        create(other.client, other.id, base_model(public=True), model_id)
    for _ in range(2):
        create(other.client, other.id, base_model())
    resp = account.client.get(models_url(other.id))
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert [m["name"] for m in page["models"]] == [f"accounts/{other.id}/models/{i}" for i in public_ids]
    assert page["totalSize"] == 3
    assert other.client.get(models_url(other.id)).json()["totalSize"] == 5


def test_listing_an_account_that_does_not_exist_is_empty(account: Account) -> None:
    resp = account.client.get(models_url("nobody-" + uid()))
    assert resp.status_code == 200, resp.text
    assert resp.json().get("models", []) == []
    assert resp.json()["totalSize"] == 0


def test_writes_to_another_account_are_403(server: Server, account: Account) -> None:
    other = server.new_account()
    model_id = uid()
    created = create(other.client, other.id, base_model(public=True), model_id)
    missing = uid()
    cases = [
        ("POST", models_url(other.id), {"modelId": uid(), "model": base_model()}),
        ("POST", models_url(other.id), {"modelId": model_id, "model": base_model()}),
        ("PATCH", models_url(other.id, model_id), {"displayName": "hacked"}),
        ("PATCH", models_url(other.id, missing), {"displayName": "hacked"}),
        ("DELETE", models_url(other.id, model_id), None),
        ("DELETE", models_url(other.id, missing), None),
        ("POST", models_url("nobody-" + uid()), {"modelId": uid(), "model": base_model()}),
    ]
    for method, url, body in cases:
        resp = account.client.request(method, url, json=body)
        assert_error(resp, 403, PERMISSION_DENIED)
    assert other.client.get(models_url(other.id, model_id)).json() == created
    assert other.client.get(models_url(other.id)).json()["totalSize"] == 1


def test_permission_is_checked_before_validation(server: Server, account: Account) -> None:
    other = server.new_account()
    resp = account.client.post(models_url(other.id), json={"modelId": "BAD", "model": {"kind": "LLAMA"}})
    assert_error(resp, 403, PERMISSION_DENIED)
    resp = account.client.patch(models_url(other.id, uid()), json={"kind": "LLAMA"})
    assert_error(resp, 403, PERMISSION_DENIED)


def test_all_accounts_lists_own_models_and_public_models(server: Server, account: Account) -> None:
    other = server.new_account()
    own_private = create(account.client, account.id, base_model())["name"]
    own_public = create(account.client, account.id, base_model(public=True))["name"]
    other_public = create(other.client, other.id, base_model(public=True))["name"]
    other_private = create(other.client, other.id, base_model())["name"]
    seen: list[str] = []
    token = None
    # the session database holds other tests' public models: look at these two accounts only
    only = f'name = "accounts/{account.id}/models/*" OR name = "accounts/{other.id}/models/*"'
    while True:
        params: dict[str, Any] = {"pageSize": 1, "filter": only}
        if token:
            params["pageToken"] = token
        resp = account.client.get(models_url("-"), params=params)
        assert resp.status_code == 200, resp.text
        seen += [m["name"] for m in resp.json().get("models", [])]
        token = resp.json().get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(seen) == {own_private, own_public, other_public}
    assert other_private not in seen
    # the other account sees its own private model through "-"
    resp = other.client.get(models_url("-"), params={"filter": f'name = "{other_private}"'})
    assert resp.status_code == 200, resp.text
    assert [m["name"] for m in resp.json()["models"]] == [other_private]


# ---------------------------------------------------------------------------------------------------
# Routing and errors
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("GET", "/v1/accounts/{a}/things"),
        ("POST", "/v2/accounts/{a}/models"),
        ("GET", "/v1/accounts/{a}/models/m/extra"),
        ("DELETE", "/v1/accounts/{a}"),
    ],
)
def test_unknown_route_is_404_json(account: Account, method: str, path: str) -> None:
    resp = account.client.request(method, path.format(a=account.id))
    assert_error(resp, 404, NOT_FOUND)


def test_unsupported_method_on_a_model_is_a_json_error(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.put(account.url() + f"/{model_id}", json={})
    assert resp.status_code in (405, 501), resp.text
    assert resp.json()["code"] == UNIMPLEMENTED


@pytest.mark.parametrize(
    ("method", "verb", "body"),
    [
        ("POST", "prepare", {"precision": "FP8"}),
        # getUploadEndpoint, validateUpload and getDownloadEndpoint: tests/test_files_*.py
    ],
)
def test_custom_methods_are_501_unimplemented(
    account: Account, method: str, verb: str, body: dict[str, Any] | None
) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.request(method, account.url() + f"/{model_id}:{verb}", json=body)
    assert_error(resp, 501, UNIMPLEMENTED)


@pytest.mark.parametrize("account_id", ["UPPER", "1digit", "a_b", "x" * 64])
def test_invalid_account_id_in_path_is_400(account: Account, account_id: str) -> None:
    assert_error(account.client.get(models_url(account_id)), 400, INVALID_ARGUMENT)
    assert_error(account.client.get(models_url(account_id, "m")), 400, INVALID_ARGUMENT)


def test_error_body_shape_for_invalid_argument(account: Account) -> None:
    body = assert_error(
        _post(account, {"modelId": "Bad", "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )
    assert set(body) == {"code", "message", "details"}
    kinds = [d["@type"] for d in body["details"]]
    assert kinds.count("type.googleapis.com/google.rpc.ErrorInfo") == 1
    assert kinds.count("type.googleapis.com/google.rpc.BadRequest") == 1
    violation = next(d for d in body["details"] if d["@type"].endswith("BadRequest"))["fieldViolations"][0]
    assert violation["description"]
