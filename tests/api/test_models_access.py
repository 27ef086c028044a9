"""Access control, routing and the error body of the Models API over HTTP against a real
``modelyard serve`` (SQLite and PostgreSQL): API keys, other accounts' private and public models, unknown
routes and methods, custom methods.

Rules come from ``shared/spec/decisions.md`` (Access, Errors) and ``fireworks-models-api.md`` §6.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from modelyard.store.tables import api_keys
from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    UNIMPLEMENTED,
    assert_error,
    base_model,
    create,
    error_info,
    models_url,
    post_model,
    uid,
)
from tests.support.server import Server


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
        ("POST", "/v3/accounts/{a}/models"),  # /v2/ is the OCI door (tests/oci)
        ("GET", "/v1/accounts/{a}/models/m/extra"),
        ("DELETE", "/v1/accounts/{a}/things/x"),  # GET /v1/accounts/{a} is an Account (identity)
    ],
)
def test_unknown_route_is_404_json(account: Account, method: str, path: str) -> None:
    resp = account.client.request(method, path.format(a=account.id))
    assert_error(resp, 404, NOT_FOUND)


def test_unsupported_method_on_a_model_is_a_json_error(account: Account) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.put(account.url() + f"/{model_id}", json={})
    assert_error(resp, 405, UNIMPLEMENTED, reason="METHOD_NOT_ALLOWED")
    assert resp.headers["allow"] == "GET, HEAD, PATCH, DELETE"


@pytest.mark.parametrize("account_id", ["UPPER", "1digit", "a_b", "x" * 64])
def test_invalid_account_id_in_path_is_400(account: Account, account_id: str) -> None:
    assert_error(account.client.get(models_url(account_id)), 400, INVALID_ARGUMENT)
    assert_error(account.client.get(models_url(account_id, "m")), 400, INVALID_ARGUMENT)


def test_error_body_shape_for_invalid_argument(account: Account) -> None:
    body = assert_error(
        post_model(account, {"modelId": "Bad", "model": base_model()}), 400, INVALID_ARGUMENT, field="modelId"
    )
    assert set(body) == {"code", "message", "details"}
    kinds = [d["@type"] for d in body["details"]]
    assert kinds.count("type.googleapis.com/google.rpc.ErrorInfo") == 1
    assert kinds.count("type.googleapis.com/google.rpc.BadRequest") == 1
    violation = next(d for d in body["details"] if d["@type"].endswith("BadRequest"))["fieldViolations"][0]
    assert violation["description"]
