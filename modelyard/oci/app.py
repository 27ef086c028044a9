"""The OCI door's ASGI app, mounted at ``/v2`` (``install_oci``): routes, the one error boundary (every
failure is an OCI error body, never a google.rpc one), and the audit of every push and delete.

Writes (``POST``, ``PATCH``, ``PUT``, ``DELETE`` under ``/v2/ACCOUNT/MODEL/``) open an audit entry naming the
model (``accounts/A/models/M``) and the operation (``PushBlob``, ``PutManifest``, ``DeleteManifest``,
``CancelUpload``); the store writes it in the write's transaction with the status the client gets
(``201``/``202``), and a refused or failed write is recorded afterwards with its status and message.
"""

from __future__ import annotations

import logging
import re
import tempfile
from hashlib import sha256
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.errors import RegistryError
from modelyard.oci import pull, push
from modelyard.oci.access import Tokens
from modelyard.oci.errors import OciError
from modelyard.oci.registry import Registry
from modelyard.oci.uploads import Uploads
from modelyard.oci.view import View
from modelyard.storage.local import LocalStorage
from modelyard.store import audit
from modelyard.store.errors import Unavailable
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")

_REPO = "/{account}/{model}"
_WRITE_PATH = re.compile(r"/v2/([^/]+)/([^/]+)/(blobs/uploads|manifests|blobs)(/.*)?")
_OPERATIONS = {
    ("POST", "blobs/uploads"): ("PushBlob", 202),
    ("PATCH", "blobs/uploads"): ("PushBlob", 202),
    ("PUT", "blobs/uploads"): ("PushBlob", 201),
    ("DELETE", "blobs/uploads"): ("CancelUpload", 204),
    ("PUT", "manifests"): ("PutManifest", 201),
    ("DELETE", "manifests"): ("DeleteManifest", 202),
    ("DELETE", "blobs"): ("DeleteBlob", 202),
}


class OciAuditContext(audit.AuditContext):
    """An audit entry whose success code is the OCI status of the operation (201, 202, 204)."""

    success: int = 200

    def values(self, code: int, message: str) -> dict[str, Any]:
        return super().values(self.success if code == 200 else code, message)


class OciAudit:
    """Opens the audit entry of a write and records it when nothing wrote it (see the module doc)."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self._context(scope) if scope["type"] == "http" else None
        if ctx is None:
            await self.app(scope, receive, send)
            return
        token = audit.current.set(ctx)
        status = 0
        body = bytearray()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not ctx.recorded:
                body.extend(message.get("body", b"")[:4096])
                if not message.get("more_body", False):
                    await self._record(ctx, status, bytes(body))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            audit.current.reset(token)

    @staticmethod
    def _context(scope: Scope) -> OciAuditContext | None:
        match = _WRITE_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        operation = _OPERATIONS.get((scope["method"], match.group(3)))
        if operation is None:
            return None
        request_id = scope.get("modelyard.request_id", b"")
        ctx = OciAuditContext(
            account_id=match.group(1),
            method=operation[0],
            resource=f"accounts/{match.group(1)}/models/{match.group(2)}",
            request_id=request_id.decode("ascii") if isinstance(request_id, bytes) else str(request_id),
        )
        ctx.success = operation[1]
        query = scope.get("query_string", b"")
        if scope["method"] == "POST" and (b"digest=" in query or b"mount=" in query):
            ctx.success = 201  # a monolithic upload or a mount completes at once
        return ctx

    async def _record(self, ctx: audit.AuditContext, status: int, body: bytes) -> None:
        message = ""
        try:
            parsed = orjson.loads(body) if body else None
            errors = parsed.get("errors") if isinstance(parsed, dict) else None
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                message = str(errors[0].get("message", ""))
        except orjson.JSONDecodeError:
            message = ""
        try:
            await anyio.to_thread.run_sync(self.store.record_audit, ctx, status or 500, message)
        except Exception as e:  # the database is gone: the answer still goes out
            log.warning("audit: cannot record %s %s: %s", ctx.method, ctx.resource, str(e).splitlines()[0])
            ctx.recorded = True


def _error_response(request: Request, exc: Exception) -> Response:
    head = request.method == "HEAD"
    if isinstance(exc, OciError):
        return exc.response(head=head)
    if isinstance(exc, Unavailable):
        return OciError("UNAVAILABLE", "the database does not answer; try again").response(head=head)
    if isinstance(exc, RegistryError):
        code = {
            "PERMISSION_DENIED": "DENIED",
            "UNAUTHENTICATED": "UNAUTHORIZED",
            "NOT_FOUND": "NAME_UNKNOWN",
            "RESOURCE_EXHAUSTED": "TOOMANYREQUESTS",
            "UNAVAILABLE": "UNAVAILABLE",
        }.get(exc.status)
        if code is not None:
            return OciError(code, exc.message).response(head=head)
        return OciError(
            "MANIFEST_INVALID" if exc.status == "INVALID_ARGUMENT" else "INTERNAL",
            exc.message,
            status=400 if exc.status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION") else 500,
        ).response(head=head)
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            return OciError(
                "UNSUPPORTED", f"{request.method} is not supported on {request.url.path}"
            ).response(head=head)
        return OciError(
            "UNSUPPORTED", f"no such endpoint: {request.method} {request.url.path}", status=exc.status_code
        ).response(head=head)
    log.exception("internal error on %s %s", request.method, request.url.path)
    return OciError("INTERNAL", "internal error").response(head=head)


def _staging(storage: Any) -> Path:
    if isinstance(storage, LocalStorage):
        return storage.root / "oci-uploads"
    name = sha256(storage.url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"modelyard-oci-uploads-{name}"


def oci_app(app: FastAPI) -> Router:
    """The ``/v2`` routes over ``app``'s store and file service (``app.state.files``). A bare router: requests
    keep the main app as ``request.app`` (settings, rate limits) and every error reaches ``_Boundary``."""
    store = app.state.store
    files = app.state.files
    records = store.oci
    registry = Registry(
        view=View(files, records, store),
        records=records,
        uploads=Uploads(_staging(files.storage)),
        tokens=Tokens(store.secret("oci_token_key")),
    )
    routes = [
        Route("/", pull.base, methods=["GET", "HEAD"]),
        Route("/token", pull.token, methods=["GET", "POST"]),
        Route(_REPO + "/manifests/{reference}", pull.get_manifest, methods=["GET", "HEAD"]),
        Route(_REPO + "/manifests/{reference}", push.put_manifest, methods=["PUT"]),
        Route(_REPO + "/manifests/{reference}", push.delete_manifest, methods=["DELETE"]),
        Route(_REPO + "/blobs/uploads/", push.start_upload, methods=["POST"]),
        Route(_REPO + "/blobs/uploads/{upload}", push.upload_status, methods=["GET"]),
        Route(_REPO + "/blobs/uploads/{upload}", push.patch_upload, methods=["PATCH"]),
        Route(_REPO + "/blobs/uploads/{upload}", push.finish_upload, methods=["PUT"]),
        Route(_REPO + "/blobs/uploads/{upload}", push.cancel_upload, methods=["DELETE"]),
        Route(_REPO + "/blobs/{digest}", pull.get_blob, methods=["GET", "HEAD"]),
        Route(_REPO + "/tags/list", pull.tags_list, methods=["GET"]),
        Route(_REPO + "/referrers/{digest}", pull.referrers, methods=["GET"]),
    ]
    app.state.oci = registry
    return Router(routes=routes)


def install_oci(app: FastAPI) -> None:
    """Mount the door at ``/v2`` (after the file service and the rate limits are installed)."""
    router = oci_app(app)
    app.mount("/v2", OciAudit(_Boundary(router), app.state.store))


class _Boundary:
    """The door's one error boundary: every exception becomes an OCI error response (an unexpected one
    ``INTERNAL``, logged), unless the response has started (then the connection is dropped)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started or scope["type"] != "http":
                raise
            response = _error_response(Request(scope, receive), exc)
            await response(scope, receive, send)
