"""The identity middleware: an audit entry for every write request, and a delay for clients that keep
presenting bad keys.

Every ``POST``/``PATCH``/``PUT``/``DELETE`` under ``/v1/accounts/{account}/`` opens an
:class:`~modelyard.store.audit.AuditContext` (method, resource, request id); ``modelyard.access`` adds the
principal and key id once the key is checked (``modelyard.access``), and the store writes the entry in
the write's own transaction. If the request ends without having written one (refused, invalid, not
found), the entry is written with the response's code and message in a transaction of its own; if one was
written but the answer is not a success after all, the entry is corrected to that answer. Either happens
before the response's last byte leaves, so a client that reads the log after its answer sees the entry
the client's answer matches.

A ``401`` answer to a key that is not valid is held back for the delay ``modelyard.access.authenticate``
decided (``BAD_KEY_DELAY`` in the scope; growing, bounded, per client address), on the event loop: no
thread waits. Every door mounted in the app gets both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import anyio
import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.doorway import BAD_KEY_DELAY
from modelyard.store import audit
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")

_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_PATH = re.compile(r"/v1/(accounts/([^/:]+)(?:/[^:]*)?)(?::([A-Za-z]+))?")
_VERBS = {"POST": "Create", "PATCH": "Update", "PUT": "Update", "DELETE": "Delete"}
#: Collections and the singular their methods are named by (``CreateModel``, ``DeleteApiKey``).
_SINGULAR = {"accounts": "Account", "models": "Model", "users": "User", "apiKeys": "ApiKey", "files": "File"}
_ERROR_BODY_LIMIT = 64 * 1024

#: Other doors' write requests (the Hugging Face Hub door): functions that name the audit entry of a
#: request from its scope, or return None when it is not one of theirs (``add_audited_door``).
_DOORS: list[Callable[[Scope], audit.AuditContext | None]] = []


def add_audited_door(context: Callable[[Scope], audit.AuditContext | None]) -> None:
    """Audit the writes another door recognises (once per function, whatever the number of apps)."""
    if context not in _DOORS:
        _DOORS.append(context)


def note_resource(name: str) -> None:
    """Name the resource of the current write (e.g. the model a create makes) in its audit entry."""
    ctx = audit.current.get()
    if ctx is not None:
        ctx.resource = name


def method_name(http_method: str, resource_path: str, verb: str | None) -> str:
    """``CreateModel``, ``UpdateUser``, ``DeleteApiKey`` (``POST .../apiKeys:delete``),
    ``GetUploadEndpoint`` (``POST .../models/m:getUploadEndpoint``)."""
    segments = resource_path.split("/")
    # An even number of segments names a collection (accounts/a/models), an odd one a resource.
    collection = segments[-1] if len(segments) % 2 == 1 else segments[-2]
    singular = _SINGULAR.get(collection, collection[:1].upper() + collection[1:])
    if verb:
        pascal = verb[:1].upper() + verb[1:]
        return pascal + singular if pascal.isalpha() and pascal[1:].islower() else pascal
    return _VERBS.get(http_method, http_method.title()) + singular


def _pending(ctx: audit.AuditContext, status: int) -> bool:
    """Whether the entry still has to be written, or corrected to a refusal (see the module doc)."""
    return not ctx.recorded or (ctx.entry_id is not None and not 200 <= status < 300)


class IdentityMiddleware:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = self._context(scope)
        token = audit.current.set(ctx) if ctx is not None else None
        status = 0
        error_body = bytearray()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                delay = scope.get(BAD_KEY_DELAY, 0.0)
                if status == 401 and delay > 0:
                    await anyio.sleep(delay)
            elif message["type"] == "http.response.body" and ctx is not None and _pending(ctx, status):
                if len(error_body) < _ERROR_BODY_LIMIT:
                    error_body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._record(ctx, status, bytes(error_body))
            elif message["type"] == "http.response.pathsend" and ctx is not None and _pending(ctx, status):
                await self._record(ctx, status, b"")  # a file is the whole body: no error text in it
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if token is not None:
                audit.current.reset(token)

    @staticmethod
    def _context(scope: Scope) -> audit.AuditContext | None:
        path: str = scope["path"]
        if not path.startswith("/v1/"):
            for door in _DOORS:
                found = door(scope)
                if found is not None:
                    return found
            return None
        # :validateUpload is a GET (as the SDK calls it) that writes: it fills the model and makes it READY.
        if scope["method"] not in _WRITES and not path.endswith(":validateUpload"):
            return None
        match = _PATH.fullmatch(path)
        if match is None:
            return None
        resource, account, verb = match.group(1).rstrip("/"), match.group(2), match.group(3)
        request_id = scope.get("modelyard.request_id", b"")
        return audit.AuditContext(
            account_id=account,
            method=method_name(scope["method"], resource, verb),
            resource=resource,
            request_id=request_id.decode("ascii") if isinstance(request_id, bytes) else str(request_id),
        )

    async def _record(self, ctx: audit.AuditContext, status: int, body: bytes) -> None:
        message = ""
        try:
            parsed = orjson.loads(body) if body else None
            if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
                message = parsed["message"]
            elif isinstance(parsed, dict) and isinstance(parsed.get("error"), str):  # the Hub door's errors
                message = parsed["error"]
        except orjson.JSONDecodeError:
            message = body[:200].decode("utf-8", "replace")
        try:
            await anyio.to_thread.run_sync(self.store.record_audit, ctx, status or 500, message)
        except Exception as e:  # the database is gone: the answer still goes out (a 503 if that is why)
            log.warning("audit: cannot record %s %s: %s", ctx.method, ctx.resource, str(e).splitlines()[0])
            ctx.recorded = True
