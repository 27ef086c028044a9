"""Fixtures of the model-file tests: a real S3 protocol server (moto's standalone server, on a free
127.0.0.1 port) and real ``modelyard serve`` processes on each database with each storage (``file://``
and ``s3://``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.files import FilesServer, S3Server, storage_for
from tests.support.server import start_server, stop_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server (the standalone HTTP server of ``moto[server]``) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}", server)
    finally:
        server.stop()


@contextlib.contextmanager
def _serving(backend: str, kind: str, tmp_root: Path, s3: S3Server | None) -> Iterator[FilesServer]:
    storage_url, env = storage_for(kind, tmp_root, s3)
    store = Store(make_engine(backend))
    upgrade(store.engine)
    proc, base = start_server(backend, "--storage", storage_url, env={**env, "MODELYARD_GC_INTERVAL": "0"})
    srv = FilesServer(base, backend, storage_url, kind, store, proc, env, s3)
    try:
        yield srv
    finally:
        for c in srv.clients:
            c.close()
        stop_server(proc)
        store.engine.dispose()


@pytest.fixture(scope="session", params=["file", "s3"])
def files_server(request: pytest.FixtureRequest, backend: str, tmp_root: Path) -> Iterator[FilesServer]:
    """``modelyard serve`` on the backend's database with file storage or S3 storage."""
    kind: str = request.param
    s3: S3Server | None = request.getfixturevalue("s3_server") if kind == "s3" else None
    with _serving(backend, kind, tmp_root, s3) as srv:
        yield srv


@pytest.fixture(scope="session")
def file_storage_server(backend: str, tmp_root: Path) -> Iterator[FilesServer]:
    """``modelyard serve`` with file storage only (the raw PUT/GET endpoints)."""
    with _serving(backend, "file", tmp_root, None) as srv:
        yield srv
