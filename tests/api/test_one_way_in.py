"""One way in (issue 20) through the real server, on both databases: every route that takes a body goes
through the one preamble (a body over ``max_body_bytes`` is 413 before it is read, whatever the route),
and the audit log records the answer the client received for every write, refused ones included."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.test_identity_audit import entries
from tests.support.api import base_model
from tests.support.identity import Team, make_team
from tests.support.server import Server

TWO_MIB = 2 << 20


@pytest.fixture()
def team(server: Server) -> Iterator[Team]:
    t = make_team(server, "oneway")
    yield t
    t.close()


def _declared_only(
    base_url: str, method: str, path: str, key: str, length: int
) -> tuple[int, dict[str, Any]]:
    """Send a request's head declaring ``length`` body bytes and none of them; return the answer. A server
    that read the body first would wait for bytes that never come (the socket's timeout fails the test)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode())
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def test_every_body_route_answers_413_before_reading_a_large_body(server: Server, team: Team) -> None:
    a = team.account
    admin = team.client("admin")
    created = admin.post(f"/v1/accounts/{a}/models", json={"modelId": "m", "model": base_model()})
    assert created.status_code == 200
    routes = [
        ("POST", f"/v1/accounts/{a}/users?userId=dave"),
        ("PATCH", f"/v1/accounts/{a}/users/user"),
        ("POST", f"/v1/accounts/{a}/users/admin/apiKeys"),
        ("POST", f"/v1/accounts/{a}/users/admin/apiKeys:delete"),
        ("POST", f"/v1/accounts/{a}/models"),
        ("PATCH", f"/v1/accounts/{a}/models/m"),
        ("POST", f"/v1/accounts/{a}/models/m:getUploadEndpoint"),
    ]
    for method, path in routes:
        status, body = _declared_only(server.base_url, method, path, team.keys["admin"], TWO_MIB)
        assert status == 413, (method, path, body)
        assert body["details"][0]["reason"] == "REQUEST_TOO_LARGE", (method, path, body)
        assert body["details"][0]["metadata"]["limit"] == str(1 << 20)
    # A body sent without a length stops being read at the limit too.
    chunks = (b" " * 65536 for _ in range(TWO_MIB // 65536))
    streamed = admin.post(f"/v1/accounts/{a}/users", params={"userId": "erin"}, content=chunks)
    assert streamed.status_code == 413 and streamed.json()["details"][0]["reason"] == "REQUEST_TOO_LARGE"
    # The preamble's order: who is calling comes before the body (a stranger learns nothing of limits).
    status, body = _declared_only(server.base_url, "POST", f"/v1/accounts/{a}/users", "my_bad", TWO_MIB)
    assert status == 401 and body["details"][0]["reason"] == "INVALID_API_KEY"
    codes = [(e["method"], e["responseCode"]) for e in reversed(entries(admin, a))]
    assert ("CreateUser", 413) in codes and ("DeleteApiKey", 413) in codes and ("UpdateUser", 413) in codes
    assert all(code != 200 for method, code in codes if method != "CreateModel")


def test_a_refused_write_is_audited_with_the_answer_the_client_got(server: Server, team: Team) -> None:
    a = team.account
    admin, user = team.client("admin"), team.client("user")
    missing = admin.post(f"/v1/accounts/{a}/users/user/apiKeys:delete", json={"keyId": "0123456789abcdef"})
    assert missing.status_code == 404, missing.text
    created = user.post(f"/v1/accounts/{a}/users/user/apiKeys", json={"apiKey": {"displayName": "k"}})
    assert created.status_code == 200
    key_id = created.json()["keyId"]
    assert user.post(f"/v1/accounts/{a}/users/user/apiKeys:delete", json={"keyId": key_id}).status_code == 200
    again = user.post(f"/v1/accounts/{a}/users/user/apiKeys:delete", json={"keyId": key_id})
    assert again.status_code == 404
    log = list(reversed(entries(admin, a)))
    got = [(e["method"], e["resource"], e["responseCode"], e.get("message", "")) for e in log]
    keys = f"accounts/{a}/users/user/apiKeys"
    assert got == [
        ("DeleteApiKey", f"{keys}/0123456789abcdef", 404, missing.json()["message"]),
        ("CreateApiKey", f"{keys}/{key_id}", 200, ""),
        ("DeleteApiKey", f"{keys}/{key_id}", 200, ""),
        ("DeleteApiKey", f"{keys}/{key_id}", 404, again.json()["message"]),
    ]


def test_the_catalog_and_the_api_share_one_authentication(server: Server, team: Team) -> None:
    """A malformed Authorization header, a bad key: the same refusal on the catalog as on the API (the
    catalog renders it as a page)."""
    bad_key = "my_" + secrets.token_hex(8)
    bad = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {bad_key}"})
    try:
        assert bad.get(f"/v1/accounts/{team.account}/models").status_code == 401
        page = bad.get("/catalog")
        assert page.status_code == 401 and "API key not accepted" in page.text
    finally:
        bad.close()
