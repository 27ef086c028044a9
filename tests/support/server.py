"""A real ``modelyard serve`` subprocess for tests, and the handle the ``server`` fixture yields."""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelyard.store.repository import Store
from tests.support.accounts import Account


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
    with ``capture`` it goes to ``proc.stdout`` instead, for tests that read the server's logs. The server
    leads a process group of its own, so that :func:`kill_server` reaches its workers too.

    Test servers run no preparation jobs unless ``env`` asks for them (``MODELYARD_SERVER_JOBS``): servers
    of other tests share the session's database but not its storage, and a job thread of one would take
    (and fail) the jobs another test queued.
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
        env={"MODELYARD_SERVER_JOBS": "0", **os.environ, **(env or {})},
        start_new_session=True,
    )
    deadline = time.monotonic() + 120  # a hang guard: a busy machine starts workers slowly
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
        kill_server(proc)
        raise RuntimeError("server did not start:\n" + "".join(lines))
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    kill_server(proc)
    raise RuntimeError("server never became healthy")


def stop_server(proc: subprocess.Popen[Any]) -> None:
    """SIGINT to the server (a supervisor stops its workers), then SIGKILL to whatever of its process
    group is left: a supervisor that did not stop in time, or a worker it orphaned."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    kill_server(proc)


def kill_server(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL to the server's whole process group (supervisor and workers), then reap the server."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found
