"""Footprint of the models table on PostgreSQL: table and per-index bytes, and bytes per model.

For each ``--models N``: a fresh database, the N-model file written by the streaming generator
(``bench/catalog.py``; ``--descriptions short`` is the benchmark data set of the earlier rounds, ``demo``
the demo catalog's style), ``modelyard import`` of it (a bulk load; the command ends with ``VACUUM
ANALYZE``), then the sizes from ``pg_relation_size``/``pg_table_size``/``pg_indexes_size``. With
``--compare REVISION`` the schema is then downgraded in place to that revision (the indexes it defines are
built again from the same rows, as a bulk load builds them), measured, and upgraded back to the head, timed:
the before/after of a migration on the same rows in one run. ``--explain`` prints the PostgreSQL plans of
the List query classes each index is kept for (``docs/benchmarks.md``).

Sizes are exact and do not depend on the machine's load; the times printed are indicative only.

    .venv/bin/python bench/bench_footprint.py --models 100000 --compare 0007 --explain
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.catalog import ACCOUNT, DESCRIPTION_STYLES, write_jsonl
from modelyard.aip.filtering import compile_filter
from modelyard.aip.ordering import parse_order_by
from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA
from modelyard.store.engine import make_engine
from modelyard.store.migrate import alembic_config, upgrade
from modelyard.store.planner import Planner

PG_ADMIN = os.environ.get("MODELYARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).resolve().parent / "results"

#: The List query classes whose plans ``--explain`` prints: (label, scope kind, filter, order).
QUERY_CLASSES = (
    ("first page", "own", "", ""),
    ('display_name = "qwen*"', "own", 'display_name = "qwen*"', ""),
    ("kind = X AND context_length >= N", "own", 'kind = "HF_BASE_MODEL" AND context_length >= 65536', ""),
    ("global search llama 70b", "own", "llama 70b", ""),
    ("supports_serverless = true", "own", "supports_serverless = true", ""),
    ('state = "UPLOADING"', "own", 'state = "UPLOADING"', ""),
    ("order by update_time desc", "own", "", "update_time desc"),
    ("order by parameter count desc", "own", "", "base_model_details.parameter_count desc"),
    ("order by create_time desc", "own", "", "create_time desc"),
    ("order by context_length desc", "own", "", "context_length desc"),
    ("order by display_name", "own", "", "display_name"),
    ("public listing (anyone), name", "anyone", "", ""),
    ("public listing (anyone), update_time desc", "anyone", "", "update_time desc"),
    ("public listing (anyone), create_time desc", "anyone", "", "create_time desc"),
    ("public listing (anyone), display_name", "anyone", "", "display_name"),
    ("public listing (anyone), context_length desc", "anyone", "", "context_length desc"),
    ("public listing (anyone), parameters desc", "anyone", "", "base_model_details.parameter_count desc"),
    ("another account's public models", "public", "", ""),
)


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def fresh_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli_import(url: str, path: Path) -> float:
    """Seconds of ``modelyard import FILE --account bench`` into the empty database."""
    cmd = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "import",
        str(path),
        "--account",
        ACCOUNT,
        "--db",
        url,
        "--bulk",
    ]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"modelyard import failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t


def sizes(url: str) -> dict[str, Any]:
    """Exact sizes in bytes: the table (heap, and with TOAST and maps), each index, and the totals."""
    with psycopg.connect(url) as conn:
        n, heap, table, indexes, total = conn.execute(
            "SELECT (SELECT count(*) FROM models), pg_relation_size('models'), pg_table_size('models'), "
            "pg_indexes_size('models'), pg_total_relation_size('models')"
        ).fetchone() or (0, 0, 0, 0, 0)
        per_index = conn.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid), pg_get_indexdef(indexrelid) "
            "FROM pg_index WHERE indrelid = 'models'::regclass ORDER BY 2 DESC, 1"
        ).fetchall()
    return {
        "models": n,
        "heap_bytes": heap,
        "table_bytes": table,
        "indexes_bytes": indexes,
        "total_bytes": total,
        "bytes_per_model": round(total / max(n, 1), 1),
        "indexes": [{"name": name, "bytes": size, "definition": d} for name, size, d in per_index],
    }


def revision(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else ""


def migrate(url: str, target: str) -> float:
    """Seconds of an in-place upgrade (``head``) or downgrade to ``target``, then ``ANALYZE models``."""
    engine = make_engine(url)
    try:
        t = time.perf_counter()
        if target == "head":
            upgrade(engine)
        else:
            cfg = alembic_config(engine)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, target)
        seconds = time.perf_counter() - t
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE models"))
        return seconds
    finally:
        engine.dispose()


def explain(url: str, *, without: str | None = None) -> list[dict[str, Any]]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the first-page statement of each query class, as the List planner
    builds it (the filtered classes' unbounded page and their count): the indexes used, the pages read
    (shared buffers hit or read: exact for a plan, whatever the machine's load) and the time (indicative).
    With ``without``, that index is dropped first, in a transaction rolled back afterwards: what each
    query costs without it."""
    engine = make_engine(url)
    planner = Planner("postgresql")
    out = []
    try:
        with engine.connect() as conn:
            trans = conn.begin()
            if without is not None:
                conn.exec_driver_sql(f"DROP INDEX {without}")
            for label, scope, filter_text, order_text in QUERY_CLASSES:
                checked = compile_filter(filter_text, MODEL_FILTER_SCHEMA)
                order = parse_order_by(order_text, MODEL).with_tiebreaker(_name_field())
                plan = planner.plan(scope, checked, order, False)
                params = {"scope_account": ACCOUNT, "page_limit": 51}
                statements = [("page", plan.page)]
                if not plan.exact:
                    statements.append(("count", plan.count))
                for what, statement in statements:
                    sql = statement.compile(dialect=engine.dialect)
                    rows = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(sql), {**sql.params, **params}
                    ).all()
                    lines = [r[0] for r in rows]
                    joined = "\n".join(lines)
                    used = sorted(set(re.findall(r"(?:on|using) (ix_models_\w+|models_pkey)", joined)))
                    buffers = re.search(r"Buffers: shared((?: \w+=\d+)+)", joined)
                    pages = sum(int(n) for n in re.findall(r"=(\d+)", buffers.group(1))) if buffers else 0
                    ms = re.search(r"Execution Time: ([\d.]+) ms", joined)
                    out.append(
                        {
                            "query": label,
                            "statement": what,
                            "indexes": used,
                            "pages": pages,
                            "ms": float(ms.group(1)) if ms else None,
                            "plan": lines,
                        }
                    )
            trans.rollback()
    finally:
        engine.dispose()
    return out


def ablate(url: str, indexes: list[str]) -> dict[str, list[dict[str, Any]]]:
    """For each index, the query classes whose plan changes when it is dropped, with and without it."""
    base = {(p["query"], p["statement"]): p for p in explain(url)}
    out: dict[str, list[dict[str, Any]]] = {}
    for name in indexes:
        changed = []
        for p in explain(url, without=name):
            was = base[(p["query"], p["statement"])]
            if name in was["indexes"]:
                changed.append(
                    {
                        "query": p["query"],
                        "statement": p["statement"],
                        "pages": [was["pages"], p["pages"]],
                        "ms": [was["ms"], p["ms"]],
                        "instead": p["indexes"],
                    }
                )
        out[name] = changed
        for c in changed:
            print(
                f"  without {name}: [{c['query']}] {c['statement']}: pages {c['pages'][0]:,} -> "
                f"{c['pages'][1]:,}, ms {c['ms'][0]} -> {c['ms'][1]} "
                f"(uses {', '.join(c['instead']) or 'none'})"
            )
        if not changed:
            print(f"  without {name}: no query class of the list changes plan")
    return out


def _name_field() -> Any:
    from modelyard.api.models import NAME_FIELD

    return NAME_FIELD


def show(label: str, s: dict[str, Any]) -> None:
    n = s["models"]
    total = s["total_bytes"] / 2**20
    print(f"\n{label}: {n:,} models, {total:,.1f} MiB, {s['bytes_per_model']:,.0f} bytes/model")
    print(f"  {'table (heap)':<52} {s['heap_bytes'] / 2**20:>9.1f} MiB {s['heap_bytes'] / n:>7.0f} B/model")
    toast = s["table_bytes"] - s["heap_bytes"]
    print(f"  {'table (TOAST, maps)':<52} {toast / 2**20:>9.1f} MiB {toast / n:>7.0f} B/model")
    for index in s["indexes"]:
        print(f"  {index['name']:<52} {index['bytes'] / 2**20:>9.1f} MiB {index['bytes'] / n:>7.0f} B/model")
    print(
        f"  {'all indexes':<52} {s['indexes_bytes'] / 2**20:>9.1f} MiB {s['indexes_bytes'] / n:>7.0f} B/model"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, nargs="+", default=[100_000])
    parser.add_argument("--descriptions", choices=DESCRIPTION_STYLES, default="short")
    parser.add_argument("--compare", metavar="REVISION", help="also measure the schema at REVISION")
    parser.add_argument("--explain", action="store_true", help="print the plans of the List query classes")
    parser.add_argument(
        "--ablate", action="store_true", help="the plans and pages read without each index in turn"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (modelyard_footprint_<N>)")
    parser.add_argument("--out", type=Path, default=RESULTS / "footprint.json")
    args = parser.parse_args()
    results = []
    for n in args.models:
        name = f"modelyard_footprint_{n}"
        url = fresh_database(name)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "models.jsonl"
                t = time.perf_counter()
                with open(path, "wb") as f:
                    written = write_jsonl(f, n, descriptions=args.descriptions)
                generated = time.perf_counter() - t
                print(
                    f"{n:,} lines, {written / 2**20:,.1f} MiB of JSON, in {generated:.1f} s", file=sys.stderr
                )
                seconds = cli_import(url, path)
            head = revision(url)
            result: dict[str, Any] = {
                "models": n,
                "descriptions": args.descriptions,
                "jsonl_bytes": written,
                "import_seconds": round(seconds, 1),
                "revision": head,
                "sizes": sizes(url),
            }
            show(f"revision {head}", result["sizes"])
            if args.explain:
                result["plans"] = explain(url)
                for p in result["plans"]:
                    print(
                        f"  [{p['query']}] {p['statement']}: {', '.join(p['indexes']) or 'no index'}; "
                        f"{p['pages']:,} pages, {p['ms']} ms"
                    )
            if args.ablate:
                names = [i["name"] for i in result["sizes"]["indexes"] if i["name"] != "models_pkey"]
                result["ablation"] = ablate(url, names)
            if args.compare:
                down = migrate(url, args.compare)
                before = sizes(url)
                show(f"revision {args.compare} (same rows)", before)
                result["compare"] = {
                    "revision": args.compare,
                    "sizes": before,
                    "downgrade_seconds": round(down, 1),
                }
                if args.explain:
                    result["compare"]["plans"] = explain(url)
                up = migrate(url, "head")
                result["compare"]["upgrade_seconds"] = round(up, 1)
                after = sizes(url)
                result["after_upgrade_in_place"] = after
                print(
                    f"\nin place: downgrade to {args.compare} {down:.1f} s, upgrade to {head} {up:.1f} s; "
                    f"{before['bytes_per_model']:,.0f} -> {after['bytes_per_model']:,.0f} bytes/model",
                )
            results.append(result)
        finally:
            if not args.keep:
                drop_database(name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
