"""Operator observability: Prometheus metrics, JSON access logs, request ids, and readiness.

``install_observability(app)`` adds, to an app made by :func:`modelyard.api.app.create_app`:

* ``GET /metrics``: Prometheus text format from a registry of the app's own. Per request:
  ``modelyard_http_requests_total{route,method,status}`` and ``modelyard_http_request_duration_seconds``
  ``{route,method}``, where ``route`` is the route *template* (``/v1/accounts/{account_id}/models``) or
  ``unmatched``. Read at scrape time: ``modelyard_db_pool_connections{state}`` (``checked_out``, ``size``,
  ``overflow`` = connections open beyond the pool size) from the SQLAlchemy pool,
  ``modelyard_models{account}`` (cached for :data:`MODELS_CACHE_SECONDS`), ``modelyard_build_info``
  ``{version}`` and the standard ``process_*`` metrics. ``?name[]=...`` limits a scrape to the named
  samples, as in the official client's exporters.

  Every number is **per process**. With several uvicorn workers each worker keeps its own registry and a
  scrape reaches whichever worker accepts the connection, so request counters and pool gauges describe
  that worker only (``modelyard_models`` comes from the shared database, so workers agree up to their
  caches). For fleet-wide numbers run one worker per container/port and let Prometheus sum the targets;
  prometheus_client's multiprocess mode is deliberately not used.

  ``/metrics`` is unauthenticated and names every account that holds models: expose it only to the
  monitoring network.

* One JSON object per request on the ``modelyard.access`` logger at INFO. Unless the operator configured
  that logger it goes to stdout at the server's log level (``--log-level warning`` silences it, as it does
  uvicorn's access log). Fields: ``ts`` (RFC 3339, UTC, when the request arrived), ``request_id``,
  ``method``, ``path``, ``query`` (``pageToken``/``page_token`` values cut to 8 characters), ``route``,
  ``status``, ``duration_ms``, ``client``, ``user_agent``, ``bytes`` (response body). No header other than
  the user agent is logged, so API keys never are. ``MODELYARD_ACCESS_LOG=0`` turns the log off (see
  :func:`access_log_enabled`; uvicorn's own access log should be off when this one is on). Lines are
  written synchronously, like uvicorn's: whatever reads the server's stdout must keep up.

* ``X-Request-Id``: an incoming one is kept when it is 1-128 printable ASCII characters, otherwise a
  uuid4 hex is generated; every response carries it, including errors and 404s (the middleware sits
  outside Starlette's ``ServerErrorMiddleware`` so even unhandled-exception 500s have it).

* ``GET /readyz``: 200 when the database answers, its schema is at the Alembic head (checked until it is
  once, then cached) and the process is not shutting down; otherwise a google.rpc ``UNAVAILABLE`` (503).
  ``/healthz`` (liveness) keeps answering 200 while draining.

Shutdown and draining: uvicorn stops accepting connections within 0.1 s of SIGTERM/SIGINT, then waits up
to ``timeout_graceful_shutdown`` for in-flight requests, and only *then* sends the ASGI lifespan shutdown
event. So that ``/readyz`` fails as soon as shutdown starts, the app wraps the server's SIGTERM/SIGINT
handlers at lifespan startup (main thread only) and sets its draining flag from them (the lifespan event
sets it too, as a fallback for other servers). ``MODELYARD_DRAIN_SECONDS`` (default 0) postpones the
server's reaction to the first signal by that many seconds: the server keeps serving, ``/readyz`` answers
503 and responses carry ``Connection: close``, so load balancers drain before the listener closes. A
second signal shuts down at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any, TextIO
from urllib.parse import unquote_plus

import orjson
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard import __version__
from modelyard.api.errors import ApiError
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")
ACCESS_LOGGER = "modelyard.access"

#: Request-duration histogram buckets, in seconds.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: How long a ``count_all()`` result serves scrapes.
MODELS_CACHE_SECONDS = 5.0
MAX_REQUEST_ID = 128
PAGE_TOKEN_KEEP = 8

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_FALSE = frozenset({"0", "false", "no", "off"})


def access_log_enabled() -> bool:
    """Whether the JSON access log is on (``MODELYARD_ACCESS_LOG``, default on)."""
    return os.environ.get("MODELYARD_ACCESS_LOG", "1").strip().lower() not in _FALSE


def drain_seconds() -> float:
    """``MODELYARD_DRAIN_SECONDS``: how long to keep serving, unready, after the first shutdown signal."""
    raw = os.environ.get("MODELYARD_DRAIN_SECONDS", "").strip()
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        log.warning("ignoring MODELYARD_DRAIN_SECONDS=%r: not a number", raw)
        return 0.0
    return min(max(value, 0.0), 600.0)


# -- metrics -------------------------------------------------------------------------------------------
class _ScrapeCollector(Collector):
    """Gauges computed when Prometheus scrapes: pool state, models per account, build info."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._models: dict[str, int] | None = None
        self._models_at = 0.0

    def describe(self) -> Iterable[Metric]:
        # Lets the registry know the names without calling collect() (which queries the database).
        return [self._pool_family(), self._models_family(), self._build_family()]

    @staticmethod
    def _pool_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "modelyard_db_pool_connections",
            "Database connections of this process's pool: checked_out (in use), size (pool size), "
            "overflow (open beyond the pool size).",
            labels=["state"],
        )

    @staticmethod
    def _models_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "modelyard_models",
            f"Models per account (refreshed at most every {MODELS_CACHE_SECONDS:g} s).",
            labels=["account"],
        )

    @staticmethod
    def _build_family() -> GaugeMetricFamily:
        return GaugeMetricFamily("modelyard_build_info", "The running modelyard version.", labels=["version"])

    def collect(self) -> Iterator[Metric]:
        pool = self._pool_family()
        for state, value in _pool_state(self._store.engine.pool):
            pool.add_metric([state], value)
        yield pool
        counts = self._model_counts()
        if counts is not None:
            models = self._models_family()
            for account, count in sorted(counts.items()):
                models.add_metric([account], count)
            yield models
        build = self._build_family()
        build.add_metric([__version__], 1)
        yield build

    def _model_counts(self) -> dict[str, int] | None:
        with self._lock:  # concurrent scrapes share one query
            now = time.monotonic()
            if self._models is not None and now - self._models_at < MODELS_CACHE_SECONDS:
                return self._models
            try:
                self._models = self._store.count_all()
                self._models_at = now
            except Exception as e:  # the database does not answer: keep serving the other metrics
                log.warning("metrics: counting models failed: %s", e)
            return self._models  # stale (or None) after a failure


def _pool_state(pool: Any) -> Iterator[tuple[str, float]]:
    """(state, value) for whichever of QueuePool's checkedout()/size()/overflow() the pool has."""
    for state, attr in (("checked_out", "checkedout"), ("size", "size"), ("overflow", "overflow")):
        item = getattr(pool, attr, None)
        try:
            value = item() if callable(item) else item
        except Exception:  # pragma: no cover - a pool implementation we do not know
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            # QueuePool.overflow() starts at -size and counts up as connections open.
            yield state, float(max(value, 0) if state == "overflow" else value)


class Observability:
    """Per-app state: the registry, metric children, the access logger and the draining flag."""

    def __init__(self, store: Store, *, access_log: bool) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelyard_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "modelyard_http_request_duration_seconds",
            "HTTP request duration (until the application finished the response), by route template.",
            ["route", "method"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapeCollector(store))
        ProcessCollector(registry=self.registry)
        # labels() takes a lock and builds a tuple key; the event loop thread caches children instead.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}
        self.access_log = _access_logger() if access_log else None
        self.draining = False
        self._schema_ok = False
        self._script_heads: set[str] | None = None
        self._signals_hooked = False

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        hkey = (route, method)
        hist = self._histograms.get(hkey)
        if hist is None:
            hist = self._histograms[hkey] = self.duration.labels(route, method)
        hist.observe(seconds)

    # -- readiness -------------------------------------------------------------------------------------
    def schema_current(self) -> tuple[bool, str]:
        """Whether the database's Alembic revision is the script head (a success is remembered)."""
        if self._schema_ok:
            return True, ""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from modelyard.store.migrate import alembic_config

        if self._script_heads is None:
            script = ScriptDirectory.from_config(alembic_config(self.store.engine))
            self._script_heads = set(script.get_heads())
        with self.store.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if current == self._script_heads:
            self._schema_ok = True
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
        delay = drain_seconds()
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


# -- access log ----------------------------------------------------------------------------------------
_owns_access_logger = False


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time (it may be replaced, e.g. by pytest's capture)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _access_logger() -> logging.Logger:
    """``modelyard.access``: unless the operator configured it, plain lines on stdout at the server's log
    level (``modelyard serve --log-level warning`` silences it, as it silences uvicorn's access log)."""
    global _owns_access_logger
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        _owns_access_logger = True
    if _owns_access_logger:
        server_level = logging.getLogger("uvicorn.error").level  # set from uvicorn's log_level
        logger.setLevel(server_level if server_level != logging.NOTSET else logging.INFO)
    return logger


_ts_second = -1
_ts_prefix = ""


def _rfc3339(t: float) -> str:
    """``2025-01-02T03:04:05.678Z`` (the second's text is reused: a request log line is hot code)."""
    global _ts_second, _ts_prefix
    second = int(t)
    if second != _ts_second:
        _ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _ts_second = second
    return f"{_ts_prefix}.{int((t - second) * 1000):03d}Z"


def redact_query(raw: bytes) -> str:
    """The query string with ``pageToken``/``page_token`` values (and the ``signature`` of signed file
    URLs) cut to their first 8 characters."""
    text = raw.decode("latin-1")
    lowered = text.lower()
    if "token" not in lowered and "%" not in lowered and "signature" not in lowered:
        return text
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if not eq or len(value) <= PAGE_TOKEN_KEEP:
            continue
        key = unquote_plus(name) if "%" in name or "+" in name else name
        if key in ("pageToken", "page_token", "signature"):
            parts[i] = f"{name}={value[:PAGE_TOKEN_KEEP]}..."
    return "&".join(parts)


def _valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= MAX_REQUEST_ID and value.isascii() and value.decode("ascii").isprintable()


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
        if request_id is None or not _valid_request_id(request_id):
            request_id = uuid.uuid4().hex.encode()
        status = 0
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id)]
                if obs.draining:
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            elif kind == "http.response.body":
                sent += len(message.get("body", b""))
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
            obs.observe(route, method, status, elapsed)
            logger = obs.access_log
            if logger is not None and logger.isEnabledFor(logging.INFO):
                self._log(logger, scope, request_id, route, status, elapsed, user_agent, sent)

    @staticmethod
    def _log(
        logger: logging.Logger,
        scope: Scope,
        request_id: bytes,
        route: str,
        status: int,
        elapsed: float,
        user_agent: bytes,
        sent: int,
    ) -> None:
        client = scope.get("client")
        query = scope.get("query_string", b"")
        entry = {
            "ts": _rfc3339(time.time() - elapsed),
            "request_id": request_id.decode("ascii"),
            "method": scope["method"],
            "path": scope["path"],
            "query": redact_query(query) if query else "",
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "client": client[0] if client else None,
            "user_agent": user_agent[:512].decode("latin-1"),
            "bytes": sent,
        }
        # makeRecord + handle: Logger.info would also walk the stack for the caller's file and line.
        logger.handle(
            logger.makeRecord(logger.name, logging.INFO, "", 0, orjson.dumps(entry).decode(), (), None)
        )


# -- installation --------------------------------------------------------------------------------------
def install_observability(app: FastAPI) -> Observability:
    """Add ``/metrics``, ``/readyz``, request ids and the access log to ``app`` (see the module doc)."""
    store: Store = app.state.store
    obs = Observability(store, access_log=access_log_enabled())
    app.state.observability = obs

    # Outermost, outside ServerErrorMiddleware: its 500s get a request id and are counted and logged.
    build_inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return ObservabilityMiddleware(build_inner(), obs)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    app.middleware_stack = None

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        names = request.query_params.getlist("name[]")
        registry = obs.registry.restricted_registry(names) if names else obs.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        if obs.draining:
            return ApiError("UNAVAILABLE", "the server is shutting down", reason="SHUTTING_DOWN").response()
        try:
            store.ping()
            current, revision = obs.schema_current()
        except Exception as e:  # the database does not answer
            log.warning("readiness check failed: %s", e)
            return ApiError(
                "UNAVAILABLE", "the database does not answer", reason="DATABASE_UNAVAILABLE"
            ).response()
        if not current:
            return ApiError(
                "UNAVAILABLE",
                f"the database schema is at revision {revision}, not {obs.expected_revision()}; "
                "run the migrations (any modelyard command does)",
                reason="SCHEMA_NOT_CURRENT",
                metadata={"current": revision, "expected": obs.expected_revision()},
            ).response()
        return Response(b'{"status":"ok"}', media_type="application/json")

    return obs
