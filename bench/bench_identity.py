"""Identity benchmark: what keys and the audit log cost.

    .venv/bin/python bench/bench_identity.py [--db sqlite|postgresql|both] [--writes 1500] [--checks 200000]

1. Key checks per second, one thread: ``ApiKeys.cached`` (the List hot path: SHA-256, dict lookup,
   constant-time compare, expiry check), ``ApiKeys.check`` on a cache hit, and ``ApiKeys.check`` with the
   cache off (a database read per check, what a key costs every ``KEY_CACHE_SECONDS`` per process).
2. The audit write: ``Store.create_model`` and ``Store.update_model`` with and without an audit entry in
   the transaction, in pairs (one of each, in alternating order) so that the machine's load drifts
   equally over both; the median per write and the overhead in percent (the rule: at most 10%).
3. The identity middleware's own CPU per write request (audit context, response wrapper), around an
   ASGI app that answers at once, against that app alone.

Results: a table on stdout and ``bench/results/identity.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelyard.api.auditing import IdentityMiddleware
from modelyard.api.ratelimit import BadKeyThrottle
from modelyard.store import audit
from modelyard.store.engine import make_engine
from modelyard.store.keys import ApiKeys
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store

PG = os.environ.get("MODELYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).resolve().parent / "results" / "identity.json"


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="modelyard-bench-identity-") as d:
            yield f"sqlite:///{d}/bench.db"
        return
    name = f"modelyard_bench_identity_{secrets.token_hex(4)}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rate(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def key_checks(store: Store, key: str, n: int) -> dict[str, float]:
    cache = ApiKeys(store.database, ttl=3600)
    assert cache.check(key) is not None
    uncached = ApiKeys(store.database, ttl=0)
    return {
        "cached_per_s": rate(lambda: cache.cached(key), n),
        "check_hit_per_s": rate(lambda: cache.check(key), n),
        "check_database_per_s": rate(lambda: uncached.check(key), max(200, n // 200)),
    }


def audit_cost(store: Store, account: str, writes: int) -> dict[str, Any]:
    plain: dict[str, list[float]] = {"create": [], "update": []}
    audited: dict[str, list[float]] = {"create": [], "update": []}
    round_size = 25

    def one(kind: str, model_id: str, with_audit: bool, into: dict[str, list[float]]) -> None:
        token = None
        if with_audit:
            ctx = audit.AuditContext(account, "CreateModel", f"accounts/{account}/models/{model_id}")
            ctx.principal, ctx.api_key_id, ctx.request_id = "bench@example.com", "0123456789abcdef", "r" * 32
            token = audit.current.set(ctx)
        started = time.perf_counter()
        if kind == "create":
            store.create_model(account, model_id, {"kind": "HF_BASE_MODEL", "displayName": model_id})
        else:
            store.update_model(f"accounts/{account}/models/{model_id}", lambda m: {**m, "description": "x"})
        into[kind].append(time.perf_counter() - started)
        if token is not None:
            audit.current.reset(token)

    # Pairs of writes, one with and one without an entry, in alternating order: load drifts cancel out.
    for r in range(writes // (2 * round_size)):
        ids = [f"m-{r}-{i}" for i in range(2 * round_size)]
        for kind in ("create", "update"):
            for i in range(round_size):
                first_audited = (r + i) % 2 == 0
                for j, with_audit in enumerate((first_audited, not first_audited)):
                    one(kind, ids[2 * i + j], with_audit, audited if with_audit else plain)
    out: dict[str, Any] = {}
    for kind in ("create", "update"):
        p, a = statistics.median(plain[kind]), statistics.median(audited[kind])
        out[kind] = {
            "writes": len(plain[kind]) + len(audited[kind]),
            "median_ms_without": round(p * 1000, 3),
            "median_ms_with": round(a * 1000, 3),
            "overhead_pct": round((a / p - 1) * 100, 1),
        }
    return out


def middleware_cost(store: Store, n: int) -> dict[str, float]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ctx = audit.current.get()
        if ctx is not None:
            ctx.recorded = True  # as the store does when it writes the entry with the write
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = IdentityMiddleware(app, store, BadKeyThrottle())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/accounts/bench/models",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "modelyard.request_id": b"r" * 32,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_message: Any) -> None:
        return None

    async def run(target: Any) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await target(dict(scope), receive, send)
        return (time.perf_counter() - started) / n

    bare = asyncio.run(run(app))
    full = asyncio.run(run(wrapped))
    return {
        "us_per_request_bare": round(bare * 1e6, 2),
        "us_added_by_middleware": round((full - bare) * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--writes", type=int, default=1500)
    parser.add_argument("--checks", type=int, default=200_000)
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load": os.getloadavg()}}
    for kind in kinds:
        with database(kind) as url:
            store = Store(make_engine(url))
            upgrade(store.engine)
            _, key, _ = store.users.bootstrap_key("bench")
            checks = key_checks(store, key, args.checks)
            cost = audit_cost(store, "bench", args.writes)
            results[kind] = {"key_checks": checks, "audit": cost}
            print(f"\n{kind}")
            print(f"  key checks/s from cache (ApiKeys.cached): {checks['cached_per_s']:>12,.0f}")
            print(f"  key checks/s, check() on a cache hit:      {checks['check_hit_per_s']:>12,.0f}")
            print(f"  key checks/s, check() reading the db:      {checks['check_database_per_s']:>12,.0f}")
            for op, c in cost.items():
                print(
                    f"  {op:<6} median {c['median_ms_without']:.3f} ms without audit, "
                    f"{c['median_ms_with']:.3f} ms with: {c['overhead_pct']:+.1f}% ({c['writes']} writes)"
                )
            store.engine.dispose()
    with database("sqlite") as url:
        store = Store(make_engine(url))
        results["middleware"] = middleware_cost(store, 20_000)
        store.engine.dispose()
    print(f"\nmiddleware: {results['middleware']}")
    RESULTS.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
