"""Operator observability: Prometheus metrics, JSON access logs, request ids, and readiness.

What :func:`modelyard.api.app.create_app` adds to every app (modules: ``api/metrics.py``,
``api/accesslog.py``, ``modelyard/requestid.py``, ``api/health.py``; the state and the middleware are here):

* ``GET /metrics``: Prometheus text format from a registry of the app's own. Per request:
  ``modelyard_http_requests_total{route,method,status}`` and ``modelyard_http_request_duration_seconds``
  ``{route,method}``, where ``route`` is the route *template* (``/v1/accounts/{account_id}/models``) or
  ``unmatched``. Read at scrape time: ``modelyard_db_pool_connections{state}`` (``checked_out``, ``size``,
  ``overflow`` = connections open beyond the pool size) from the SQLAlchemy pool, ``modelyard_build_info``
  ``{version}`` and the standard ``process_*`` metrics. ``modelyard_models{account}`` only when
  ``Settings.metrics_accounts`` (``MODELYARD_METRICS_ACCOUNTS``) asks for it: ``public`` gives the public
  models of each account that has some (accounts holding only private models are never named), ``all``
  every account's model count; cached for :data:`MODELS_CACHE_SECONDS`. ``?name[]=...`` limits a scrape
  to the named samples, as in the official client's exporters.

  With several workers (``modelyard serve --workers N``) the request counters and histograms are summed
  over all workers of the server run (prometheus_client's multiprocess mode, ``Settings.metrics_dir``;
  workers that exited still count). The pool and build gauges describe the worker that answered the
  scrape, and ``process_*`` metrics are left out (they would describe one worker only).

  ``/metrics`` is unauthenticated: expose it only to the monitoring network.

* One JSON object per request on the ``modelyard.access`` logger at INFO. Unless the operator configured
  that logger it goes to stdout at the server's log level (``--log-level warning`` silences it, as it does
  uvicorn's access log). Fields: ``ts`` (RFC 3339, UTC, when the request arrived), ``request_id``,
  ``method``, ``path``, ``query`` (``pageToken``/``page_token`` values cut to 8 characters), ``route``,
  ``status``, ``duration_ms``, ``client``, ``user_agent``, ``bytes`` (response body). No header other than
  the user agent is logged, so API keys never are. ``MODELYARD_ACCESS_LOG=0`` (``Settings.access_log``)
  turns the log off (uvicorn's own access log is off when this one is on). Lines are written
  synchronously, like uvicorn's: whatever reads the server's stdout must keep up.

* ``X-Request-Id``: an incoming one is kept when it is 1-128 printable ASCII characters, otherwise a
  uuid4 hex is generated; every response carries it, including errors and 404s (the middleware sits
  outside Starlette's ``ServerErrorMiddleware`` so even unhandled-exception 500s have it).

* ``GET /readyz``: 200 when the database answers, its schema is at the Alembic head (one query on the
  ``alembic_version`` table per call, which also proves the database answers) and the process is not
  shutting down; otherwise a google.rpc ``UNAVAILABLE`` (503). Requests that find a table missing answer
  ``UNAVAILABLE`` too (reason ``SCHEMA_NOT_CURRENT``), never ``INTERNAL``.
  ``/healthz`` (liveness) keeps answering 200 while draining.

Shutdown and draining: uvicorn stops accepting connections within 0.1 s of SIGTERM/SIGINT, then waits up
to ``timeout_graceful_shutdown`` for in-flight requests, and only *then* sends the ASGI lifespan shutdown
event. So that ``/readyz`` fails as soon as shutdown starts, the app wraps the server's SIGTERM/SIGINT
handlers at lifespan startup (main thread only) and sets its draining flag from them (the lifespan event
sets it too, as a fallback for other servers). ``MODELYARD_DRAIN_SECONDS`` (``Settings.drain_seconds``,
default 0) postpones the server's reaction to the first signal by that many seconds: the server keeps
serving, ``/readyz`` answers 503 and responses carry ``Connection: close``, so load balancers drain
before the listener closes. A second signal shuts down at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api.accesslog import access_logger, redact_query, write_entry
from modelyard.api.metrics import Metrics
from modelyard.requestid import request_id_or_new
from modelyard.settings import Settings
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Observability:
    """Per-app state: the metrics, the access logger, the draining flag and the schema check."""

    def __init__(
        self, store: Store, *, access_log: bool, drain_seconds: float = 0.0, settings: Settings | None = None
    ) -> None:
        self.store = store
        self.metrics = Metrics(store, settings)
        self.access_log = access_logger() if access_log else None
        self.drain_seconds = drain_seconds
        self.draining = False
        self._script_heads: set[str] | None = None
        self._signals_hooked = False

    # -- readiness -------------------------------------------------------------------------------------
    def schema_current(self) -> tuple[bool, str]:
        """Whether the database's Alembic revision is the script head: one small query, every time (the
        database may have been recreated since the last check)."""
        if self._script_heads is None:
            self._script_heads = self.store.alembic_heads()
        current = self.store.schema_revisions()
        if current == self._script_heads:
            return True, ""
        return False, ",".join(sorted(current)) or "none"

    def expected_revision(self) -> str:
        return ",".join(sorted(self._script_heads or ()))

    # -- shutdown signals ------------------------------------------------------------------------------
    def hook_shutdown_signals(self) -> None:
        """Wrap the server's SIGTERM/SIGINT handlers (called at lifespan startup) so that the draining
        flag is set the moment graceful shutdown starts, optionally delaying the server's reaction."""
        if self._signals_hooked or threading.current_thread() is not threading.main_thread():
            return
        self._signals_hooked = True
        loop = asyncio.get_running_loop()
        delay = self.drain_seconds
        for sig in (signal.SIGTERM, signal.SIGINT):
            original = signal.getsignal(sig)
            if callable(original):
                signal.signal(sig, self._wrap_handler(original, loop, delay))

    def _wrap_handler(
        self,
        original: Callable[[int, FrameType | None], Any],
        loop: asyncio.AbstractEventLoop,
        delay: float,
    ) -> Callable[[int, FrameType | None], None]:
        passed = [False]  # whether ``original`` has seen a signal through this wrapper

        def forward(signum: int, frame: FrameType | None) -> None:
            passed[0] = True
            original(signum, frame)

        def later(signum: int) -> None:
            log.warning("draining for %g s before shutting down (signal %d)", delay, signum)

            def fire() -> None:
                if not passed[0]:  # a second signal may have started the shutdown already
                    forward(signum, None)

            loop.call_later(delay, fire)

        def handler(signum: int, frame: FrameType | None) -> None:
            first = not self.draining
            self.draining = True
            if first and delay > 0 and not loop.is_closed():
                loop.call_soon_threadsafe(later, signum)
                return
            forward(signum, frame)

        return handler


# -- the middleware ------------------------------------------------------------------------------------
class ObservabilityMiddleware:
    """Pure ASGI middleware: request id, metrics, access log, lifespan hooks. Cheap per request: a few
    dict lookups, one ``perf_counter`` pair, and (when on) one orjson dump plus one log call."""

    def __init__(self, app: ASGIApp, obs: Observability) -> None:
        self.app = app
        self.obs = obs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        obs = self.obs

        async def wrapped() -> Message:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                try:
                    obs.hook_shutdown_signals()
                except Exception as e:  # pragma: no cover - never block startup on this
                    log.warning("could not hook shutdown signals: %s", e)
            elif kind == "lifespan.shutdown":
                obs.draining = True
            return message

        return wrapped

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        obs = self.obs
        started = time.perf_counter()
        request_id: bytes | None = None
        user_agent = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value
            elif name == b"user-agent":
                user_agent = value
        request_id = request_id_or_new(request_id)
        scope["modelyard.request_id"] = request_id  # for the audit log (api/auditing.py)
        status = 0
        sent = 0
        headers: list[tuple[bytes, bytes]] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent, headers
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id)]
                if not any(name == b"x-content-type-options" for name, _ in headers):
                    # No response is to be sniffed into HTML (a JSON error echoes the request's path).
                    headers.append((b"x-content-type-options", b"nosniff"))
                if obs.draining:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "http.response.pathsend":  # a whole file, sent by the server: its Content-Length
                sent += int(next((v for k, v in headers if k == b"content-length"), b"0"))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            if status == 0:  # no response: the server answers 500 (or the client went away)
                status = 500
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or "unmatched"
            method = scope["method"]
            if method not in _METHODS:
                method = "OTHER"
            obs.metrics.observe(route, method, status, elapsed)
            logger = obs.access_log
            if logger is not None and logger.isEnabledFor(logging.INFO):
                write_entry(logger, scope, request_id, route, status, elapsed, user_agent, sent)


__all__ = ["Observability", "ObservabilityMiddleware", "redact_query"]
