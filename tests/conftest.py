"""Shared fixtures: real databases (SQLite file, PostgreSQL database per run) and real servers.

Every test that takes ``backend`` runs on both SQLite and PostgreSQL. PostgreSQL comes from
``MODELYARD_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``); each run creates
its own database and drops it afterwards. When PostgreSQL is unreachable the PostgreSQL half is
skipped locally, but fails when ``CI`` or ``MODELYARD_REQUIRE_PG`` is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, settings

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store

#: Fixtures of the model-file tests (moto's S3 server, servers with file and S3 storage).
pytest_plugins = ["files_support"]

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

PG_ADMIN_URL = os.environ.get("MODELYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = bool(os.environ.get("CI") or os.environ.get("MODELYARD_REQUIRE_PG"))


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as e:  # pragma: no cover - depends on the machine
        return str(e)


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "modelyard_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards. Fails in CI (and skips elsewhere)
    when PostgreSQL is unreachable."""
    problem = _pg_available()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (CI) but unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modelyard-tests-") as d:
        yield Path(d)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_root: Path) -> str:
    """A database URL of each kind (session-scoped; tests isolate themselves by account)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_root / 'session.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


@dataclass
class Account:
    id: str
    key: str
    client: httpx.Client

    def url(self, account: str | None = None) -> str:
        return f"/v1/accounts/{account or self.id}/models"


@dataclass
class Server:
    base_url: str
    db_url: str
    store: Store
    process: subprocess.Popen[str]
    clients: list[httpx.Client] = field(default_factory=list)

    def new_account(self, prefix: str = "acct") -> Account:
        account = f"{prefix}-{secrets.token_hex(4)}"
        key = self.store.create_api_key(account, "test")
        client = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.clients.append(client)
        return Account(account, key, client)

    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self.clients.append(client)
        return client


def start_server(
    db_url: str, *extra: str, env: dict[str, str] | None = None, capture: bool = False
) -> tuple[subprocess.Popen[str], str]:
    """``modelyard serve --port 0`` as a subprocess; returns it and its base URL once it answers.

    The server's output goes to a log file (a pipe nobody drains would block the server once full);
    with ``capture`` it goes to ``proc.stdout`` instead, for tests that read the server's logs.
    """
    cmd = [
        sys.executable, "-m", "modelyard.cli", "serve", "--db", db_url, "--port", "0",
        "--log-level", "warning", *extra,
    ]  # fmt: skip
    log_path = Path(tempfile.mkstemp(prefix="modelyard-server-", suffix=".log")[1])
    log = open(log_path, "w+")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE if capture else log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 60
    lines: list[str] = []
    base = None
    with open(log_path) as reader:
        while time.monotonic() < deadline and base is None:
            line = proc.stdout.readline() if capture and proc.stdout else reader.readline()
            if not line:
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
                continue
            lines.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                base = m.group(1)
    if base is None:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(lines))
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server never became healthy")


def stop_server(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()


@pytest.fixture(scope="session")
def server(backend: str) -> Iterator[Server]:
    """A running ``modelyard serve`` on the backend's database."""
    store = Store(make_engine(backend))
    upgrade(store.engine)
    proc, base = start_server(backend)
    srv = Server(base, backend, store, proc)
    try:
        yield srv
    finally:
        for c in srv.clients:
            c.close()
        stop_server(proc)
        store.engine.dispose()


@pytest.fixture()
def account(server: Server) -> Account:
    """A fresh account with an API key and an authenticated client for the running server."""
    return server.new_account()
