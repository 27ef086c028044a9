"""Fixtures of the OCI door's tests: real ``modelyard serve`` processes (SQLite with file storage; one
PostgreSQL with two workers and S3 from moto's server) and helpers that drive real OCI clients
(Debian's ``skopeo``, the ``oras`` Python client)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.databases import fresh_pg_database
from tests.support.files import FilesServer, S3Server, storage_for
from tests.support.server import start_server, stop_server


@contextlib.contextmanager
def serving(
    db_url: str, kind: str, tmp_root: Path, s3: S3Server | None, *extra: str
) -> Iterator[FilesServer]:
    storage_url, env = storage_for(kind, tmp_root, s3)
    store = Store(make_engine(db_url))
    upgrade(store.engine)
    proc, base = start_server(
        db_url, "--storage", storage_url, *extra, env={**env, "MODELYARD_GC_INTERVAL": "0"}
    )
    srv = FilesServer(base, db_url, storage_url, kind, store, proc, env, s3)
    try:
        yield srv
    finally:
        for c in srv.clients:
            c.close()
        stop_server(proc)
        store.engine.dispose()


@pytest.fixture(scope="session")
def oci_server(tmp_root: Path) -> Iterator[FilesServer]:
    """``modelyard serve`` on SQLite with file storage."""
    with serving(f"sqlite:///{tmp_root / 'oci.db'}", "file", tmp_root, None) as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}", server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oci_pg_s3_server(tmp_root: Path, s3_server: S3Server) -> Iterator[FilesServer]:
    """``modelyard serve --workers 2`` on PostgreSQL with S3 storage (moto)."""
    with fresh_pg_database() as url, serving(url, "s3", tmp_root, s3_server, "--workers", "2") as srv:
        yield srv
