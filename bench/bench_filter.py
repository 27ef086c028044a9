"""Filter benchmark: the cost of parsing, checking and compiling AIP-160 filters, and list latency with
a filter on 100k models in SQLite.

    .venv/bin/python bench/bench_filter.py [--models 100000] [--iterations 20000] [--workers 2]

Part 1 (no database): median and p99 (``time.perf_counter_ns``) of

* ``parse``, ``check``, and ``compile_filter`` (parse + check) with its LRU cache cleared first;
* ``FilterCompiler(dialect).compile`` (checked query -> SQLAlchemy condition, uncached), per dialect;
* the whole uncached path (parse + check + SQL compile), the target being < 200 us for a typical filter;
* what every request still pays when both caches hit: ``compile_filter`` + ``compile_query`` lookups, and
  SQLAlchemy's statement cache key for the full page query (computed on every execution);
* rendering the page query to SQL text (what SQLAlchemy does on a compiled-cache miss);

for a typical filter, a prefix filter and a ~2 KiB filter of many ANDed/ORed restrictions.

Part 2: N models (``bench/catalog.py``) in a temporary SQLite file via ``Store.import_batch``; each filter
timed through ``Store.list_models`` directly and through HTTP (``modelyard serve``, keep-alive client).

Results: a table on stdout and ``bench/results/filter.json``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_list import (
    RESULTS,
    ROOT,
    CpuWatch,
    after_load,
    client,
    create_database,
    get,
    machine_info,
    open_store,
    percentile,
    populate,
    start_server,
    wait_quiet,
)
from catalog import ACCOUNT, QWEN_PREFIX

from modelyard.aip import filtering
from modelyard.aip.filtering.query import CheckedFilter, Query
from modelyard.api.models import DEFAULT_ORDER
from modelyard.resources.model import MODEL_FILTER_SCHEMA
from modelyard.store.filters import FilterCompiler, compile_query
from modelyard.store.planner import Scope
from modelyard.store.repository import Store
from modelyard.store.tables import SCALARS_BY_PATH, models

TYPICAL = (
    "supports_serverless = true AND kind = HF_BASE_MODEL AND base_model_details.parameter_count > 7000000000"
)
PREFIX = f'display_name = "{QWEN_PREFIX}*"'


def large_filter(target_bytes: int = 2048) -> str:
    """About ``target_bytes`` of ORed groups of ANDed restrictions (strings, enums, numbers, times)."""
    families = ("Qwen", "Llama", "Mistral", "Gemma", "DeepSeek", "Phi", "Mixtral", "Code Llama", "Yi")
    kinds = ("HF_PEFT_ADDON", "HF_BASE_MODEL", "CUSTOM_MODEL", "DRAFT_ADDON")
    groups: list[str] = []
    i = 0
    tail = ') AND state = READY AND NOT description:"deprecated"'
    while True:
        fam = families[i % len(families)]
        group = (
            f'(display_name = "{fam}*" AND kind = {kinds[i % len(kinds)]} '
            f"AND context_length >= {4096 << (i % 5)} "
            f'AND update_time > timestamp("2025-{1 + i % 12:02d}-01T00:00:00Z"))'
        )
        candidate = "(" + " OR ".join([*groups, group]) + tail
        if len(candidate.encode()) > target_bytes:
            break
        groups.append(group)
        i += 1
    return "(" + " OR ".join(groups) + tail


LARGE = large_filter()
DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
}
FILTERS = {"typical": TYPICAL, "prefix": PREFIX, "large_2KiB": LARGE}


def timeit(fn: Callable[[], object], iterations: int, setup: Callable[[], object] | None = None) -> list[int]:
    """Per-call nanoseconds (``setup`` runs untimed before each call)."""
    for _ in range(min(200, iterations)):  # warm-up
        if setup is not None:
            setup()
        fn()
    out = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(iterations):
            if setup is not None:
                setup()
            t = time.perf_counter_ns()
            fn()
            out.append(time.perf_counter_ns() - t)
    finally:
        if gc_was:
            gc.enable()
    return out


def stats_us(ns: list[int]) -> dict[str, float]:
    us = [v / 1e3 for v in ns]
    return {
        "n": len(us),
        "p50_us": round(statistics.median(us), 2),
        "p99_us": round(percentile(us, 99), 2),
        "mean_us": round(statistics.fmean(us), 2),
    }


def page_statement(checked: CheckedFilter, dialect: str) -> Any:
    """The page query ``Store.list_models`` builds (first page, default order, own account)."""
    order = DEFAULT_ORDER
    columns = [models.c[SCALARS_BY_PATH[tuple(f.name for f in o.path)].column] for o in order.fields]
    where = [Scope(ACCOUNT, ACCOUNT).condition()]
    if checked.query is not None:
        where.append(compile_query(checked.query, dialect))
    ordering = [c.desc() if o.desc else c.asc() for c, o in zip(columns, order.fields, strict=True)]
    return select(models.c.resource, *columns).where(*where).order_by(*ordering).limit(51)


def sql_compile(dialect: str, query: Query) -> object:
    return FilterCompiler(dialect).compile(query)


def compile_costs(text: str, iterations: int) -> dict[str, Any]:
    schema = MODEL_FILTER_SCHEMA
    clear = filtering.compile_filter.cache_clear
    tree = filtering.parse(text)
    checked = filtering.compile_filter(text, schema)
    assert checked.query is not None
    query = checked.query
    res: dict[str, Any] = {"bytes": len(text.encode()), "iterations": iterations}
    res["parse"] = stats_us(timeit(lambda: filtering.parse(text), iterations))
    res["check"] = stats_us(timeit(lambda: filtering.check(tree, schema, text), iterations))
    res["compile_filter_uncached"] = stats_us(
        timeit(lambda: filtering.compile_filter(text, schema), iterations, setup=clear)
    )
    for dialect in ("sqlite", "postgresql"):
        res[f"sql_compile_{dialect}"] = stats_us(timeit(partial(sql_compile, dialect, query), iterations))

    def uncached() -> None:
        c = filtering.compile_filter(text, schema)
        assert c.query is not None
        FilterCompiler("postgresql").compile(c.query)

    res["total_uncached_postgresql"] = stats_us(timeit(uncached, iterations, setup=clear))
    filtering.compile_filter(text, schema)

    def cached() -> None:
        c = filtering.compile_filter(text, schema)
        assert c.query is not None
        compile_query(c.query, "postgresql")

    res["cached_lookups"] = stats_us(timeit(cached, iterations))
    stmt = page_statement(checked, "postgresql")
    res["statement_cache_key"] = stats_us(
        timeit(lambda: page_statement(checked, "postgresql")._generate_cache_key(), iterations)
    )
    for dialect, d in DIALECTS.items():
        st = page_statement(checked, dialect)
        res[f"render_sql_{dialect}"] = stats_us(timeit(partial(st.compile, dialect=d), iterations // 10))
    res["sql_postgresql"] = str(stmt.compile(dialect=DIALECTS["postgresql"]))
    return res


def list_costs(store: Store, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    scope = Scope(ACCOUNT, ACCOUNT)
    for label, text in {"none": "", **FILTERS}.items():
        checked = filtering.compile_filter(text, MODEL_FILTER_SCHEMA)
        t = time.perf_counter_ns()
        page = store.list_models(scope, checked, DEFAULT_ORDER, after=None, limit=50)
        first = time.perf_counter_ns() - t
        call = partial(store.list_models, scope, checked, DEFAULT_ORDER, after=None, limit=50)
        ns = timeit(call, reps)
        ms = [v / 1e6 for v in ns]
        out[label] = {
            "first_call_ms": round(first / 1e6, 3),
            "p50_ms": round(statistics.median(ms), 3),
            "p99_ms": round(percentile(ms, 99), 3),
            "returned": len(page.resources),
            "total_size": page.total_size,
        }
    return out


def http_costs(base: str, key: str, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with client(base, key) as c:
        for label, text in {"none": "", **FILTERS}.items():
            params = {"filter": text} if text else {}
            first, body = get(c, params)
            for _ in range(20):
                get(c, params)
            ns = [get(c, params)[0] for _ in range(reps)]
            ms = [v / 1e6 for v in ns]
            out[label] = {
                "first_request_ms": round(first / 1e6, 3),
                "p50_ms": round(statistics.median(ms), 3),
                "p99_ms": round(percentile(ms, 99), 3),
                "returned": len(body.get("models", [])),
                "total_size": body.get("totalSize"),
            }
    return out


def print_tables(result: dict[str, Any]) -> None:
    print("\nfilter compile costs (us; p50 / p99)")
    stages = (
        "parse",
        "check",
        "compile_filter_uncached",
        "sql_compile_sqlite",
        "sql_compile_postgresql",
        "total_uncached_postgresql",
        "cached_lookups",
        "statement_cache_key",
        "render_sql_sqlite",
        "render_sql_postgresql",
    )
    labels = list(result["compile"])
    print(
        f"  {'stage':<28}"
        + "".join(f"{lab + ' (' + str(result['compile'][lab]['bytes']) + ' B)':>26}" for lab in labels)
    )
    for stage in stages:
        cells = ""
        for lab in labels:
            x = result["compile"][lab][stage]
            cells += f"{x['p50_us']:>14.1f} / {x['p99_us']:<9.1f}"
        print(f"  {stage:<28}{cells}")
    typical = result["compile"]["typical"]["total_uncached_postgresql"]["p50_us"]
    print(f"  target: typical uncached < 200 us: {typical} us -> {'met' if typical < 200 else 'NOT MET'}")
    n = result["models"]
    parts = (
        ("store_before_analyze", "Store.list_models, before ANALYZE"),
        ("store", "Store.list_models"),
        ("http", "HTTP GET (keep-alive)"),
    )
    for part, title in parts:
        if part not in result:
            continue
        print(f"\n{title}, SQLite, {n:,} models, first page of 50 (ms)")
        print(f"  {'filter':<12}{'first':>10}{'p50':>10}{'p99':>10}{'totalSize':>11}")
        for lab, x in result[part].items():
            first = x.get("first_call_ms", x.get("first_request_ms"))
            print(f"  {lab:<12}{first:>10.3f}{x['p50_ms']:>10.3f}{x['p99_ms']:>10.3f}{x['total_size']:>11}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=100_000)
    p.add_argument("--iterations", type=int, default=20_000, help="per stage (the 2 KiB filter: a tenth)")
    p.add_argument("--reps", type=int, default=300, help="list calls per filter")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS / "filter.json")
    args = p.parse_args(argv)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "filters": FILTERS,
        "models": args.models,
        "compile": {},
    }
    result["cpu_before"] = wait_quiet(300)
    watch = CpuWatch()
    for label, text in FILTERS.items():
        iterations = args.iterations // 10 if len(text) > 1000 else args.iterations
        print(f"compiling {label} ({len(text)} chars) x {iterations}", file=sys.stderr)
        result["compile"][label] = compile_costs(text, iterations)
    result["cpu_during_compile"] = watch.read()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-filter-") as d:
        db = create_database("sqlite", "filter", Path(d))
        store = open_store(db.url)
        print(f"populating {args.models:,} models (SQLite)", file=sys.stderr)
        result["import"] = populate(store, args.models)
        key = store.create_api_key(ACCOUNT, "bench")
        result["cpu_before_list"] = wait_quiet(300)
        result["store_before_analyze"] = list_costs(store, args.reps)
        result["import"].update(after_load(store))
        watch = CpuWatch()
        result["store"] = list_costs(store, args.reps)
        store.engine.dispose()
        server = start_server(db.url, args.workers)
        try:
            result["http"] = http_costs(server.base, key, args.reps)
            result["cpu_during_list"] = watch.read()
        finally:
            server.stop()
        result["http_workers"] = args.workers
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print_tables(result)
    print(f"\nsaved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
