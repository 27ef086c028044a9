"""Running the HTTP server: uvicorn, with TCP_NODELAY on the listening socket for any worker count.

uvicorn pre-binds its socket when it runs several workers and leaves Nagle's algorithm on (uvicorn issue
#3149): every response after the first on a kept-alive connection then waits for the client's delayed
ACK (~40 ms). On Linux accepted sockets inherit TCP_NODELAY from the listener, so setting it there fixes
every worker.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from modelyard.api.observability import access_log_enabled


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def serve(
    db_url: str,
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    on_ready: Any = None,
) -> None:
    """Serve the database at ``db_url`` (schema already migrated by the caller)."""
    os.environ["MODELYARD_DB"] = db_url
    config = NoDelayConfig(
        "modelyard.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # modelyard's JSON access log (request ids, no tokens) replaces uvicorn's own.
        access_log=access_log and not access_log_enabled(),
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    server = uvicorn.Server(config)
    sock = config.bind_socket()
    if on_ready is not None:
        on_ready(sock.getsockname()[1])
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])
