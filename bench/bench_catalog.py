"""Catalog page latency at N models on SQLite (default 100,000): ``modelyard serve`` answering /catalog
views and a model page over loopback (httpx, keep-alive), printed as p50 / p99 milliseconds.

Each view is measured twice:

* **warm**: the same page again and again (the total and the facet counts come from their caches,
  keyed by the data version; the page itself is read each time);
* **after a write**: a model is updated before each request, so the data version changes and the total
  and every facet count are computed again (the first view after any write pays this once).

Views are measured for an anonymous visitor (every public model, across accounts) and for the key of
the account holding the N models (``?account=bench``: all of them). Results go to
``bench/results/catalog.json``.

    .venv/bin/python bench/bench_catalog.py [--models 100000] [--reps 60]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from html import unescape
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.catalog import ACCOUNT, generate
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.server import start_server, stop_server

VIEWS = {
    "default": "",
    "search qwen 7b": "q=qwen+7b",
    "kind + capability": "kind=HF_BASE_MODEL&cap=tools",
    "ranges": "params=10b-40b&ctx=128k-256k",
    "recently updated": "sort=updated",
    "largest": "sort=largest",
    "advanced filter": "filter=context_length+%3E%3D+131072+AND+NOT+supports_lora",
}


def summarise(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 2), "p99": round(p99, 2), "n": len(ordered)}


def timed(client: httpx.Client, url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    resp = client.get(url)
    elapsed = (time.perf_counter() - t0) * 1000
    assert resp.status_code == 200, (url, resp.status_code, resp.text[-500:])
    return elapsed, resp.text


def populate(store: Store, n: int) -> float:
    t0 = time.perf_counter()
    done = 0
    while done < n:
        count = min(10_000, n - done)
        store.import_batch(ACCOUNT, list(generate(count, start=done)), upsert=False)
        done += count
    store.analyze()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--write-reps", type=int, default=15)
    args = parser.parse_args()
    results: dict[str, Any] = {"models": args.models, "database": "sqlite", "views": {}}
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-catalog-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'catalog.db'}"
        store = Store(make_engine(url))
        upgrade(store.engine)
        seconds = populate(store, args.models)
        key = store.create_api_key(ACCOUNT, "bench")
        print(f"loaded {args.models:,} models in {seconds:.1f} s", file=sys.stderr)
        proc, base = start_server(url)
        try:
            keyed = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
            anonymous = httpx.Client(base_url=base, timeout=60)
            first_id = next(generate(1))[0]
            writes = 0

            def write() -> None:
                nonlocal writes
                writes += 1
                store.update_model(
                    f"accounts/{ACCOUNT}/models/{first_id}", lambda m: {**m, "description": f"edit {writes}"}
                )

            for who, client, prefix in (
                ("anonymous", anonymous, "/catalog?"),
                ("key", keyed, f"/catalog?account={ACCOUNT}&"),
            ):
                for label, query in VIEWS.items():
                    page_url = prefix + query
                    _, text = timed(client, page_url)
                    total = re.search(r"of ([\d,]+) models?", text)
                    warm = [timed(client, page_url)[0] for _ in range(args.reps)]
                    cold = []
                    for _ in range(args.write_reps):
                        write()
                        cold.append(timed(client, page_url)[0])
                    nxt = re.search(r'rel="next" href="([^"]+)"', text)
                    page2 = (
                        [timed(client, unescape(nxt.group(1)))[0] for _ in range(args.reps // 2)]
                        if nxt
                        else []
                    )
                    row = {
                        "matches": total.group(1) if total else "0",
                        "warm_ms": summarise(warm),
                        "after_write_ms": summarise(cold),
                        "page_2_ms": summarise(page2) if page2 else None,
                    }
                    results["views"][f"{who}: {label}"] = row
                    warm_ms, cold_ms = row["warm_ms"], row["after_write_ms"]
                    print(
                        f"{who:9} {label:18} matches {row['matches']:>7}  "
                        f"warm p50 {warm_ms['p50']:6.1f} p99 {warm_ms['p99']:6.1f}  "
                        f"after a write p50 {cold_ms['p50']:6.1f} p99 {cold_ms['p99']:6.1f}"
                        + (f"  page 2 p50 {row['page_2_ms']['p50']:6.1f}" if page2 else ""),
                        flush=True,
                    )
            model_url = f"/catalog/accounts/{ACCOUNT}/models/{first_id}"
            model_ms = [timed(keyed, model_url)[0] for _ in range(args.reps)]
            results["model_page_ms"] = summarise(model_ms)
            model_page = results["model_page_ms"]
            print(f"model page p50 {model_page['p50']:.1f} p99 {model_page['p99']:.1f}")
        finally:
            stop_server(proc)
            store.engine.dispose()
    out = Path(__file__).parent / "results" / "catalog.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
