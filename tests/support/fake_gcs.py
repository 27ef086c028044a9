"""A Fireworks-like server for the transfer engine's tests, run under uvicorn on a free port.

It answers the Models API calls an upload and a download make (create, get, ``:getUploadEndpoint``,
``:validateUpload``, ``:getDownloadEndpoint``) and serves signed URLs that behave the way Google Cloud
Storage's do for Fireworks, unlike modelyard's own file storage:

* a plain upload URL wants ``Content-Type: application/octet-stream`` and ``X-Goog-Content-Length-Range``
  naming the declared size (both are part of a GCS signature) and refuses anything else with an XML error;
* a resumable upload URL is signed for ``POST`` with ``x-goog-resumable: start`` and answers ``201`` with a
  session URL on another path (``/upload/<id>``), which takes ``Content-Range`` chunks (``308`` + ``Range``);
* downloads honour ``Range`` and carry ``x-goog-hash: crc32c=...,md5=...``.

Faults are injected through :class:`Faults`; every request to a signed URL is recorded with the headers
it carried, so tests can check that the API key never went there. Objects live in memory: tests use
small files.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "fw-test-key"
ACCOUNT = "acct"


@dataclass
class Faults:
    #: answer the next N signed-URL PUT/POST requests with 503 (before reading the body)
    unavailable: int = 0
    #: store only the first half of the next N resumable chunks, then answer 503
    half_chunks: int = 0
    #: cut the next N download bodies off after half their bytes
    cut_downloads: int = 0
    #: resumable chunks that would take a session past this many bytes fail with 503
    session_limit: int | None = None
    #: answer the next N Models API calls with 503
    api_unavailable: int = 0
    #: file names whose PUTs always fail with 503
    broken: set[str] = field(default_factory=set)
    #: file names :getDownloadEndpoint adds (e.g. an unsafe "../x")
    extra_download_names: list[str] = field(default_factory=list)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class FakeFireworks:
    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.declared: dict[str, dict[str, int]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.sessions: dict[str, tuple[str, str, int, bytearray]] = {}
        self.faults = Faults()
        self.seen: list[Seen] = []
        self.resumable_requested: list[bool] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/accounts/{account}/models", self.create, methods=["POST"]),
                Route("/v1/accounts/{account}/models/{rest}", self.model_call, methods=["GET", "POST"]),
                Route("/bucket/{model}/{name:path}", self.bucket, methods=["PUT", "POST", "GET"]),
                Route("/upload/{session}", self.session_put, methods=["PUT"]),
            ]
        )

    # -- the API -----------------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: int, message: str, **metadata: str) -> JSONResponse:
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "X", "metadata": metadata}]
        return JSONResponse({"code": code, "message": message, "details": details}, status_code=status)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {KEY}"

    async def create(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(401, 16, "no key")
        body = await request.json()
        model_id = body["modelId"]
        if model_id in self.models:
            return self._error(409, 6, "exists")
        model = dict(body["model"])
        model.update(
            name=f"accounts/{ACCOUNT}/models/{model_id}",
            state="UPLOADING",
            createTime=f"2026-11-30T00:00:{len(self.models):02d}Z",
        )
        self.models[model_id] = model
        return JSONResponse(model)

    async def model_call(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(401, 16, "no key")
        if self._take("api_unavailable"):
            return self._error(503, 14, "the server is busy")
        model_id, _, verb = request.path_params["rest"].partition(":")
        model = self.models.get(model_id)
        if model is None:
            return self._error(404, 5, f"model {model_id} not found")
        if not verb and request.method == "GET":
            return JSONResponse(model)
        if verb == "getUploadEndpoint":
            body = await request.json()
            resumable = bool(body.get("enableResumableUpload"))
            self.resumable_requested.append(resumable)
            sizes = {name: int(size) for name, size in body["filenameToSize"].items()}
            self.declared[model_id] = sizes  # like GCS: objects already written stay
            kind = "resumable" if resumable else "put"
            urls = {
                name: f"{self.base_url}/bucket/{model_id}/{name}?X-Goog-Signature={kind}-{token}"
                for name, token in ((n, secrets.token_hex(4)) for n in sizes)
            }
            return JSONResponse({"filenameToSignedUrls": urls})
        if verb == "validateUpload":
            sizes = self.declared.get(model_id, {})
            stored = self.objects
            missing = [
                n for n, s in sorted(sizes.items()) if len(stored.get((model_id, n), b"?" * (s + 1))) != s
            ]
            if missing:
                return self._error(
                    400, 9, f"files not uploaded: {', '.join(missing)}", missing=",".join(missing)
                )
            model["state"] = "READY"
            return JSONResponse({"warnings": ["tokenizer.json is missing"]})
        if verb == "getDownloadEndpoint":
            if model.get("state") != "READY":
                return self._error(400, 9, "the model is not READY")
            names = sorted(self.declared.get(model_id, {})) + self.faults.extra_download_names
            urls = {n: f"{self.base_url}/bucket/{model_id}/{n}?X-Goog-Signature=get" for n in names}
            return JSONResponse({"filenameToSignedUrls": urls})
        return self._error(404, 5, "no such method")

    # -- the bucket ----------------------------------------------------------------------------------------

    @staticmethod
    def _xml(status: int, code: str, message: str) -> Response:
        body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return Response(body, status_code=status, media_type="application/xml")

    def _record(self, request: Request) -> None:
        with self._lock:
            self.seen.append(Seen(request.method, request.url.path, dict(request.headers)))

    def _take(self, attr: str) -> bool:
        with self._lock:
            if getattr(self.faults, attr) > 0:
                setattr(self.faults, attr, getattr(self.faults, attr) - 1)
                return True
            return False

    async def bucket(self, request: Request) -> Response:
        self._record(request)
        model_id, name = request.path_params["model"], request.path_params["name"]
        signature = request.query_params.get("X-Goog-Signature", "")
        if request.method == "GET":
            return self._download(request, model_id, name)
        size = self.declared.get(model_id, {}).get(name)
        if size is None:
            return self._xml(403, "AccessDenied", "not declared")
        if self._take("unavailable") or name in self.faults.broken:
            return self._xml(503, "ServiceUnavailable", "try again")
        if request.method == "POST":
            if not signature.startswith("resumable") or request.headers.get("x-goog-resumable") != "start":
                return self._xml(403, "SignatureDoesNotMatch", "POST is not what was signed")
            session = secrets.token_hex(8)
            self.sessions[session] = (model_id, name, size, bytearray())
            return Response(status_code=201, headers={"Location": f"/upload/{session}"})
        if not signature.startswith("put"):
            return self._xml(403, "SignatureDoesNotMatch", "PUT is not what was signed")
        if request.headers.get("content-type") != "application/octet-stream":
            return self._xml(
                403, "SignatureDoesNotMatch", "Content-Type was signed as application/octet-stream"
            )
        if request.headers.get("x-goog-content-length-range") != f"{size},{size}":
            return self._xml(400, "EntityTooLarge", "x-goog-content-length-range does not match")
        body = await request.body()
        if len(body) != size:
            return self._xml(400, "BadRequest", f"got {len(body)} bytes, expected {size}")
        self.objects[(model_id, name)] = body
        return Response(status_code=200)

    async def session_put(self, request: Request) -> Response:
        self._record(request)
        entry = self.sessions.get(request.path_params["session"])
        if entry is None:
            return self._xml(404, "NoSuchUpload", "unknown session")
        model_id, name, size, data = entry
        if self._take("unavailable"):
            return self._xml(503, "ServiceUnavailable", "try again")
        m = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+)", request.headers.get("content-range", ""))
        if m is None or int(m.group(3)) != size:
            return self._xml(400, "InvalidArgument", "bad Content-Range")
        if m.group(1) is not None:
            start, end = int(m.group(1)), int(m.group(2))
            if start != len(data):
                return self._xml(400, "InvalidArgument", f"chunk at {start}, have {len(data)}")
            limit = self.faults.session_limit
            if limit is not None and end + 1 > limit:
                return self._xml(503, "ServiceUnavailable", "the session is stuck")
            body = await request.body()
            if len(body) != end - start + 1:
                return self._xml(400, "InvalidArgument", "chunk length")
            if self._take("half_chunks"):
                data.extend(body[: len(body) // 2])
                return self._xml(503, "ServiceUnavailable", "lost the rest")
            data.extend(body)
        if len(data) == size:
            self.objects[(model_id, name)] = bytes(data)
            return Response(status_code=200)
        headers = {"Range": f"bytes=0-{len(data) - 1}"} if data else {}
        return Response(status_code=308, headers=headers)

    def _download(self, request: Request, model_id: str, name: str) -> Response:
        data = self.objects.get((model_id, name))
        if data is None:
            return self._xml(404, "NoSuchKey", "no such object")
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        headers = {"x-goog-hash": f"crc32c=AAAAAA==,md5={md5}", "Accept-Ranges": "bytes"}
        start, status = 0, 200
        m = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", ""))
        if m:
            start = int(m.group(1))
            if start >= len(data):
                return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        cut = self._take("cut_downloads")

        async def stream() -> AsyncIterator[bytes]:
            if cut:
                yield body[: len(body) // 2]
                raise ConnectionError("cut off")  # uvicorn drops the connection mid-body
            yield body

        return StreamingResponse(stream(), status_code=status, headers=headers)

    def signed_requests(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)


@contextmanager
def running(fake: FakeFireworks) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(fake.app, log_level="critical", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:  # pragma: no cover
            raise RuntimeError("the fake server did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
