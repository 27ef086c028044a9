"""Requests that uvicorn's HTTP parser refuses before the application sees them (a request target over
65535 bytes, raw NUL or 0xFF bytes in the request line or a header, garbage) get a google.rpc JSON 400,
not uvicorn's plain text; sent with raw sockets to a real ``modelyard serve``."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.serving.httpprotocol import MAX_TARGET_BYTES
from tests.support.databases import migrated_store, sqlite_url
from tests.support.server import start_server, stop_server

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    url = sqlite_url(tmp_path_factory.mktemp("malformed"), "malformed.db")
    with migrated_store(url):
        pass
    proc, base = start_server(url)
    try:
        parsed = httpx.URL(base)
        assert parsed.host and parsed.port
        yield parsed.host, parsed.port
    finally:
        stop_server(proc)


def exchange(address: tuple[str, int], raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection; the status, headers and body of the answer (read to the end:
    the server closes the connection after a refused request, and the request below says close)."""
    with socket.create_connection(address, timeout=30) as sock:  # timeout: a hang guard
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(target: bytes, *extra_headers: bytes) -> bytes:
    return b"".join(
        [b"GET ", target, b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n", *extra_headers, b"\r\n"]
    )


def target_of(length: int) -> bytes:
    prefix = b"/v1/accounts/acct/models?filter="
    return prefix + b"a" * (length - len(prefix))


CASES = {
    "target one byte over the limit": (request(target_of(MAX_TARGET_BYTES + 1)), "url is too long"),
    "NUL in the path": (request(b"/v1/accounts/acct/mo\x00dels"), "invalid char in url"),
    "0xFF in the path": (request(b"/v1/accounts/acct/mo\xffdels"), "invalid char in url"),
    "NUL in a header value": (request(b"/healthz", b"X-Note: a\x00b\r\n"), "invalid header value char"),
    "0xFF in a header name": (request(b"/healthz", b"X-\xff: b\r\n"), "invalid header token"),
    "TLS to the HTTP port": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "invalid method"),
    "unknown HTTP version": (b"GET /healthz HTTP/9.9\r\n\r\n", "invalid http version"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_requests_get_a_google_rpc_400(address: tuple[str, int], case: str) -> None:
    raw, problem = CASES[case]
    status, headers, body = exchange(address, raw)
    assert status == 400, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert HEX32.match(headers["x-request-id"])
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)
    assert error["code"] == 3
    assert problem in error["message"].lower(), error["message"]
    assert error["message"].startswith("malformed HTTP request: ")
    assert [(d["@type"], d["reason"]) for d in error["details"]] == [
        ("type.googleapis.com/google.rpc.ErrorInfo", "MALFORMED_HTTP_REQUEST")
    ]


def test_a_target_at_the_limit_reaches_the_app(address: tuple[str, int]) -> None:
    status, _, body = exchange(address, request(target_of(MAX_TARGET_BYTES)))
    assert status == 401, body  # the application answered: no API key
    assert json.loads(body)["code"] == 16
    # and the server still serves after refusing requests
    status, _, body = exchange(address, request(b"/healthz"))
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_the_limit_is_documented() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"{MAX_TARGET_BYTES:,}" in readme or str(MAX_TARGET_BYTES) in readme
