"""Filter inputs for the fuzz tests (the parser's and the HTTP API's): seed filters (a few hand-written
ones plus every input of the conformance table), fragments to splice into them and a mutation strategy."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from tests.support.paths import FILTER_CASES

CASES_PATH = FILTER_CASES


def _seed_filters() -> list[str]:
    seeds = [
        'name = "x" AND age > 3 OR active',
        "labels.env:prod state = ACTIVE",
        'create_time > "2012-04-21T11:30:00Z" -tags:urgent',
        'regex(name, "^a") NOT (rating >= 2.5e3 OR ttl < duration("1.5s"))',
        "authors.given_name:Ann author:* kind = HF_BASE_MODEL",
        "base_model_details.parameter_count > 7000000000 supportsServerless",
        'deployed_model_refs.state:DEPLOYED llama "llama 3"',
    ]
    if CASES_PATH.exists():
        with CASES_PATH.open(encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                if row.get("input") is not None:
                    seeds.append(row["input"])
    return seeds


SEEDS = _seed_filters()
FRAGMENTS = [
    " ",
    "  ",
    "\t",
    "\n",
    "\u00a0",
    "(",
    ")",
    "-",
    ".",
    ",",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    ":",
    "!",
    "*",
    '"',
    "'",
    "\\",
    '"x"',
    "'y z'",
    '"\\u263A"',
    '"\\377"',
    "AND",
    "OR",
    "NOT",
    " AND ",
    " OR ",
    "NOT ",
    "and",
    "name",
    "age",
    "rating",
    "active",
    "state",
    "labels",
    "tags",
    "authors",
    "author",
    "create_time",
    "ttl",
    "given_name",
    "kind",
    "context_length",
    "default_sampling_params",
    "deployed_model_refs",
    "ACTIVE",
    "true",
    "false",
    "0",
    "1",
    "42",
    "9223372036854775808",
    "0x1F",
    "0x",
    "1e3",
    "2.5",
    ".5",
    "e",
    "timestamp",
    "duration",
    "regex",
    '"2012-04-21T11:30:00Z"',
    '"30s"',
    "é",
    "名前",
    "\x00",
    "\x1f",
    "\udc80",
    "`",
    "[0]",
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "swap"]))
        if action == "insert":
            text = text[:pos] + draw(st.sampled_from(FRAGMENTS)) + text[pos:]
        elif action == "delete":
            end = draw(st.integers(pos, min(len(text), pos + 5)))
            text = text[:pos] + text[end:]
        elif action == "duplicate":
            end = draw(st.integers(pos, min(len(text), pos + 10)))
            text = text[:end] + text[pos:end] + text[end:]
        elif len(text) > 1:
            i = min(pos, len(text) - 2)
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text
