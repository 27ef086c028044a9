"""Get, Update (PATCH, with and without an update mask) and Delete Model over HTTP against a real
``modelyard serve`` (SQLite and PostgreSQL).

Rules come from ``shared/spec/decisions.md`` (Resources and JSON, Errors), the seed's Model schema and
``fireworks-models-api.md`` §1 and §2.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    OUTPUT_ONLY,
    PEFT_DETAILS,
    RFC3339_Z,
    assert_error,
    base_model,
    create,
    parse_timestamp,
    peft_model,
    stored,
    uid,
)
from tests.support.server import Server


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
    assert parse_timestamp(after["updateTime"]) > parse_timestamp(before["updateTime"])
    assert account.client.get(url).json() == after


def test_update_time_advances_on_every_update(account: Account) -> None:
    model_id = uid()
    created = create(account.client, account.id, base_model(), model_id)
    url = account.url() + f"/{model_id}"
    times = [parse_timestamp(created["updateTime"])]
    for i in range(3):
        resp = account.client.patch(url, json={"description": f"v{i}"})
        assert resp.status_code == 200, resp.text
        times.append(parse_timestamp(resp.json()["updateTime"]))
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
