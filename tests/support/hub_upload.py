"""Helpers of the Hub upload tests (``tests/hub/test_hub_upload*.py``): a real ``modelyard serve`` with a
storage and small LFS transfer sizes, teams of every role, the real ``huggingface_hub`` client pointed at
the server, and client scripts run in a process of their own (what the environment decides at import:
``HF_HUB_DISABLE_XET``, ``HF_ENDPOINT``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelyard.resources.identity import ROLES
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.files import S3Server, storage_for
from tests.support.paths import REPO_ROOT
from tests.support.server import start_server, stop_server

#: The transfer sizes the upload servers run with: a file over 64 KiB goes multipart, in 24 KiB parts
#: (S3 wants 5 MiB parts: its servers get their own sizes).
MULTIPART_THRESHOLD = 64 * 1024
PART_SIZE = 24 * 1024


@dataclass
class HubServer:
    base_url: str
    db_url: str
    storage_url: str
    store: Store
    process: subprocess.Popen[str]
    env: dict[str, str]
    clients: list[Any] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """What ``HF_ENDPOINT`` is for this server."""
        return self.base_url + "/hf"

    def api(self, token: str | None) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=token if token is not None else False)

    def team(self, prefix: str = "hub") -> Team:
        """An account with one user (and key) per role, named after the role."""
        account = f"{prefix}-{secrets.token_hex(4)}"
        _, key, _ = self.store.users.bootstrap_key(account, email="admin@example.com")
        keys = {"admin": key}
        for role in ROLES[1:]:
            self.store.users.create_user(account, role, {"role": role, "email": f"{role}@example.com"})
            _, keys[role] = self.store.users.create_key(account, role, display_name="test", expire_time=0)
        return Team(account, keys, self)

    def http(self, key: str) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        self.clients.append(client)
        return client

    @property
    def root(self) -> Path:
        assert self.storage_url.startswith("file://")
        return Path(self.storage_url[len("file://") :])


@dataclass
class Team:
    account: str
    keys: dict[str, str]
    server: HubServer

    def api(self, role: str = "admin") -> Any:
        return self.server.api(self.keys[role])

    def repo(self, name: str | None = None) -> str:
        return f"{self.account}/{name or 'm-' + secrets.token_hex(3)}"


@contextlib.contextmanager
def serving(
    db_url: str,
    kind: str,
    tmp_root: Path,
    s3: S3Server | None = None,
    *,
    threshold: int = MULTIPART_THRESHOLD,
    part_size: int = PART_SIZE,
    extra_env: dict[str, str] | None = None,
    storage_url: str = "",
    workers: int = 1,
) -> Iterator[HubServer]:
    """A server on ``db_url`` with a new storage of ``kind`` (or ``storage_url``: a replica of another)."""
    new_url, env = storage_for(kind, tmp_root, s3)
    storage_url = storage_url or new_url
    env = {
        **env,
        "MODELYARD_GC_INTERVAL": "0",
        "MODELYARD_HF_MULTIPART_THRESHOLD": str(threshold),
        "MODELYARD_HF_PART_SIZE": str(part_size),
        **(extra_env or {}),
    }
    store = Store(make_engine(db_url))
    upgrade(store.engine)
    proc, base = start_server(db_url, "--storage", storage_url, "--workers", str(workers), env=env)
    srv = HubServer(base, db_url, storage_url, store, proc, env)
    try:
        yield srv
    finally:
        for c in srv.clients:
            c.close()
        stop_server(proc)
        store.engine.dispose()


def run_client(script: str, env: dict[str, str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a Python client script in a process of its own (its environment is read at import time)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**base, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
