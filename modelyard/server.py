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
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from modelyard.settings import AppFactory, Settings


class NoDelayConfig(uvicorn.Config):
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
    with a picklable :class:`~modelyard.settings.AppFactory` holding the settings."""
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
        server_header=False,
    )
    server = uvicorn.Server(config)
    sock = _reserve(config) if workers > 1 and per_worker_sockets() else config.bind_socket()
    if on_ready is not None:
        on_ready(sock.getsockname()[1])
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
