"""Running the HTTP server: uvicorn, with TCP_NODELAY on the listening socket for any worker count.

uvicorn pre-binds its socket when it runs several workers and leaves Nagle's algorithm on (uvicorn issue
#3149): every response after the first on a kept-alive connection then waits for the client's delayed
ACK (~40 ms). On Linux accepted sockets inherit TCP_NODELAY from the listener, so setting it there fixes
every worker.

With several workers on Linux each worker listens on a socket of its own, bound to the same address with
SO_REUSEPORT, so that the kernel spreads new connections over the workers. On one shared listening socket
the first worker to wake up accepts every pending connection: 8 keep-alive clients that connect at once
often all land on one worker, which then serves them alone (measured: 850-1,070 instead of 3,600-4,400
requests/s on SQLite, one worker's CPU at 0.0 s; docs/benchmarks.md).

With several workers, Prometheus metrics are aggregated across them (prometheus_client's multiprocess
mode): the supervisor makes a fresh directory for this server run, names it in ``PROMETHEUS_MULTIPROC_DIR``
(inherited by every worker it spawns, before any of them imports prometheus_client) and in
``Settings.metrics_dir`` (what ``/metrics`` reads), marks each worker that exits dead, and removes the
directory when it stops.

uvicorn's supervisor pings each worker over a pipe and kills any that does not answer within
``timeout_worker_healthcheck`` (uvicorn's default: 5 s). A worker answers from a thread it starts only
once its process has started and unpickled its configuration, which on a busy machine takes longer than
that: the supervisor then killed every worker, over and over ("Child process died"), and the server never
served. :data:`WORKER_HEALTHCHECK_SECONDS` is longer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from modelyard.serving.httpprotocol import RpcHttpToolsProtocol
from modelyard.settings import METRICS_DIR_ENV, HttpLimits, Settings


@dataclasses.dataclass(frozen=True)
class AppFactory:
    """``uvicorn --factory`` target that carries its settings: pickled into each worker process, it
    opens the database there and builds the app (the schema is already migrated by the parent)."""

    settings: Settings

    def __call__(self) -> Any:
        if self.settings.metrics_dir:
            # prometheus_client picks its value class when first imported (the worker has not yet).
            os.environ[METRICS_DIR_ENV] = self.settings.metrics_dir
        # Imported here, after the line above: the app imports prometheus_client (allowed lazy import).
        from modelyard.api.app import create_app
        from modelyard.store.engine import make_engine
        from modelyard.store.repository import Store

        store = Store(make_engine(self.settings.resolved_database_url()))
        return create_app(store, settings=self.settings)


#: How long uvicorn's supervisor waits for a worker to answer its health ping before killing it.
WORKER_HEALTHCHECK_SECONDS = 60


class NoDelayConfig(uvicorn.Config):
    """uvicorn's config, carrying the server's connection limits to its protocol (``http_limits``)."""

    http_limits: HttpLimits = HttpLimits()

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class WorkerSocket(socket.socket):
    """A listening address reserved by the supervisor (bound, never listening) that each worker process
    rebinds as a socket of its own: uvicorn pickles the socket into every worker it spawns, and unpickling
    this one binds a new SO_REUSEPORT socket to the same address in that worker."""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return reuse_port_socket, (self.family, self.getsockname())


def reuse_port_socket(
    family: socket.AddressFamily, address: Any, kind: type[socket.socket] = socket.socket
) -> socket.socket:
    """A TCP socket (of class ``kind``) bound to ``address`` with SO_REUSEADDR, SO_REUSEPORT and
    TCP_NODELAY."""
    sock = kind(family=family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def per_worker_sockets() -> bool:
    """Whether this system spreads connections over SO_REUSEPORT listeners (Linux does; BSDs and macOS
    give every connection to one of them)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def check_listen(host: str, port: int) -> None:
    """Raise the OSError that binding ``host``:``port`` would raise (a busy port, an address that is not
    this machine's), before any work is done; port 0 always works."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _reserve(config: uvicorn.Config) -> socket.socket:
    """The supervisor's WorkerSocket for ``config.host``:``config.port`` (port 0: a free port)."""
    host = config.host or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = reuse_port_socket(family, (host, config.port), WorkerSocket)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error(exc)
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with a listening socket per worker (Press CTRL+C to quit)",
        shown,
        sock.getsockname()[1],
    )
    return sock


class Supervisor(Multiprocess):
    """uvicorn's supervisor that also tells prometheus_client's multiprocess mode when a worker exits
    (``mark_process_dead``: its live gauges leave the aggregate; its counters stay)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], metrics_dir: str) -> None:
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir

    def keep_subprocess_alive(self) -> None:
        before = {p.pid for p in self.processes}
        super().keep_subprocess_alive()
        self._mark_dead(before - {p.pid for p in self.processes})

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._mark_dead({p.pid for p in self.processes})

    def _mark_dead(self, pids: set[int | None]) -> None:
        from prometheus_client import multiprocess

        for pid in pids:
            if pid is not None:
                multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh directory for prometheus_client's multiprocess files, named in ``PROMETHEUS_MULTIPROC_DIR``
    for the workers spawned meanwhile; removed (and the variable restored) afterwards."""
    path = tempfile.mkdtemp(prefix="modelyard-metrics-")
    previous = os.environ.get(METRICS_DIR_ENV)
    os.environ[METRICS_DIR_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(METRICS_DIR_ENV, None)
        else:
            os.environ[METRICS_DIR_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    on_ready: Any = None,
) -> None:
    """Serve ``settings.database_url`` (schema already migrated by the caller). Each worker builds its app
    with a picklable :class:`AppFactory` holding the settings."""
    with contextlib.ExitStack() as stack:
        if workers > 1:
            metrics_dir = stack.enter_context(metrics_directory())
            settings = dataclasses.replace(settings, metrics_dir=metrics_dir)
        config = NoDelayConfig(
            AppFactory(settings),
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            # modelyard's JSON access log (request ids, no tokens) replaces uvicorn's own.
            access_log=access_log and not settings.access_log,
            timeout_graceful_shutdown=30,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            server_header=False,
            # Requests the parser refuses get a google.rpc 400, not uvicorn's plain text.
            http=RpcHttpToolsProtocol,
        )
        # Header size and count, header and body timeouts, connections per worker (httpprotocol.py).
        config.http_limits = settings.http
        sock = _reserve(config) if workers > 1 and per_worker_sockets() else config.bind_socket()
        if workers == 1:
            # Listen before saying so: a client that connects while the app is still starting up waits in
            # the backlog instead of being refused (asyncio's create_server listens on it again).
            sock.listen(config.backlog)
        if on_ready is not None:
            on_ready(sock.getsockname()[1])
        if workers > 1:
            Supervisor(config, [sock], settings.metrics_dir).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
