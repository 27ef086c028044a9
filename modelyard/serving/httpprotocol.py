"""uvicorn's HTTP/1.1 protocols, answering requests they cannot parse with a google.rpc error.

uvicorn parses each request before the application sees it, and answers one it cannot parse with a
plain-text ``400 Invalid HTTP request received.``: a raw NUL, 0xFF or other control byte in the request
line or a header name, a malformed method or version, or a request target (path and query) longer than
:data:`MAX_TARGET_BYTES` (httptools refuses longer URLs). These subclasses send the same 400 as
google.rpc JSON (``INVALID_ARGUMENT``, reason ``MALFORMED_HTTP_REQUEST``, the parser's reason in the
message), with an ``X-Request-Id``, and close the connection as uvicorn does. The application never sees
these requests, so they are not in the metrics or the access log (uvicorn logs a warning).

The httptools protocol also keeps a request body as the list of the pieces the parser handed over
(:class:`BodyPieces`) instead of appending each to a ``bytearray`` that is then copied into ``bytes``
for the application: a piece the application takes alone is passed on as it is, and several are joined
once. A file PUT of 1 GiB is copied twice less (measured: the event loop's share of a 1 GiB upload
went from 1.0 to 0.7 s).

On plain-TCP connections it offers the ASGI ``http.response.pathsend`` extension: a whole-file
``FileResponse`` is sent with ``sendfile(2)`` (:mod:`modelyard.serving.pathsend`).

Limits (:class:`modelyard.settings.HttpLimits`, read from the uvicorn config's ``http_limits``), each
answered in the same google.rpc form before the application sees the request:

* **Header size and count.** httptools grows a header being received by concatenation, so a 64 MiB
  header cost seconds of the event loop (every other request waited) and 256 MiB took 96 s and +510 MB.
  The bytes of a request head are counted as they arrive: more than the request target's limit plus
  ``max_header_bytes`` (and 1 KiB for the method and version) are never handed to the parser; header
  fields are counted and summed as the parser completes each. Past either limit: ``431`` with reason
  ``REQUEST_HEADERS_TOO_LARGE``, and the connection is closed.
* **Header-read timeout.** A connection must deliver a whole request head within ``header_timeout``
  seconds of connecting or of starting a request (a client that sends a byte now and then held a
  connection for ever): then ``408`` with reason ``REQUEST_HEADER_TIMEOUT`` (or, if it sent nothing,
  just the close).
* **Stalled bodies.** While a request body is incomplete and the server is reading, a connection on
  which no byte arrives for ``body_idle_timeout`` seconds is closed: the application sees the client go
  away (an upload drops its partial file, as for any client that leaves). Time the server spends not
  reading (its own back-pressure), or before it sends the ``100 Continue`` a client asked for, does not
  count.
* **Connections.** A request on a connection past ``max_connections`` open ones in this worker gets
  ``503 UNAVAILABLE`` (reason ``TOO_MANY_CONNECTIONS``, ``Retry-After: 1``) and the connection is closed
  (uvicorn's ``limit_concurrency`` does the same in plain text, and counts differently).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from modelyard.errors import RegistryError, rpc_body
from modelyard.requestid import request_id_or_new
from modelyard.serving.pathsend import EXTENSION, PathsendCycle, supported
from modelyard.settings import HttpLimits

#: The longest request target (path and query string, as sent) that the server parses.
MAX_TARGET_BYTES = 65535
#: Bytes of a request line besides its target (method, spaces, version, line ends), allowed on top.
_REQUEST_LINE_SLACK = 1024


def _detail() -> str:
    """What the parser said about the request being handled (called from uvicorn's ``except`` block)."""
    exc = sys.exc_info()[1]
    if exc is None:
        return "the request line or headers are malformed"
    cause = exc.__context__ if type(exc).__name__ == "HttpParserCallbackError" else exc
    if cause is None or type(cause).__module__.split(".")[0] not in ("httptools", "h11"):
        return "the request line or headers are malformed"
    text = str(cause).strip() or type(cause).__name__
    return text[:200]


def error_response(
    status: int, error: RegistryError, default_headers: list[tuple[bytes, bytes]], *extra: tuple[bytes, bytes]
) -> bytes:
    """The whole HTTP/1.1 response (status line to body) of ``error`` with HTTP ``status``, closing the
    connection, for a request the application never sees."""
    body = orjson.dumps(rpc_body(error))
    headers = [
        *default_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"x-request-id", request_id_or_new(None)),
        *extra,
        (b"connection", b"close"),
    ]
    lines = [name + b": " + value + b"\r\n" for name, value in headers]
    return b"".join([STATUS_LINE[status], *lines, b"\r\n", body])


def malformed_request_response(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The response for a request the parser refused."""
    error = RegistryError(
        "INVALID_ARGUMENT",
        f"malformed HTTP request: {_detail()} (the request target may be at most {MAX_TARGET_BYTES} "
        "bytes; the request line and header names may not hold control or non-ASCII bytes)",
        reason="MALFORMED_HTTP_REQUEST",
    )
    return error_response(400, error, default_headers, (b"x-should-retry", b"false"))


def headers_too_large_response(limits: HttpLimits, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    error = RegistryError(
        "INVALID_ARGUMENT",
        f"request headers too large: at most {limits.max_headers} header fields of {limits.max_header_bytes} "
        f"bytes in all are read (and a request target of at most {MAX_TARGET_BYTES} bytes)",
        reason="REQUEST_HEADERS_TOO_LARGE",
        metadata={"maxHeaders": str(limits.max_headers), "maxHeaderBytes": str(limits.max_header_bytes)},
    )
    return error_response(431, error, default_headers, (b"x-should-retry", b"false"))


def header_timeout_response(limits: HttpLimits, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    error = RegistryError(
        "DEADLINE_EXCEEDED",
        f"the request line and headers did not arrive within {limits.header_timeout:g} seconds",
        reason="REQUEST_HEADER_TIMEOUT",
    )
    return error_response(408, error, default_headers)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that is refused."""


def too_many_connections(limit: int) -> Any:
    """The ASGI app answering a request on a connection past ``limit``."""
    error = RegistryError(
        "UNAVAILABLE",
        f"this server has more than {limit} connections open; retry shortly",
        reason="TOO_MANY_CONNECTIONS",
    )
    body = orjson.dumps(rpc_body(error))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"x-content-type-options", b"nosniff"),
                    (b"retry-after", b"1"),
                    (b"x-request-id", request_id_or_new(None)),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class BodyPieces:
    """What uvicorn's request cycle uses as its body buffer (``+=``, ``len``, ``bytes()``), as a list."""

    __slots__ = ("_pieces", "_size")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0

    def __iadd__(self, piece: bytes) -> BodyPieces:
        self._pieces.append(piece)
        self._size += len(piece)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        return self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)


class RpcHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (what its ``auto`` setting picks) with google.rpc 400s, keeping a
    request body as pieces, with ``http.response.pathsend``, and with the limits of the module doc."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: HttpLimits = getattr(config, "http_limits", None) or HttpLimits()
        self._head_budget = MAX_TARGET_BYTES + _REQUEST_LINE_SLACK + self.limits.max_header_bytes
        #: Bytes of the request head received so far; None while a body is being received.
        self._head: int | None = 0
        self._heads_done = 0
        self._header_count = 0
        self._header_bytes = 0
        self._refusal: bytes | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_at = 0.0

    # -- the connection -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head is None:  # a body
            self._body_at = self.loop.time()
            super().data_received(data)
            self._arm()
            return
        room = self._head_budget - self._head
        if len(data) <= room:
            self._head += len(data)
            super().data_received(data)
            self._arm()
            return
        # Past the budget unless the head ends within it: the parser gets no byte more of a head.
        done = self._heads_done
        self._head += room
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._heads_done == done:
            self._refuse(headers_too_large_response(self.limits, self.server_state.default_headers))
            return
        self.data_received(data[room:])

    def _refuse(self, response: bytes) -> None:
        self.logger.warning("Refused HTTP request: %s", response.split(b"\r\n", 1)[0].decode("latin-1"))
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    # -- timers -------------------------------------------------------------------------------------
    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _arm(self) -> None:
        """After the parser had bytes: a timer for a head or a body left incomplete (a request that
        arrives whole, the usual case, starts none)."""
        if self.transport.is_closing():
            return
        if self._head is None:
            if self._body_timer is None:
                self._body_at = self.loop.time()
                self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._body_idle_check)
        elif self._head > 0:
            self._start_head_timer()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._head is None:
            return
        if self._head == 0:  # not a byte of a request: just close
            self._cancel_timers()
            self.transport.close()
            return
        self._refuse(header_timeout_response(self.limits, self.server_state.default_headers))

    def _body_idle_check(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._head is not None:
            return
        now = self.loop.time()
        waiting = self.flow.read_paused or (self.cycle is not None and self.cycle.waiting_for_100_continue)
        if waiting:  # the server is not reading, or has not yet asked for the body: not the client's stall
            self._body_at = now
        idle = now - self._body_at
        if idle < self.limits.body_idle_timeout:
            self._body_timer = self.loop.call_later(
                self.limits.body_idle_timeout - idle, self._body_idle_check
            )
            return
        self.logger.warning("Closing a connection whose request body stalled for %.0f s", idle)
        self._cancel_timers()
        self.transport.close()

    # -- parser callbacks -----------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = self._header_bytes = 0
        if supported(self.scheme):
            self.scope["extensions"] = {EXTENSION: {}}  # type: ignore[typeddict-unknown-key]

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > self.limits.max_headers or self._header_bytes > self.limits.max_header_bytes:
            self._refusal = headers_too_large_response(self.limits, self.server_state.default_headers)
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._heads_done += 1
        self._head = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        previous = self.cycle
        app = self.app
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("Refused a request: more than %d connections", self.limits.max_connections)
            self.app = too_many_connections(self.limits.max_connections)
        try:
            super().on_headers_complete()
        finally:
            self.app = app
        if self.cycle is not previous and EXTENSION in self.scope.get("extensions", {}):
            self.cycle.__class__ = PathsendCycle  # the same object; only ``send`` differs

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle.body, BodyPieces):  # uvicorn makes a new bytearray after each receive
            cycle.body = BodyPieces()  # type: ignore[assignment]
        super().on_body(body)

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        self._cancel_timers()
        if self.transport.is_closing():
            return
        self.transport.write(refusal or malformed_request_response(self.server_state.default_headers))
        self.transport.close()
