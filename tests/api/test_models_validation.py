"""Create Model input validation over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL):
model ids, field limits, kind rules, malformed and hostile bodies, each refused with a google.rpc 400 that
names the field.

Rules come from ``shared/spec/decisions.md`` (Resources and JSON, Errors), the seed's Model schema and
``fireworks-models-api.md`` §1 and §6.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    PEFT_DETAILS,
    assert_error,
    base_model,
    create,
    error_info,
    peft_model,
    post_model,
    uid,
    violation_fields,
)


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
        post_model(account, {"modelId": model_id, "model": base_model()}),
        400,
        INVALID_ARGUMENT,
        field="modelId",
    )


def test_model_id_violations_use_one_spelling(account: Account) -> None:
    """Every modelId violation names the field the same way, with the JSON name used by the other
    violations (``pageSize``, ``readMask``, ``model.displayName``): not ``model_id`` for some rules and
    ``modelId`` for others."""
    for model_id in ["Upper", "", "1abc", "a" * 64, 42]:
        body = assert_error(
            post_model(account, {"modelId": model_id, "model": base_model()}), 400, INVALID_ARGUMENT
        )
        assert violation_fields(body) == ["modelId"], (model_id, body)


def test_empty_model_id_is_400(account: Account) -> None:
    assert_error(
        post_model(account, {"modelId": "", "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )
    assert_error(post_model(account, {"model": base_model()}), 400, INVALID_ARGUMENT, field="modelId")


def test_model_id_with_a_colon_is_invalid_argument_not_unimplemented(account: Account) -> None:
    """A colon in a body modelId is a bad id (400), not a custom method (501)."""
    assert_error(
        post_model(account, {"modelId": "bad:id", "model": base_model()}),
        400,
        INVALID_ARGUMENT,
        field="modelId",
    )


def test_model_id_must_be_a_string(account: Account) -> None:
    assert_error(
        post_model(account, {"modelId": 42, "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )


@pytest.mark.parametrize("model_id", ["a", "a" * 63, "a-1", "x9", "llama-v3p1-8b-instruct"])
def test_valid_model_ids(account: Account, model_id: str) -> None:
    created = create(account.client, account.id, base_model(), model_id)
    assert created["name"] == f"accounts/{account.id}/models/{model_id}"


def test_display_name_must_be_fewer_than_64_characters(account: Account) -> None:
    created = create(account.client, account.id, base_model(displayName="x" * 63))
    assert len(created["displayName"]) == 63
    resp = post_model(account, {"modelId": uid(), "model": base_model(displayName="x" * 64)})
    assert_error(resp, 400, INVALID_ARGUMENT, field="displayName")


def test_description_must_be_fewer_than_1000_characters(account: Account) -> None:
    created = create(account.client, account.id, base_model(description="é" * 999))
    assert len(created["description"]) == 999
    resp = post_model(account, {"modelId": uid(), "model": base_model(description="d" * 1000)})
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
    assert_error(post_model(account, {"modelId": uid(), "model": model}), 400, INVALID_ARGUMENT, field=field)


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
    assert_error(post_model(account, body), 400, INVALID_ARGUMENT)


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
    assert_error(post_model(account, {"modelId": uid(), "model": model}), 400, INVALID_ARGUMENT, field=field)


def test_unknown_model_field_is_400(account: Account) -> None:
    body = assert_error(
        post_model(account, {"modelId": uid(), "model": base_model(contextLenght=10)}),
        400,
        INVALID_ARGUMENT,
        field="contextLenght",
    )
    assert "contextLength" in body["message"] or "context_length" in body["message"]


def test_unknown_nested_field_is_400(account: Account) -> None:
    resp = post_model(account, {"modelId": uid(), "model": base_model(baseModelDetails={"paramCount": "1"})})
    assert_error(resp, 400, INVALID_ARGUMENT, field="paramCount")


def test_unknown_top_level_field_is_400(account: Account) -> None:
    resp = post_model(account, {"modelId": uid(), "model": base_model(), "displayName": "misplaced"})
    assert_error(resp, 400, INVALID_ARGUMENT, field="displayName")


def test_validation_errors_carry_reason_and_domain(account: Account) -> None:
    body = assert_error(
        post_model(account, {"modelId": uid(), "model": base_model(displayName="x" * 64)}),
        400,
        INVALID_ARGUMENT,
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
