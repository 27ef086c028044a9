"""List Models benchmark: import speed, page latency, deep pages, full walks, throughput, memory.

    .venv/bin/python bench/bench_list.py --db sqlite|postgresql --models 10000 [100000 1000000]
        [--workers 2] [--duration 20] [--keep]

For each N: a fresh database (SQLite file in a temp dir, or PostgreSQL database ``modelyard_bench_<N>``)
is filled with N models of the synthetic catalog (``bench/catalog.py``) in one account by
``modelyard import FILE.jsonl`` (timed: into an empty database it is a bulk load); then
``modelyard serve --workers 2 --port 0`` runs on the database and is measured over loopback with
keep-alive clients:

(a) first page, default order;   (b) ``display_name = "Qwen*"``;   (c) ``orderBy=update_time desc``;
(d) page 1000 of a 50-per-page walk (re-fetched with its token) against page 1;
(e) a full walk at 200 per page (models/s; cut at ``--walk-limit`` seconds and extrapolated);
(f) requests/s at concurrency 8 for ``--duration`` seconds (a mix of a, b, c; wrk when installed, and
    a threaded httpx generator), and the peak RSS (VmHWM) of each uvicorn worker;
plus the Nagle check (the 2nd request on a kept-alive connection must not take ~40 ms) and the server's
CPU per request (workers, and PostgreSQL's processes) for a, b, c. Last, with the server stopped,
``modelyard import`` of ``--incremental-lines`` more models into the full catalog (batch by batch, every
index maintained per row).

Results: a table on stdout and ``bench/results/<db>-<N>.json``. Every loop is bounded in count and time;
all traffic is loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import ACCOUNT, QWEN_PREFIX, check_canonical, generate, json_line, summary

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("MODELYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LIST_PATH = f"/v1/accounts/{ACCOUNT}/models"
QWEN_FILTER = f'display_name = "{QWEN_PREFIX}*"'

#: The targets for 1M models on PostgreSQL (docs/benchmarks.md).
TARGETS = {
    "import_models_per_s": (">=", 20_000.0),
    "a_first_page_p50_ms": ("<=", 3.0),
    "b_prefix_filter_p50_ms": ("<=", 10.0),
    "c_order_update_desc_p50_ms": ("<=", 10.0),
    "d_deep_page_ratio": ("<=", 1.2),
    "e_walk_models_per_s": (">=", 20_000.0),
    "f_requests_per_s": (">=", 1_500.0),
    "rss_mb_per_worker": ("<=", 250.0),
}


# -- statistics -------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100)."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def summarise_ms(ns: list[int]) -> dict[str, float]:
    ms = [v / 1e6 for v in ns]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


# -- machine ----------------------------------------------------------------------------------------
def machine_info(pg_url: str | None = None) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        m = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        mem_kb = int(m.group(1)) if m else 0
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    with contextlib.suppress(Exception):
        info["git_rev"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        info["git_uncommitted_files"] = len(status.splitlines())
    if pg_url is not None:
        with contextlib.suppress(Exception), psycopg.connect(pg_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = row[0] if row else "?"
            for name in ("shared_buffers", "work_mem", "effective_cache_size"):
                row = conn.execute(f"SHOW {name}").fetchone()
                info[f"pg_{name}"] = row[0] if row else "?"
    return info


# -- databases --------------------------------------------------------------------------------------
@dataclass
class Database:
    url: str
    kind: str
    cleanup: Callable[[], None]


def pg_url_for(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def create_database(kind: str, name: str, tmp: Path) -> Database:
    if kind == "sqlite":
        path = tmp / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)

        def rm() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

        return Database(f"sqlite:///{path}", kind, rm)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return Database(pg_url_for(name), kind, drop)


def open_store(url: str) -> Store:
    store = Store(make_engine(url))
    upgrade(store.engine)
    return store


def populate(store: Store, n: int, *, batch: int = 5000, log: bool = True) -> dict[str, Any]:
    """Insert ``n`` catalog models with ``Store.import_batch``; times the calls only (not generation)."""
    import_ns = 0
    gen_ns = 0
    batch_ms: list[float] = []
    wall = time.perf_counter_ns()
    done = 0
    while done < n:
        count = min(batch, n - done)
        t0 = time.perf_counter_ns()
        items = list(generate(count, start=done))
        t1 = time.perf_counter_ns()
        created, replaced = store.import_batch(ACCOUNT, items, upsert=False)
        t2 = time.perf_counter_ns()
        assert created == count and replaced == 0, (created, replaced)
        gen_ns += t1 - t0
        import_ns += t2 - t1
        batch_ms.append((t2 - t1) / 1e6)
        done += count
        if log and (done % (batch * 20) == 0 or done == n):
            print(f"  imported {done:,}/{n:,} ({done / (import_ns / 1e9):,.0f} models/s)", file=sys.stderr)
    return {
        "models": n,
        "batch_size": batch,
        "import_seconds": round(import_ns / 1e9, 3),
        "models_per_s": round(n / (import_ns / 1e9), 1),
        "generate_seconds": round(gen_ns / 1e9, 3),
        "wall_seconds": round((time.perf_counter_ns() - wall) / 1e9, 3),
        "batch_ms_p50": round(statistics.median(batch_ms), 2),
        "batch_ms_max": round(max(batch_ms), 2),
    }


def after_load(store: Store) -> dict[str, Any]:
    """Refresh planner statistics after the bulk load, as ``modelyard import`` does: ``Store.analyze()``
    when the store has it, else (PostgreSQL) ``VACUUM ANALYZE models``, which autovacuum would soon do."""
    t = time.perf_counter()
    analyze = getattr(store, "analyze", None)
    if callable(analyze):
        analyze()
        how = "Store.analyze()"
    elif store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE models"))
        how = "VACUUM ANALYZE models"
    else:
        return {"analyze": "none"}
    return {"analyze": how, "analyze_seconds": round(time.perf_counter() - t, 2)}


def table_size(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            row = conn.execute(
                text(
                    "SELECT pg_total_relation_size('models'), pg_relation_size('models'), "
                    "pg_indexes_size('models')"
                )
            ).one()
            return {"total_mb": row[0] >> 20, "heap_mb": row[1] >> 20, "indexes_mb": row[2] >> 20}
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        size = conn.execute(text("PRAGMA page_size")).scalar_one()
        return {"total_mb": (pages * size) >> 20}


def write_catalog(path: Path, count: int, start: int = 0) -> float:
    """``count`` catalog models as a ``modelyard import`` file; returns the seconds it took."""
    t = time.perf_counter()
    with open(path, "wb") as f:
        for model_id, resource in generate(count, start=start):
            f.write(json_line(model_id, resource) + b"\n")
    return time.perf_counter() - t


def cli_import(db_url: str, path: Path, lines: int, *options: str) -> dict[str, Any]:
    """Wall time of ``modelyard import FILE.jsonl --account bench`` (what a user runs: a new process,
    schema check, decoding, loading, and the VACUUM ANALYZE the command runs at the end)."""
    cmd = [sys.executable, "-m", "modelyard.cli", "import", str(path), "--account", ACCOUNT, "--db", db_url]
    cmd += list(options)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    seconds = time.perf_counter() - t
    said = " ".join(proc.stderr.split())
    if proc.returncode != 0:
        raise RuntimeError(f"modelyard import failed ({proc.returncode}): {said[-2000:]}")
    m = re.search(r"Imported (\d+) new and (\d+) replaced", said)
    if m is None or int(m.group(1)) != lines:
        raise RuntimeError(f"modelyard import did not import {lines} models: {said[-500:]}")
    return {
        "lines": lines,
        "options": list(options),
        "bulk_load": "bulk load into the empty catalog" in said,
        "seconds": round(seconds, 2),
        "models_per_s": round(lines / seconds, 1),
        "message": said[said.find("Imported") :],
    }


# -- the server -------------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[str]
    base: str
    output: list[str] = field(default_factory=list)

    def workers(self) -> list[int]:
        """The uvicorn worker processes (the server itself when it runs one worker)."""
        found = []
        for child in _children(self.proc.pid):
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                if b"spawn_main" in cmd:
                    found.append(child)
        return found or [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(x) for x in (task / "children").read_text().split()]
    return out


def start_server(db_url: str, workers: int, *, timeout: float = 120) -> Server:
    """``modelyard serve --port 0 --workers W`` as a subprocess, once it answers /healthz."""
    cmd = [sys.executable, "-m", "modelyard.cli", "serve", "--db", db_url, "--port", "0"]
    cmd += ["--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    base = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            base = m.group(1)
            break
    if base is None:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(lines))
    server = Server(proc, base, lines)
    stdout = proc.stdout

    def drain() -> None:
        for line in stdout:
            server.output.append(line)
            del server.output[:-200]

    threading.Thread(target=drain, daemon=True).start()
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("server never became healthy:\n" + "".join(server.output))


def proc_cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
    return pids


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def _tree(pid: int) -> list[int]:
    out = [pid]
    for child in _children(pid):
        out += _tree(child)
    return out


class CpuWatch:
    """CPU used (in cores) by everything, by this process tree, and by PostgreSQL, over an interval: what
    other people's processes take from a shared machine shows up as ``others_cores``."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.t = time.monotonic()
        self.busy = _busy_jiffies()[0]
        self.mine = proc_cpu_seconds(_tree(os.getpid()))
        self.pg = proc_cpu_seconds(postgres_pids())

    def read(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.t
        tick = os.sysconf("SC_CLK_TCK")
        busy = (_busy_jiffies()[0] - self.busy) / tick / elapsed
        mine = (proc_cpu_seconds(_tree(os.getpid())) - self.mine) / elapsed
        pg = (proc_cpu_seconds(postgres_pids()) - self.pg) / elapsed
        return {
            "busy_cores": round(busy, 2),
            "bench_tree_cores": round(mine, 2),
            "postgres_cores": round(pg, 2),
            "others_cores": round(max(0.0, busy - mine - pg), 2),
        }


def wait_quiet(max_wait: float, threshold: float = 0.2) -> dict[str, float]:
    """Wait (at most ``max_wait`` s) until the machine's CPUs are nearly idle; returns the last reading."""
    start = time.monotonic()
    while True:
        w = CpuWatch()
        time.sleep(2.0)
        reading = w.read()
        if reading["busy_cores"] <= threshold or time.monotonic() - start > max_wait:
            reading["waited_s"] = round(time.monotonic() - start, 1)
            return reading
        print(f"  machine busy ({reading['busy_cores']} cores in use); waiting", file=sys.stderr)


def rss(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


# -- HTTP measurements ------------------------------------------------------------------------------
def client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def get(c: httpx.Client, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    t = time.perf_counter_ns()
    r = c.get(LIST_PATH, params=params)
    content = r.content
    ns = time.perf_counter_ns() - t
    if r.status_code != 200:
        raise RuntimeError(f"GET {LIST_PATH} {params} -> {r.status_code}: {r.text[:500]}")
    body: dict[str, Any] = orjson.loads(content)
    return ns, body


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The client's garbage collector off while timing (a gen-2 pass can stall the client ~50 ms)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def measure(c: httpx.Client, params: dict[str, str], reps: int, *, max_seconds: float = 120) -> list[int]:
    out = []
    deadline = time.monotonic() + max_seconds
    with no_gc():
        for _ in range(reps):
            ns, _ = get(c, params)
            out.append(ns)
            if time.monotonic() > deadline:
                break
    return out


def latency_figure(
    c: httpx.Client, params: dict[str, str], reps: int, workers: list[int], pg: bool
) -> dict[str, Any]:
    """Latency of ``params`` (first request, then ``reps`` warm ones) and the CPU it costs."""
    first_ns, body = get(c, params)
    for _ in range(20):  # warm both workers' caches (connections land on either)
        get(c, params)
    pg_pids = postgres_pids() if pg else []
    cpu0 = proc_cpu_seconds(workers)
    pg0 = proc_cpu_seconds(pg_pids)
    me0 = time.process_time()
    ns = measure(c, params, reps)
    res: dict[str, Any] = dict(summarise_ms(ns))
    res["cpu_ms_per_request_server"] = round((proc_cpu_seconds(workers) - cpu0) * 1000 / len(ns), 3)
    if pg:
        res["cpu_ms_per_request_postgres"] = round((proc_cpu_seconds(pg_pids) - pg0) * 1000 / len(ns), 3)
    res["cpu_ms_per_request_client"] = round((time.process_time() - me0) * 1000 / len(ns), 3)
    res["first_request_ms"] = round(first_ns / 1e6, 3)
    res["returned"] = len(body.get("models", []))
    res["total_size"] = body.get("totalSize")
    return res


def new_connection_figure(base: str, key: str, params: dict[str, str], reps: int) -> dict[str, Any]:
    ns = []
    for _ in range(reps):
        with client(base, key) as c:
            t, _ = get(c, params)
            ns.append(t)
    return summarise_ms(ns)


def nagle_check(base: str, key: str) -> dict[str, Any]:
    """Latencies of requests 1..31 on one kept-alive connection (delayed-ACK stalls show as ~40 ms)."""
    out: dict[str, Any] = {}
    for label, params in (("first_page", {}), ("order_update_desc", {"orderBy": "update_time desc"})):
        with client(base, key) as c:
            ports = set()
            ns = []
            for _ in range(31):
                t = time.perf_counter_ns()
                r = c.get(LIST_PATH, params=params)
                r.read()
                ns.append(time.perf_counter_ns() - t)
                stream = r.extensions.get("network_stream")
                if stream is not None:
                    addr = stream.get_extra_info("client_addr")
                    if addr:
                        ports.add(addr[1])
            later = [v / 1e6 for v in ns[1:]]
            p50 = statistics.median(later)
            out[label] = {
                "first_ms": round(ns[0] / 1e6, 3),
                "second_ms": round(ns[1] / 1e6, 3),
                "later_p50_ms": round(p50, 3),
                "later_max_ms": round(max(later), 3),
                # a delayed-ACK stall adds ~40 ms to a request: count those 30 ms above the median
                "stalls": sum(v > p50 + 30 for v in later),
                "connections_used": len(ports) or None,
            }
    out["ok"] = all(v["stalls"] == 0 for v in out.values() if isinstance(v, dict))
    return out


def deep_page(c: httpx.Client, n: int, reps: int, target_page: int = 1000) -> dict[str, Any]:
    """Walk to page ``target_page`` at 50 per page, then time its token against page 1."""
    pages = min(target_page, max(1, math.ceil(n / 50) - 1))
    token = ""
    walk_ns = []
    for _ in range(pages - 1):
        ns, body = get(c, {"pageSize": "50", **({"pageToken": token} if token else {})})
        walk_ns.append(ns)
        token = body.get("nextPageToken", "")
        if not token:
            break
    deep = {"pageSize": "50", "pageToken": token}
    first = {"pageSize": "50"}
    for _ in range(10):
        get(c, first)
        get(c, deep)
    # Interleaved (page 1, page N, page 1, ...), so that drift of the machine's speed over the run
    # affects both figures alike (two blocks one after the other gave ratios from 0.67 to 1.54).
    a: list[int] = []
    b: list[int] = []
    deadline = time.monotonic() + 120
    with no_gc():
        for _ in range(reps):
            a.append(get(c, first)[0])
            b.append(get(c, deep)[0])
            if time.monotonic() > deadline:
                break
    _, body = get(c, deep)
    first_names = [m["name"] for m in get(c, first)[1]["models"]]
    res: dict[str, Any] = {
        "page": pages,
        "page1": summarise_ms(a),
        "deep": summarise_ms(b),
        "ratio_p50": round(statistics.median(b) / statistics.median(a), 3),
        "deep_page_distinct_from_page1": not set(first_names) & {m["name"] for m in body["models"]},
    }
    if len(walk_ns) >= 200:
        res["walk_first100_p50_ms"] = round(statistics.median(walk_ns[:100]) / 1e6, 3)
        res["walk_last100_p50_ms"] = round(statistics.median(walk_ns[-100:]) / 1e6, 3)
    return res


def full_walk(c: httpx.Client, n: int, limit_s: float) -> dict[str, Any]:
    """Every model at 200 per page (cut after ``limit_s`` seconds and extrapolated)."""
    seen: set[str] = set()
    token = ""
    pages = 0
    page_ns = []
    t0 = time.perf_counter()
    complete = False
    while True:
        ns, body = get(c, {"pageSize": "200", **({"pageToken": token} if token else {})})
        page_ns.append(ns)
        pages += 1
        for m in body.get("models", []):
            seen.add(m["name"])
        token = body.get("nextPageToken", "")
        if not token:
            complete = True
            break
        if time.perf_counter() - t0 > limit_s:
            break
    seconds = time.perf_counter() - t0
    rate = len(seen) / seconds
    res: dict[str, Any] = {
        "complete": complete,
        "pages": pages,
        "models": len(seen),
        "seconds": round(seconds, 2),
        "models_per_s": round(rate, 1),
        "page_p50_ms": round(statistics.median(page_ns) / 1e6, 3),
        "page_p99_ms": round(percentile([v / 1e6 for v in page_ns], 99), 3),
    }
    if complete:
        res["all_models_once"] = len(seen) == n
    else:
        res["extrapolated_seconds_for_all"] = round(n / rate, 1)
    return res


Mix = tuple[dict[str, str], ...]
MIX: Mix = ({}, {"filter": QWEN_FILTER}, {"orderBy": "update_time desc"})
#: (a) and (c) only: what throughput would be without the prefix filter (diagnostic, not a target).
MIX_AC: Mix = ({}, {"orderBy": "update_time desc"})


def load_httpx(base: str, key: str, concurrency: int, duration: float, mix: Mix = MIX) -> dict[str, Any]:
    """``concurrency`` threads, each with its own keep-alive client, cycling through ``mix``."""
    stop_at = time.perf_counter() + duration
    max_requests = int(duration * 20_000)  # a hard bound per thread, whatever happens
    lat: list[list[int]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def run(i: int) -> None:
        with client(base, key) as c:
            k = i
            while time.perf_counter() < stop_at and len(lat[i]) < max_requests:
                params = mix[k % len(mix)]
                k += 1
                t = time.perf_counter_ns()
                r = c.get(LIST_PATH, params=params)
                r.read()
                lat[i].append(time.perf_counter_ns() - t)
                if r.status_code != 200:
                    errors[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    with no_gc():
        t0 = time.perf_counter()
        me0 = time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 120)
        elapsed = time.perf_counter() - t0
    all_ns = [v for x in lat for v in x]
    return {
        "generator": "httpx threads",
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "requests": len(all_ns),
        "errors": sum(errors),
        "requests_per_s": round(len(all_ns) / elapsed, 1),
        "client_cpu_share": round((time.process_time() - me0) / elapsed, 2),
        **summarise_ms(all_ns),
    }


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def load_wrk(
    base: str, key: str, concurrency: int, duration: float, tmp: Path, mix: Mix = MIX
) -> dict[str, Any]:
    """wrk (one thread, ``concurrency`` keep-alive connections) cycling through ``mix``."""
    paths = [str(httpx.URL(LIST_PATH, params=p)) for p in mix]
    script = tmp / "mix.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(duration)}s", "--latency", "--timeout", "10s"]
    cmd += ["-H", f"Authorization: Bearer {key}", "-s", str(script), base]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    outp = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr}")

    def ms(label: str) -> float | None:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", outp, re.M)
        if not m:
            return None
        return round(float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)], 3)

    rps = re.search(r"Requests/sec:\s+([\d.]+)", outp)
    total = re.search(r"(\d+) requests in", outp)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", outp)
    return {
        "generator": "wrk -t1",
        "concurrency": concurrency,
        "seconds": duration,
        "requests": int(total.group(1)) if total else None,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "requests_per_s": float(rps.group(1)) if rps else None,
        "p50_ms": ms("50"),
        "p90_ms": ms("90"),
        "p99_ms": ms("99"),
        "raw": outp,
    }


# -- one run ----------------------------------------------------------------------------------------
def run_one(args: argparse.Namespace, n: int, tmp: Path) -> dict[str, Any]:
    kind = args.db
    print(f"== {kind}, {n:,} models", file=sys.stderr)
    result: dict[str, Any] = {
        "db": kind,
        "models": n,
        "workers": args.workers,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(PG_ADMIN if kind == "postgresql" else None),
        "catalog": summary(min(n, 20_000)),
    }
    db = create_database(kind, f"modelyard_bench_{n}", tmp)
    server: Server | None = None
    try:
        store = open_store(db.url)
        cpu: dict[str, Any] = {"before_import": wait_quiet(args.quiet_wait)}
        result["cpu"] = cpu
        catalog = tmp / f"catalog-{n}.jsonl"
        generated = write_catalog(catalog, n)
        print(f"  modelyard import of {n:,} lines into the empty database", file=sys.stderr)
        watch = CpuWatch()
        result["import"] = cli_import(db.url, catalog, n, "--batch-size", str(args.batch))
        result["import"]["generate_seconds"] = round(generated, 2)
        cpu["import"] = watch.read()
        catalog.unlink()
        result["table"] = table_size(store)
        key = store.create_api_key(ACCOUNT, "bench")
        store.engine.dispose()
        server = start_server(db.url, args.workers)
        result["git_rev_at_server_start"] = machine_info().get("git_rev")
        workers = server.workers()
        result["worker_pids"] = len(workers)
        pg = kind == "postgresql"
        cpu["before_latency"] = wait_quiet(args.quiet_wait)
        watch = CpuWatch()
        with client(server.base, key) as c:
            print("  latency (a) (b) (c)", file=sys.stderr)
            lat = result["latency"] = {}
            lat["a_first_page"] = latency_figure(c, {}, args.reps, workers, pg)
            lat["b_prefix_filter"] = latency_figure(c, {"filter": QWEN_FILTER}, args.reps, workers, pg)
            lat["c_order_update_desc"] = latency_figure(
                c, {"orderBy": "update_time desc"}, args.reps, workers, pg
            )
            lat["a_first_page_new_connection"] = new_connection_figure(server.base, key, {}, 100)
            result["nagle"] = nagle_check(server.base, key)
            print("  (d) deep page", file=sys.stderr)
            result["deep_page"] = deep_page(c, n, args.reps)
            print("  (e) full walk", file=sys.stderr)
            result["walk"] = full_walk(c, n, args.walk_limit)
        cpu["latency_deep_walk"] = watch.read()
        print(f"  (f) throughput, concurrency {args.concurrency}", file=sys.stderr)
        loads: list[dict[str, Any]] = []
        use_wrk = args.loadgen in ("wrk", "both") or (args.loadgen == "auto" and shutil.which("wrk"))
        if use_wrk and shutil.which("wrk"):
            # The VM's speed drifts by +-15% from one 20 s window to the next: report the median run.
            runs = []
            for _ in range(max(1, args.f_runs)):
                cpu["before_wrk"] = wait_quiet(args.quiet_wait)
                watch = CpuWatch()
                runs.append(load_wrk(server.base, key, args.concurrency, args.duration, tmp))
                runs[-1]["cpu"] = watch.read()
            runs.sort(key=lambda r: float(r.get("requests_per_s") or 0))
            median = dict(runs[len(runs) // 2])
            median["runs_requests_per_s"] = [r.get("requests_per_s") for r in runs]
            loads.append(median)
        if args.loadgen in ("httpx", "both") or not loads:
            cpu["before_httpx"] = wait_quiet(args.quiet_wait)
            watch = CpuWatch()
            loads.append(load_httpx(server.base, key, args.concurrency, args.duration))
            loads[-1]["cpu"] = watch.read()
        result["throughput"] = loads
        if args.mix_ac and shutil.which("wrk"):
            cpu["before_wrk_ac"] = wait_quiet(args.quiet_wait)
            watch = CpuWatch()
            extra = load_wrk(server.base, key, args.concurrency, args.duration, tmp, MIX_AC)
            extra["cpu"] = watch.read()
            extra["mix"] = "a+c (diagnostic)"
            result["throughput_ac_only"] = extra
        result["rss_mb"] = {str(pid): rss(pid) for pid in workers}
        server.stop()
        server = None
        if args.incremental_lines:
            more = args.incremental_lines
            print(f"  modelyard import of {more:,} more lines into the {n:,} models", file=sys.stderr)
            catalog = tmp / f"catalog-more-{n}.jsonl"
            write_catalog(catalog, more, start=n)
            cpu["before_incremental_import"] = wait_quiet(args.quiet_wait)
            result["incremental_import"] = cli_import(db.url, catalog, more, "--batch-size", str(args.batch))
            catalog.unlink()
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"  kept database {db.url}", file=sys.stderr)
        else:
            db.cleanup()
    result["targets"] = check_targets(result)
    return result


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    lat = result["latency"]
    rps = [x["requests_per_s"] for x in result["throughput"] if x.get("requests_per_s")]
    return {
        "import_models_per_s": result["import"]["models_per_s"],
        "a_first_page_p50_ms": lat["a_first_page"]["p50_ms"],
        "b_prefix_filter_p50_ms": lat["b_prefix_filter"]["p50_ms"],
        "c_order_update_desc_p50_ms": lat["c_order_update_desc"]["p50_ms"],
        "d_deep_page_ratio": result["deep_page"]["ratio_p50"],
        "e_walk_models_per_s": result["walk"]["models_per_s"],
        "f_requests_per_s": max(rps) if rps else None,
        "rss_mb_per_worker": max((v.get("VmHWM", 0.0) for v in result["rss_mb"].values()), default=None),
    }


def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in headline(result).items():
        op, target = TARGETS[name]
        met = value is not None and (value >= target if op == ">=" else value <= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "met": met}
    return out


def print_table(result: dict[str, Any]) -> None:
    lat = result["latency"]
    rows: list[tuple[str, str]] = []

    def add(label: str, value: str) -> None:
        rows.append((label, value))

    imp = result["import"]
    how = "bulk load" if imp["bulk_load"] else "batches"
    add(
        f"modelyard import, {imp['lines']:,} lines, empty database ({how})",
        f"{imp['models_per_s']:,.0f} models/s ({imp['seconds']} s)",
    )
    if "incremental_import" in result:
        inc = result["incremental_import"]
        add(
            f"modelyard import, {inc['lines']:,} more lines (batches)",
            f"{inc['models_per_s']:,.0f} models/s ({inc['seconds']} s)",
        )
    for key, label in (
        ("a_first_page", "(a) first page"),
        ("b_prefix_filter", f"(b) {QWEN_FILTER}"),
        ("c_order_update_desc", "(c) orderBy=update_time desc"),
    ):
        x = lat[key]
        cpu = f"srv {x['cpu_ms_per_request_server']} ms"
        if "cpu_ms_per_request_postgres" in x:
            cpu += f", pg {x['cpu_ms_per_request_postgres']} ms"
        add(label, f"p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms (CPU/req {cpu}; totalSize {x['total_size']})")
    x = lat["a_first_page_new_connection"]
    add("(a') first page, new connection", f"p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms")
    d = result["deep_page"]
    add(
        f"(d) page {d['page']} vs page 1 (50/page)",
        f"{d['deep']['p50_ms']} vs {d['page1']['p50_ms']} ms p50, ratio {d['ratio_p50']}",
    )
    w = result["walk"]
    extra = "" if w["complete"] else f" (cut; all in ~{w['extrapolated_seconds_for_all']} s)"
    add("(e) full walk 200/page", f"{w['models_per_s']:,.0f} models/s, {w['seconds']} s{extra}")
    for t in result["throughput"]:
        add(
            f"(f) {t['generator']}, c={t['concurrency']}",
            f"{t['requests_per_s']} req/s, p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, errors {t['errors']}"
            f" (CPU: pg {t['cpu']['postgres_cores']}, others {t['cpu']['others_cores']} cores)"
            + (f"; median of {t['runs_requests_per_s']}" if "runs_requests_per_s" in t else ""),
        )
    if "throughput_ac_only" in result:
        t = result["throughput_ac_only"]
        add(
            "(f') wrk, (a)+(c) only (diagnostic)",
            f"{t['requests_per_s']} req/s, p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, errors {t['errors']}"
            f" (CPU: pg {t['cpu']['postgres_cores']}, others {t['cpu']['others_cores']} cores)",
        )
    for pid, mem in result["rss_mb"].items():
        add(f"worker {pid} memory", f"VmHWM {mem.get('VmHWM')} MB, VmRSS {mem.get('VmRSS')} MB")
    ng = result["nagle"]
    add(
        "Nagle check (2nd request on kept-alive conn)",
        f"{ng['first_page']['second_ms']} ms; later p50 {ng['first_page']['later_p50_ms']} ms; "
        f"{'ok' if ng['ok'] else 'STALLS'}",
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n{result['db']}, {result['models']:,} models, {result['workers']} workers")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print("  targets (defined for 1M on PostgreSQL):")
    for name, t in result["targets"].items():
        print(f"    {name:<28} {t['value']!s:>10}  {t['target']:<10} {'met' if t['met'] else 'NOT MET'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--models", type=int, nargs="+", default=[10_000])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of the throughput test (f)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--f-runs", type=int, default=3, help="wrk runs of (f); the median is reported")
    p.add_argument("--reps", type=int, default=300, help="requests per latency figure")
    p.add_argument("--batch", type=int, default=5000, help="--batch-size of the imports")
    p.add_argument(
        "--incremental-lines",
        type=int,
        default=20_000,
        help="lines imported into the full catalog at the end (0 skips it)",
    )
    p.add_argument("--walk-limit", type=float, default=600.0, help="seconds before (e) is cut")
    p.add_argument("--loadgen", choices=("auto", "wrk", "httpx", "both"), default="both")
    p.add_argument(
        "--mix-ac",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure throughput with (a)+(c) only (wrk; a diagnostic, not a target)",
    )
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument(
        "--quiet-wait", type=float, default=300.0, help="max seconds to wait for an idle machine per phase"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.db == "postgresql":
        try:
            with psycopg.connect(PG_ADMIN, connect_timeout=3):
                pass
        except Exception as e:
            print(f"PostgreSQL unreachable at {PG_ADMIN}: {e}", file=sys.stderr)
            return 2
    check_canonical(300)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as d:
        for n in args.models:
            result = run_one(args, n, Path(d))
            path = args.out / f"{args.db}-{n}.json"
            path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
            print_table(result)
            print(f"  saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
