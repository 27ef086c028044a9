"""``modelyard serve --workers N`` on Linux: a listening socket per worker (SO_REUSEPORT), so new
connections are spread over the workers instead of all going to whichever worker wakes up first."""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import time
from pathlib import Path

import httpx
import pytest

from modelyard.serving.server import WorkerSocket, per_worker_sockets, reuse_port_socket
from tests.support.databases import migrated_store, sqlite_url
from tests.support.server import child_pids, kill_server, start_server, stop_server

pytestmark = pytest.mark.skipif(not per_worker_sockets(), reason="SO_REUSEPORT balancing is Linux's")


def test_a_worker_socket_unpickles_as_a_new_socket_on_the_same_address() -> None:
    reserved = reuse_port_socket(socket.AF_INET, ("127.0.0.1", 0), WorkerSocket)
    try:
        copy = pickle.loads(pickle.dumps(reserved))
        try:
            assert type(reserved) is WorkerSocket and type(copy) is socket.socket
            assert copy.fileno() != reserved.fileno()
            assert copy.getsockname() == reserved.getsockname()
            assert copy.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert copy.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            copy.close()
    finally:
        reserved.close()


def _tcp_table() -> list[list[str]]:
    rows: list[list[str]] = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            rows += [line.split() for line in list(f)[1:]]
    return rows


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def _listeners(port: int) -> int:
    return sum(1 for r in _tcp_table() if _port(r[1]) == port and r[3] == "0A")  # 0A: LISTEN


def _server_inode(port: int, client_port: int) -> str | None:
    for r in _tcp_table():
        if _port(r[1]) == port and _port(r[2]) == client_port and r[3] == "01":  # 01: ESTABLISHED
            return r[9]
    return None


def _owner(inode: str, pids: list[int]) -> int | None:
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def test_two_workers_listen_separately_and_both_get_connections(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "sockets.db")
    with migrated_store(url):
        pass
    proc, base = start_server(url, "--workers", "2")
    try:
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while _listeners(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _listeners(port) == 2, "each worker listens on a socket of its own"

        # 16 keep-alive clients connect at once (as a load generator or a proxy's pool does), then each
        # sends a request; which worker process holds the server side of each connection?
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            for c in clients:
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            workers = child_pids(proc.pid)
            owners = set()
            for c in clients:
                inode = _server_inode(port, c.getsockname()[1])
                assert inode is not None
                owners.add(_owner(inode, workers))
        finally:
            for c in clients:
                c.close()
        assert None not in owners
        assert len(owners) == 2, f"all 16 connections went to one worker ({owners})"
    finally:
        stop_server(proc)


#: Put on PYTHONPATH, this makes every process that ``multiprocessing`` spawns (uvicorn's workers) take
#: 8 s to start, as a busy machine can: longer than uvicorn's default 5 s health ping.
SLOW_WORKER_START = """
import sys, time
if "--multiprocessing-fork" in sys.orig_argv:
    time.sleep(8)
"""


def test_workers_slow_to_start_are_not_killed_by_the_supervisor(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "slow.db")
    with migrated_store(url):
        pass
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_WORKER_START)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    proc, base = start_server(
        url, "--workers", "2", "--log-level", "info", env={"PYTHONPATH": path}, capture=True
    )
    try:
        workers = child_pids(proc.pid)
        for _ in range(8):
            r = httpx.get(base + "/healthz", headers={"Connection": "close"}, timeout=30)
            assert r.status_code == 200
        assert set(workers) <= set(child_pids(proc.pid)), "no worker was replaced"
    finally:
        stop_server(proc)
    assert proc.stdout is not None
    output = proc.stdout.read()
    assert "died" not in output, output


def test_killing_a_server_kills_its_workers(tmp_path: Path) -> None:
    """The test fixtures SIGKILL a supervisor's whole process group: no worker is left behind."""
    url = sqlite_url(tmp_path, "kill.db")
    with migrated_store(url):
        pass
    proc, _base = start_server(url, "--workers", "2")
    workers = child_pids(proc.pid)
    assert len(workers) >= 2
    # A SIGKILLed supervisor cannot remove its metrics directory: the test does.
    environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
    prefix = b"PROMETHEUS_MULTIPROC_DIR="
    metrics_dirs = [e.removeprefix(prefix).decode() for e in environ if e.startswith(prefix)]
    kill_server(proc)
    for leftover in metrics_dirs:
        shutil.rmtree(leftover, ignore_errors=True)
    deadline = time.monotonic() + 60  # a hang guard: SIGKILLed orphans are reaped by init
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _running(pid)]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
