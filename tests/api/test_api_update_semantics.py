"""PATCH semantics: the body implies a mask of the leaves sent (as grpc-gateway does), or ``updateMask``."""

from __future__ import annotations

from typing import Any

from tests.support.accounts import Account
from tests.support.server import Server


def _create(account: Account, model_id: str) -> dict[str, Any]:
    r = account.client.post(
        account.url(),
        json={
            "modelId": model_id,
            "model": {
                "displayName": "Base",
                "description": "keep me",
                "kind": "HF_BASE_MODEL",
                "baseModelDetails": {"parameterCount": "8000000000", "modelType": "llama", "moe": False},
                "contextLength": 8192,
            },
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_nested_leaf_update_keeps_siblings(account: Account) -> None:
    _create(account, "nested")
    r = account.client.patch(f"{account.url()}/nested", json={"baseModelDetails": {"moe": True}})
    assert r.status_code == 200, r.text
    details = r.json()["baseModelDetails"]
    assert details == {"parameterCount": "8000000000", "modelType": "llama", "moe": True}
    assert r.json()["description"] == "keep me"


def test_explicit_null_and_default_clear(account: Account) -> None:
    _create(account, "clears")
    r = account.client.patch(
        f"{account.url()}/clears",
        json={"description": None, "contextLength": 0, "baseModelDetails": {"modelType": ""}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "description" not in body and "contextLength" not in body
    assert body["baseModelDetails"] == {"parameterCount": "8000000000"}


def test_update_mask_clears_absent_fields_and_ignores_unset_parents(account: Account) -> None:
    _create(account, "masked")
    r = account.client.patch(
        f"{account.url()}/masked",
        params={
            "updateMask": "display_name,description,conversationConfig.style,base_model_details.model_type"
        },
        json={"displayName": "Renamed"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["displayName"] == "Renamed"
    assert "description" not in body
    assert "conversationConfig" not in body  # clearing a subfield of an unset message leaves it unset
    assert body["baseModelDetails"] == {"parameterCount": "8000000000"}
    assert body["contextLength"] == 8192  # not in the mask: untouched


def test_update_mask_star_replaces_writable_fields(account: Account) -> None:
    created = _create(account, "starred")
    r = account.client.patch(
        f"{account.url()}/starred",
        params={"update_mask": "*"},
        json={"kind": "EMBEDDING_MODEL", "displayName": "Only this"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["displayName"] == "Only this" and body["kind"] == "EMBEDDING_MODEL"
    assert "baseModelDetails" not in body and "description" not in body
    assert body["createTime"] == created["createTime"] and body["state"] == "UPLOADING"


def test_update_validates_the_merged_model(account: Account) -> None:
    _create(account, "invalid")
    r = account.client.patch(f"{account.url()}/invalid", json={"kind": "EMBEDDING_MODEL"})
    assert r.status_code == 400
    assert "baseModelDetails" in r.json()["message"]
    unchanged = account.client.get(f"{account.url()}/invalid").json()
    assert unchanged["kind"] == "HF_BASE_MODEL"


def test_far_timestamps_in_filters_and_imports(account: Account) -> None:
    _create(account, "timely")
    for text, expected in (
        ('create_time > "9999-12-31T23:59:59Z"', 0),
        ('create_time < "9999-12-31T23:59:59Z"', 1),
        ('create_time > "0001-01-01T00:00:00Z"', 1),
        ('create_time != "0001-01-01T00:00:00Z"', 1),
        ('create_time = "0001-01-01T00:00:00Z"', 0),
    ):
        r = account.client.get(account.url(), params={"filter": text})
        assert r.status_code == 200, (text, r.text)
        assert r.json()["totalSize"] == expected, text


def test_enums_order_by_number_even_when_declared_out_of_order(server: Server) -> None:
    """google.rpc.Code declares UNAUTHENTICATED ninth but numbers it 16: it sorts after DATA_LOSS (15)."""
    account = server.new_account("codes")
    items = [
        (f"m-{code.lower().replace('_', '-')}", {"kind": "EMBEDDING_MODEL", "status": {"code": code}})
        for code in ("UNAUTHENTICATED", "DATA_LOSS", "OK", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED")
    ]
    server.store.import_batch(account.id, items, upsert=False)
    r = account.client.get(account.url(), params={"orderBy": "status.code", "readMask": "status"})
    assert r.status_code == 200, r.text
    codes = [m.get("status", {}).get("code", "OK") for m in r.json()["models"]]
    assert codes == ["OK", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "DATA_LOSS", "UNAUTHENTICATED"]
    assert (
        account.client.get(account.url(), params={"filter": "status.code = UNAUTHENTICATED"}).json()[
            "totalSize"
        ]
        == 1
    )
