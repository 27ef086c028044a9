"""Issue 15 items 6 and 7 against a real ``modelyard serve`` (SQLite and PostgreSQL): custom methods
(``:verb``) dispatched from one table, ids with ``:``, 405 with ``Allow``, ``HEAD`` on ``GET`` routes, and
no redirect to a client-supplied ``Host``.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    UNIMPLEMENTED,
    assert_error,
    base_model,
    create,
    error_info,
    uid,
)
from tests.support.server import Server


@pytest.fixture()
def model_id(account: Account) -> str:
    return str(create(account.client, account.id, base_model())["name"].rsplit("/", 1)[1])


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "POST", "PUT"])
@pytest.mark.parametrize(
    "path", ["x:prepare:again", "BAD:prepare", "-x:validateUpload", "a" * 64 + ":prepare"]
)
def test_an_invalid_id_with_a_colon_is_400_on_every_method(account: Account, method: str, path: str) -> None:
    resp = account.client.request(
        method, account.url() + "/" + path, json={} if method in ("PATCH", "POST") else None
    )
    assert_error(resp, 400, INVALID_ARGUMENT, reason="INVALID_MODEL_ID", field="model_id")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "POST"])
def test_an_unknown_verb_is_400_naming_the_known_ones(account: Account, model_id: str, method: str) -> None:
    resp = account.client.request(
        method, account.url() + f"/{model_id}:frobnicate", json={} if method != "GET" else None
    )
    body = assert_error(resp, 400, INVALID_ARGUMENT, reason="UNKNOWN_CUSTOM_METHOD", field="verb")
    assert ":frobnicate" in body["message"] and ":getUploadEndpoint" in body["message"]
    assert resp.headers["x-should-retry"] == "false"
    # A collection has no custom methods: every verb is unknown there.
    resp = account.client.post(account.url() + ":batchDelete", json={})
    assert_error(resp, 400, INVALID_ARGUMENT, reason="UNKNOWN_CUSTOM_METHOD")


@pytest.mark.parametrize(
    ("verb", "right", "wrong"),
    [("prepare", "POST", "PATCH"), ("getUploadEndpoint", "POST", "GET"), ("validateUpload", "GET", "POST"),
     ("getDownloadEndpoint", "GET", "DELETE")],
)  # fmt: skip
def test_a_known_verb_with_the_wrong_method_is_405_with_allow(
    account: Account, model_id: str, verb: str, right: str, wrong: str
) -> None:
    resp = account.client.request(wrong, account.url() + f"/{model_id}:{verb}")
    assert_error(resp, 405, UNIMPLEMENTED, reason="METHOD_NOT_ALLOWED")
    assert resp.headers["allow"] == ("GET, HEAD" if right == "GET" else right)


def test_prepare_needs_a_ready_model(account: Account, model_id: str) -> None:
    """``:prepare`` is served (tests/prepare/); a model still UPLOADING is refused."""
    resp = account.client.post(account.url() + f"/{model_id}:prepare", json={"precision": "FP8"})
    assert_error(resp, 400, 9, reason="MODEL_NOT_READY")  # FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("path", "method", "allow"),
    [
        ("/v1/accounts/{a}/models/{m}", "PUT", "GET, HEAD, PATCH, DELETE"),
        ("/v1/accounts/{a}/models/{m}", "POST", "GET, HEAD, PATCH, DELETE"),
        ("/v1/accounts/{a}/models", "DELETE", "GET, HEAD, POST"),
        ("/v1/accounts/{a}/models", "PUT", "GET, HEAD, POST"),
        ("/healthz", "POST", "GET, HEAD"),
        ("/openapi.json", "DELETE", "GET, HEAD"),
    ],
)
def test_405_lists_every_allowed_method(
    account: Account, model_id: str, path: str, method: str, allow: str
) -> None:
    resp = account.client.request(method, path.format(a=account.id, m=model_id))
    body = assert_error(resp, 405, UNIMPLEMENTED, reason="METHOD_NOT_ALLOWED")
    assert resp.headers["allow"] == allow
    assert allow in body["message"]


@pytest.mark.parametrize(
    "path", ["/v1/accounts/{a}/models/{m}", "/v1/accounts/{a}/models", "/healthz", "/openapi.json"]
)
def test_head_answers_like_get_without_a_body(account: Account, model_id: str, path: str) -> None:
    url = path.format(a=account.id, m=model_id)
    get = account.client.get(url)
    head = account.client.head(url)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    # Errors too: HEAD of a missing model is the GET's 404, without its body.
    missing = account.client.head(account.url() + f"/{uid()}")
    assert missing.status_code == 404 and missing.content == b""


def _raw_request(server: Server, request: bytes) -> bytes:
    """Send one raw HTTP/1.1 request (with any Host header) and return the whole response."""
    parts = urlsplit(server.base_url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "path", ["/v1/accounts/{a}/models/", "/v1/accounts/{a}/models/{m}/", "/healthz/", "/catalog/"]
)
def test_a_trailing_slash_is_a_google_rpc_404_never_a_redirect(
    server: Server, account: Account, model_id: str, path: str
) -> None:
    url = path.format(a=account.id, m=model_id)
    raw = _raw_request(
        server,
        f"GET {url} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {account.key}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, Any] = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert status_line.split()[1] == "404", raw[:500]
    assert "location" not in headers
    assert b"evil.example" not in raw
    resp_body = json.loads(payload)
    assert resp_body["code"] == NOT_FOUND
    assert error_info(resp_body)["reason"] == "NO_SUCH_ENDPOINT"
    assert url.rstrip("/") in resp_body["message"]
