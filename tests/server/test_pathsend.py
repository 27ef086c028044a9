"""``http.response.pathsend`` (``modelyard/serving/pathsend.py``): file responses sent with ``sendfile(2)``.

A real uvicorn server with modelyard's protocol on a loopback socket, on uvloop and on asyncio's own loop,
serving Starlette ``FileResponse``s; clients are raw sockets and httpx. ``os.sendfile`` is wrapped to
count its calls, so each test shows which path the bytes took."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelyard.serving import pathsend
from modelyard.serving.httpprotocol import RpcHttpToolsProtocol

MIB = 1024 * 1024


@dataclass
class Served:
    base: str
    port: int
    files: Path
    scopes: list[dict[str, Any]] = field(default_factory=list)
    sendfile_calls: list[int] = field(default_factory=list)


class _NoLength:
    """A response announcing no Content-Length, then handing over a file's path."""

    def __init__(self, files: Path) -> None:
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = self.files / scope["path"].rsplit("/", 1)[1]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})


def _app(files: Path, served: Served) -> Starlette:
    async def whole(request: Request) -> Response:
        served.scopes.append(dict(request.scope))
        return FileResponse(files / request.path_params["name"])

    routes = [Route("/files/{name}", whole, methods=["GET", "HEAD"]), Route("/bare/{name}", _NoLength(files))]
    return Starlette(routes=routes)


@pytest.fixture(params=["uvloop", "asyncio"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    real = os.sendfile
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    result = Served(f"http://127.0.0.1:{port}", port, tmp_path)

    def counting(out: int, fd: int, offset: int | None, count: int) -> int:
        n = real(out, fd, offset, count)
        result.sendfile_calls.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", counting)
    config = uvicorn.Config(
        _app(tmp_path, result), http=RpcHttpToolsProtocol, loop=request.param, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield result
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _file(served: Served, name: str, size: int) -> bytes:
    data = os.urandom(size)
    (served.files / name).write_bytes(data)
    return data


def test_a_whole_file_goes_through_sendfile_on_a_kept_alive_connection(served: Served) -> None:
    data = _file(served, "big.bin", 5 * MIB + 123)
    with httpx.Client(base_url=served.base) as http:
        for _ in range(2):  # the connection stays usable after a sendfile response
            response = http.get("/files/big.bin")
            assert response.status_code == 200
            assert response.content == data
        assert len(http.get("/files/big.bin").content) == len(data)
        # The count is taken in the server's thread after sendfile returns, which may be after the
        # client has every byte; the next response on the connection only starts once it has returned.
        assert http.head("/files/big.bin").status_code == 200
    assert served.scopes[0]["extensions"] == {pathsend.EXTENSION: {}}
    assert sum(served.sendfile_calls) == 3 * len(data)


def test_head_and_ranges_send_no_file_through_sendfile(served: Served) -> None:
    data = _file(served, "small.bin", 300_000)
    with httpx.Client(base_url=served.base) as http:
        # The whole file first: the responses after it on the connection start only once the server's
        # sendfile thread has returned and counted (the client can have every byte before that).
        assert http.get("/files/small.bin").content == data
        head = http.head("/files/small.bin")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(data))
        part = http.get("/files/small.bin", headers={"Range": "bytes=1000-2999"})
        assert part.status_code == 206 and part.content == data[1000:3000]
    assert sum(served.sendfile_calls) == len(data)


def test_a_slow_reader_gets_every_byte(served: Served) -> None:
    """The socket fills up: sendfile would block, the server waits for the socket to be writable."""
    data = _file(served, "slow.bin", 6 * MIB)
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET /files/slow.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = bytearray()
        time.sleep(0.3)  # the server has filled every buffer by now
        while chunk := sock.recv(256 * 1024):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == data
    assert len(served.sendfile_calls) > 1


def test_a_client_that_leaves_midway_does_not_hurt_the_server(served: Served) -> None:
    data = _file(served, "left.bin", 16 * MIB)
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET /files/left.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    time.sleep(0.2)
    assert sum(served.sendfile_calls) < len(data)
    assert httpx.get(f"{served.base}/files/left.bin").content == data


def test_a_file_shorter_than_announced_closes_the_connection(served: Served) -> None:
    """The file shrank between the response's headers and its body: the client sees a short body and a
    closed connection, never another response's bytes."""
    path = served.files / "shrinks.bin"
    _file(served, "shrinks.bin", 2 * MIB)
    real_open = os.open

    def shrinking_open(name: Any, flags: int, *args: Any) -> int:
        if str(name) == str(path) and flags == os.O_RDONLY | os.O_CLOEXEC:
            os.truncate(path, MIB)
        return real_open(name, flags, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "open", shrinking_open)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{served.base}/files/shrinks.bin")


def test_without_a_content_length_the_file_goes_in_chunks(served: Served) -> None:
    data = _file(served, "chunked.bin", 3 * MIB + 5)
    response = httpx.get(f"{served.base}/bare/chunked.bin")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == data
    assert served.sendfile_calls == []


def test_tls_connections_are_not_offered_the_extension() -> None:
    assert pathsend.supported("http") and not pathsend.supported("https")
