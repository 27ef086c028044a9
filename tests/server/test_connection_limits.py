"""What one connection may cost a real ``modelyard serve`` (issue 25, item 13): header bytes and count
(431 in google.rpc form), a header-read timeout (408), an idle timeout for stalled request bodies (the
connection is closed and the upload dropped) and a bound on open connections per worker (503). The
timeouts and the connection bound are set short/small through the environment for these servers."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from modelyard.serving.httpprotocol import MAX_TARGET_BYTES
from modelyard.settings import HttpLimits, Settings
from modelyard.store.repository import Store
from modelyard.store.tables import model_files
from tests.support.databases import migrated_store, sqlite_url
from tests.support.server import start_server, stop_server

HEX32 = re.compile(r"^[0-9a-f]{32}$")
LIMITS = HttpLimits()


@dataclass
class Running:
    address: tuple[str, int]
    base_url: str
    store: Store
    blobs: Path


def _serve(tmp: Path, env: dict[str, str]) -> Iterator[Running]:
    url = sqlite_url(tmp, "limits.db")
    with migrated_store(url) as store:
        blobs = tmp / "blobs"
        proc, base = start_server(
            url, "--storage", f"file://{blobs}", env={"MODELYARD_GC_INTERVAL": "0", **env}
        )
        try:
            parsed = httpx.URL(base)
            assert parsed.host and parsed.port
            yield Running((parsed.host, parsed.port), base, store, blobs)
        finally:
            stop_server(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Default header limits; a 2-second header timeout and a 1-second body idle timeout."""
    env = {"MODELYARD_HEADER_TIMEOUT": "2", "MODELYARD_BODY_IDLE_TIMEOUT": "1"}
    yield from _serve(tmp_path_factory.mktemp("limits"), env)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _one_response(sock: socket.socket) -> int:
    """Read one whole response (head, then Content-Length bytes) from a kept-alive connection: its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    status, headers, body = _parse(data)
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    return status


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _exchange(address: tuple[str, int], raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(address, timeout=30) as sock:  # timeout: a hang guard
        sock.sendall(raw)
        return _parse(_read_all(sock))


def _rpc_error(status: int, headers: dict[str, str], body: bytes, http: int, code: int, reason: str) -> str:
    assert status == http, body
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    assert HEX32.match(headers["x-request-id"])
    error = json.loads(body)
    assert error["code"] == code, error
    assert error["details"][0]["reason"] == reason, error
    return str(error["message"])


def _get(path: bytes, *headers: bytes) -> bytes:
    return b"".join([b"GET ", path, b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n", *headers, b"\r\n"])


def test_too_many_headers(server: Running) -> None:
    fields = [b"X-H%d: v\r\n" % i for i in range(LIMITS.max_headers)]
    status, headers, body = _exchange(server.address, _get(b"/healthz", *fields))
    message = _rpc_error(status, headers, body, 431, 3, "REQUEST_HEADERS_TOO_LARGE")
    assert str(LIMITS.max_headers) in message
    # One fewer (Host and Connection count too) is served.
    status, _, body = _exchange(server.address, _get(b"/healthz", *fields[:-3]))
    assert status == 200, body


def test_header_bytes(server: Running) -> None:
    big = b"X-Big: " + b"a" * (LIMITS.max_header_bytes + 1) + b"\r\n"
    status, headers, body = _exchange(server.address, _get(b"/healthz", big))
    message = _rpc_error(status, headers, body, 431, 3, "REQUEST_HEADERS_TOO_LARGE")
    assert str(LIMITS.max_header_bytes) in message
    # Headers a little under the limit, with the longest target, are served.
    target = b"/healthz?" + b"a" * (MAX_TARGET_BYTES - len(b"/healthz?"))
    fits = b"X-Big: " + b"a" * (LIMITS.max_header_bytes - 200) + b"\r\n"
    status, _, body = _exchange(server.address, _get(target, fits))
    assert status == 200, body


def test_a_64_mib_header_is_cut_off_while_others_are_served(server: Running) -> None:
    """The header is never read whole: the server closes the connection after its limit, long before the
    client could send 64 MiB, and another client's request is answered meanwhile."""
    total = 64 * 1024 * 1024
    sent = 0
    answer: list[bytes] = []

    def flood() -> None:
        nonlocal sent
        with socket.create_connection(server.address, timeout=30) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ")
                chunk = b"a" * (1024 * 1024)
                while sent < total:
                    sock.sendall(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer.append(_read_all(sock))

    flooder = threading.Thread(target=flood)
    flooder.start()
    other = httpx.get(server.base_url + "/healthz", timeout=30)
    assert other.status_code == 200 and other.json() == {"status": "ok"}
    flooder.join(timeout=120)
    assert not flooder.is_alive()
    assert sent < total  # the server stopped reading and closed the connection
    if answer and answer[0]:  # the 431 arrived before the connection was reset
        assert _parse(answer[0])[0] == 431
    assert httpx.get(server.base_url + "/healthz", timeout=30).status_code == 200


def test_a_head_that_never_ends_times_out(server: Running) -> None:
    status, headers, body = _exchange(server.address, b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
    message = _rpc_error(status, headers, body, 408, 4, "REQUEST_HEADER_TIMEOUT")
    assert "2 seconds" in message
    # A connection that sends nothing is closed without a word.
    with socket.create_connection(server.address, timeout=30) as sock:
        assert _read_all(sock) == b""


def test_a_stalled_upload_body_is_closed_and_dropped(server: Running) -> None:
    account = "limits-acct"
    key = server.store.create_api_key(account, "test")
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as client:
        created = client.post(
            f"/v1/accounts/{account}/models",
            json={"modelId": "stalled", "model": {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}},
        )
        assert created.status_code == 200, created.text
        endpoint = client.post(
            f"/v1/accounts/{account}/models/stalled:getUploadEndpoint",
            json={"filenameToSize": {"config.json": "10"}},
        )
        url = httpx.URL(endpoint.json()["filenameToSignedUrls"]["config.json"])
    target = url.raw_path
    head = b"PUT " + target + b" HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n"
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(head + b"abc")  # 3 of 10 bytes, then nothing
        assert _read_all(sock) == b""  # closed by the server after the idle timeout
    # The upload was dropped: the same URL takes the whole file, and no partial file is left.
    put = httpx.put(str(url), content=b"0123456789", timeout=30)
    assert put.status_code == 200, put.text
    assert list((server.blobs / "tmp").iterdir()) == []
    with server.store.engine.connect() as conn:
        location = conn.execute(
            select(model_files.c.location).where(model_files.c.account_id == account)
        ).scalar_one()
    assert location is not None and location.startswith("sha256:")


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _serve(tmp_path_factory.mktemp("crowded"), {"MODELYARD_MAX_CONNECTIONS": "2"})


def test_connections_past_the_bound_get_a_503(crowded: Running) -> None:
    keep = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    with (
        socket.create_connection(crowded.address, timeout=30) as first,
        socket.create_connection(crowded.address, timeout=30) as second,
    ):
        for sock in (first, second):
            sock.sendall(keep)
            assert _one_response(sock) == 200
        status, headers, body = _exchange(crowded.address, _get(b"/healthz"))
        message = _rpc_error(status, headers, body, 503, 14, "TOO_MANY_CONNECTIONS")
        assert "more than 2 connections" in message
        assert headers["retry-after"] == "1"
        # The connections within the bound go on being served.
        for sock in (first, second):
            sock.sendall(keep)
            assert _one_response(sock) == 200


def test_the_settings_come_from_the_environment() -> None:
    env = {
        "MODELYARD_MAX_HEADER_BYTES": "1000",
        "MODELYARD_MAX_HEADERS": "7",
        "MODELYARD_HEADER_TIMEOUT": "1.5",
        "MODELYARD_BODY_IDLE_TIMEOUT": "nope",
        "MODELYARD_MAX_CONNECTIONS": "-3",
    }
    limits = Settings.from_env(env).http
    assert limits == HttpLimits(max_header_bytes=1000, max_headers=7, header_timeout=1.5)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name in env:
        assert name in readme, name
