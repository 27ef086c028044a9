"""Small shared builders and assertions for the HTTP API tests (models, list, SDK, counts)."""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets
from typing import Any

import httpx

from tests.support.accounts import Account
from tests.support.server import Server

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
REASON_RE = re.compile(r"^[A-Z][A-Z0-9_]+[A-Z0-9]$")

#: gRPC code numbers used by the tests.
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
UNIMPLEMENTED = 12
UNAUTHENTICATED = 16

PEFT_DETAILS: dict[str, Any] = {
    "baseModel": "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "r": 8,
    "targetModules": ["q_proj", "v_proj"],
}

#: Output-only fields with values a client must never be able to set.
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


def uid(prefix: str = "m") -> str:
    """A model id unique to the test run (valid under the id rules)."""
    return f"{prefix}-{secrets.token_hex(4)}"


def base_model(**fields: Any) -> dict[str, Any]:
    """A valid HF_BASE_MODEL body (the ``model`` object of a create request)."""
    body: dict[str, Any] = {
        "kind": "HF_BASE_MODEL",
        "displayName": "Base model",
        "baseModelDetails": {"parameterCount": "8000000000"},
    }
    body.update(fields)
    return body


def peft_model(**fields: Any) -> dict[str, Any]:
    """A valid HF_PEFT_ADDON body."""
    body: dict[str, Any] = {"kind": "HF_PEFT_ADDON", "peftDetails": copy.deepcopy(PEFT_DETAILS)}
    body.update(fields)
    return body


def teft_model(**fields: Any) -> dict[str, Any]:
    """A valid HF_TEFT_ADDON body."""
    body: dict[str, Any] = {
        "kind": "HF_TEFT_ADDON",
        "peftDetails": copy.deepcopy(PEFT_DETAILS),
        "teftDetails": {},
    }
    body.update(fields)
    return body


def models_url(account_id: str, model_id: str | None = None) -> str:
    base = f"/v1/accounts/{account_id}/models"
    return base if model_id is None else f"{base}/{model_id}"


def create(
    client: httpx.Client, account_id: str, model: dict[str, Any] | None = None, model_id: str | None = None
) -> dict[str, Any]:
    """Create a model through the API (asserting success) and return the response body."""
    model_id = model_id or uid()
    resp = client.post(
        models_url(account_id), json={"modelId": model_id, "model": base_model() if model is None else model}
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def stored(**fields: Any) -> dict[str, Any]:
    """A canonical Model for ``Store.import_batch`` / ``create_model`` (output-only fields allowed)."""
    resource: dict[str, Any] = {
        "kind": "HF_BASE_MODEL",
        "state": "READY",
        "baseModelDetails": {"parameterCount": "1000"},
    }
    resource.update(fields)
    return {k: v for k, v in resource.items() if v is not None}


def assert_error(
    resp: httpx.Response,
    http_status: int,
    code: int,
    *,
    reason: str | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    """Check the grpc-gateway error shape; with ``field``, a BadRequest violation must name it (the
    violation's field equals it or ends with ``.<field>``, snake_case or camelCase). Returns the body."""
    assert resp.status_code == http_status, f"expected {http_status}, got {resp.status_code}: {resp.text}"
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    details = body["details"]
    assert isinstance(details, list)
    infos = [d for d in details if d.get("@type") == ERROR_INFO]
    assert len(infos) == 1, f"exactly one ErrorInfo expected: {body}"
    info = infos[0]
    assert REASON_RE.match(info["reason"]) and len(info["reason"]) <= 63, info
    assert info["domain"], info
    assert isinstance(info.get("metadata", {}), dict)
    types = [d.get("@type") for d in details]
    assert len(types) == len(set(types)), f"a detail type appears twice: {body}"
    if reason is not None:
        assert info["reason"] == reason, body
    if field is not None:
        assert violation_fields(body), f"no BadRequest field violation: {body}"
        want = _camel(field)
        got = [_camel(f) for f in violation_fields(body)]
        assert any(f == want or f.endswith("." + want) for f in got), f"no violation names {field!r}: {body}"
    return body


def _camel(path: str) -> str:
    """``model.base_model_details.parameter_count`` -> ``model.baseModelDetails.parameterCount``."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), path)


def violation_fields(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for d in body.get("details", []):
        if d.get("@type") == BAD_REQUEST:
            out += [v["field"] for v in d.get("fieldViolations", [])]
    return out


def error_info(body: dict[str, Any]) -> dict[str, Any]:
    for d in body["details"]:
        if d.get("@type") == ERROR_INFO:
            info: dict[str, Any] = d
            return info
    raise AssertionError(f"no ErrorInfo in {body}")


def walk(
    client: httpx.Client, url: str, params: dict[str, Any] | None = None, *, page_size: int | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Page through a List to the end; returns (every model, every page body). Asserts the paging
    invariants that hold for every page: no empty page with a token, totalSize present."""
    params = dict(params or {})
    if page_size is not None:
        params["pageSize"] = page_size
    models: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(10_000):
        query = dict(params)
        if token:
            query["pageToken"] = token
        resp = client.get(url, params=query)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        pages.append(page)
        assert "totalSize" in page, page
        models += page.get("models", [])
        token = page.get("nextPageToken")
        if token:
            assert page.get("models"), f"an empty page carries a token: {page}"
        else:
            return models, pages
    raise AssertionError("the walk never ended")


def names(models: list[dict[str, Any]]) -> list[str]:
    return [m["name"] for m in models]


def ids(models: list[dict[str, Any]]) -> list[str]:
    return [m["name"].rsplit("/", 1)[1] for m in models]


def parse_timestamp(text: str) -> dt.datetime:
    """An RFC 3339 timestamp from a response as an aware datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def post_model(account: Account, body: Any, **kwargs: Any) -> httpx.Response:
    """POST ``body`` (any JSON value) to the account's models collection."""
    return account.client.post(account.url(), json=body, **kwargs)


#: What a page token looks like: URL-safe base64 without padding.
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
