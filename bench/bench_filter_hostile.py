"""Hostile filter inputs: how long ``parse`` and ``compile_filter`` (parse + check, LRU cache cleared) take
on inputs built to be slow (huge, deeply nested, long runs of one token), and what each answers.

    .venv/bin/python bench/bench_filter_hostile.py [--iterations 200]

The unit tests (tests/aip/test_filter_parser.py, tests/aip/test_filter_checker.py) assert what each input
answers and bound the work by counting function calls; the wall-clock figures live here. Results: a table
on stdout and ``bench/results/filter_hostile.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_filter import stats_us, timeit
from bench_list import RESULTS, ROOT, machine_info

from modelyard.aip import filtering
from modelyard.aip.errors import FilterError
from modelyard.resources.model import MODEL_FILTER_SCHEMA

#: label -> input; the inputs of the unit tests' hostile-input cases.
HOSTILE: dict[str, str] = {
    "100k '('": "(" * 100_000,
    "100k ')'": ")" * 100_000,
    "100k 'a'": "a" * 100_000,
    "100k '-'": "-" * 100_000,
    "100k '\"'": '"' * 100_000,
    "25k 'NOT '": "NOT " * 25_000,
    "8k '('": "(" * 8000,
    "8k '-' + a": "-" * 8000 + "a",
    "2k 'NOT ' + a": "NOT " * 2000 + "a",
    "4k 'a.' + a": "a." * 4000 + "a",
    "4k 'f('": "f(" * 4000,
    "a = 4k '('": "a = " + "(" * 4000,
    "'\"' + 8k '\\'": '"' + "\\" * 8000,
    "4k 'a '": "a " * 4096,
    "2k 'a=1 '": "a=1 " * 2048,
    "8k '1'": "1" * 8192,
    "8k '9' + e9": "9" * 8000 + "e9",
    "8k '\\'": "\\" * 8192,
    "8k lone surrogates": "\udcff" * 8000,
    "depth 64": "a = " + "(" * 64 + "1" + ")" * 64,
    "400 ORs": " OR ".join(["display_name = x"] * 400),
    "8k '*' pattern": 'display_name:"' + "*" * 8000 + '"',
    "600 misspelt fields": "contex_length" * 600,
}


def outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except FilterError as e:
        return e.reason
    return "ok"


def quietly(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(FilterError):
            fn()

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--out", type=Path, default=RESULTS / "filter_hostile.json")
    args = p.parse_args(argv)
    schema = MODEL_FILTER_SCHEMA
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "iterations": args.iterations,
        "inputs": {},
    }
    print(f"{'input':<22} {'chars':>7} {'answer':<22} {'parse p50/p99 us':>18} {'compile p50/p99 us':>20}")
    for label, text in HOSTILE.items():
        parse = quietly(lambda text=text: filtering.parse(text))
        compile_ = quietly(lambda text=text: filtering.compile_filter(text, schema))
        row = {
            "chars": len(text),
            "parse_answer": outcome(lambda text=text: filtering.parse(text)),
            "compile_answer": outcome(lambda text=text: filtering.compile_filter(text, schema)),
            "parse": stats_us(timeit(parse, args.iterations)),
            "compile_filter_uncached": stats_us(
                timeit(compile_, args.iterations, setup=filtering.compile_filter.cache_clear)
            ),
        }
        result["inputs"][label] = row
        answer = row["compile_answer"]
        pa, co = row["parse"], row["compile_filter_uncached"]
        print(
            f"{label:<22} {len(text):>7} {answer:<22} {pa['p50_us']:>8.1f}/{pa['p99_us']:<9.1f}"
            f" {co['p50_us']:>9.1f}/{co['p99_us']:<9.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"\nsaved {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
