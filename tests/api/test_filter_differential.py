"""Differential test: List Models through HTTP (filters compiled to SQL, on SQLite and PostgreSQL) against
the reference evaluator over the same catalog.

For each random well-typed filter, orderBy and page size, the walk through every page must return exactly
the models the evaluator accepts, in the order the spec prescribes (zero values for unset fields, strings
by code point, enums by number, ties by name ascending), each exactly as the unfiltered listing returned
it, and ``totalSize`` on every page must be the number of matches.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from modelyard.aip.filtering import compile_filter
from modelyard.aip.filtering.evaluator import evaluate, model_search_fields
from modelyard.aip.timestamps import parse_rfc3339
from modelyard.resources.model import KIND, MODEL_FILTER_SCHEMA
from tests.support.accounts import Account
from tests.support.catalog_gen import generate_catalog
from tests.support.filter_gen import filter_strategy_for
from tests.support.server import Server

CATALOG = generate_catalog(seed=20250611, size=260)
FILTERS = filter_strategy_for(CATALOG)()

# A few public models of another account: they must never appear in this account's listing.
OTHER: list[tuple[str, dict[str, Any]]] = [
    ("llama-public", {"createTime": "2020-01-01T00:00:00Z", "displayName": "Llama public", "public": True}),
    ("llama-private", {"createTime": "2020-01-01T00:00:00Z", "displayName": "Llama private"}),
]


def _get(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r["name"],
    "display_name": lambda r: r.get("displayName", ""),
    "create_time": lambda r: parse_rfc3339(r["createTime"]),
    "context_length": lambda r: r.get("contextLength", 0),
    "base_model_details.parameter_count": lambda r: int(_get(r, "baseModelDetails.parameterCount") or 0),
    "kind": lambda r: KIND.number(r.get("kind", KIND.values[0])),
}
ORDERS = [
    "name",
    "name desc",
    "display_name desc",
    "create_time",
    "context_length desc",
    "base_model_details.parameter_count",
    "kind",
    "kind desc, display_name",
    "contextLength, createTime desc",
    "",
]
CAMEL = {"displayName": "display_name", "createTime": "create_time", "contextLength": "context_length"}


def _order_spec(order: str) -> list[tuple[Callable[[dict[str, Any]], Any], bool]]:
    spec = []
    for part in filter(None, (p.strip() for p in order.split(","))):
        field, _, direction = part.partition(" ")
        spec.append((SORT_KEYS[CAMEL.get(field, field)], direction.strip() == "desc"))
    if not any(key is SORT_KEYS["name"] for key, _ in spec):
        spec.append((SORT_KEYS["name"], False))
    return spec


def expected_names(resources: list[dict[str, Any]], filter_text: str, order: str) -> list[str]:
    query = compile_filter(filter_text, MODEL_FILTER_SCHEMA).query
    hits = [r for r in resources if evaluate(query, r, search_fields=model_search_fields)]
    spec = _order_spec(order)

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for key, desc in spec:
            ka, kb = key(a), key(b)
            if ka != kb:
                return (-1 if ka < kb else 1) * (-1 if desc else 1)
        return 0

    return [r["name"] for r in sorted(hits, key=functools.cmp_to_key(compare))]


@dataclass
class Walk:
    models: list[dict[str, Any]]
    totals: list[int]
    pages: int


def walk(account: Account, filter_text: str, order: str, page_sizes: list[int], limit: int) -> Walk:
    models: list[dict[str, Any]] = []
    totals: list[int] = []
    token: str | None = None
    sizes = itertools.cycle(page_sizes)
    for pages in itertools.count(1):
        params: dict[str, str | int] = {"filter": filter_text, "orderBy": order, "pageSize": next(sizes)}
        if token:
            params["pageToken"] = token
        response = account.client.get(account.url(), params=params)
        assert response.status_code == 200, (filter_text, order, response.text)
        body = response.json()
        page = body.get("models", [])
        models += page
        totals.append(body["totalSize"])
        token = body.get("nextPageToken")
        if not token:
            return Walk(models, totals, pages)
        assert page, "a page with no items must not carry a nextPageToken"
        assert pages <= limit, "the walk does not end"
    raise AssertionError("unreachable")  # pragma: no cover


class Loaded:
    """The catalog as loaded into one account (not a dataclass: keeps hypothesis' reports short)."""

    def __init__(self, account: Account, resources: list[dict[str, Any]]) -> None:
        self.account = account
        self.resources = resources  # as the server returns them
        self.by_name = {r["name"]: r for r in resources}

    def __repr__(self) -> str:
        return f"<Loaded {self.account.id}: {len(self.resources)} models>"


@pytest.fixture(scope="module")
def loaded(server: Server) -> Loaded:
    account = server.new_account("flt")
    server.store.import_batch(account.id, CATALOG, upsert=False)
    other = server.new_account("oth")
    server.store.import_batch(other.id, OTHER, upsert=False)
    everything = walk(account, "", "", [200], limit=10)
    assert len(everything.models) == len(CATALOG)
    assert everything.totals == [len(CATALOG)] * everything.pages
    names = [m["name"] for m in everything.models]
    assert names == sorted(names)
    assert names == [f"accounts/{account.id}/models/{model_id}" for model_id, _ in sorted(CATALOG)]
    for model, (_, source) in zip(everything.models, sorted(CATALOG), strict=True):
        assert {k: v for k, v in model.items() if k not in ("name", "updateTime")} == {
            k: v for k, v in source.items() if k != "updateTime"
        }
    return Loaded(account, everything.models)


def check(loaded: Loaded, filter_text: str, order: str, page_sizes: list[int]) -> list[str]:
    want = expected_names(loaded.resources, filter_text, order)
    got = walk(loaded.account, filter_text, order, page_sizes, limit=len(loaded.resources) + 2)
    names = [m["name"] for m in got.models]
    if names != want:
        missing = sorted(set(want) - set(names))
        extra = sorted(set(names) - set(want))
        raise AssertionError(
            f"filter {filter_text!r} orderBy {order!r}: SQL and the evaluator disagree\n"
            f"  missing from SQL ({len(missing)}): {missing[:5]}\n"
            f"  extra in SQL ({len(extra)}): {extra[:5]}\n"
            f"  same set, different order: {not missing and not extra}"
        )
    assert got.totals == [len(want)] * got.pages, (filter_text, got.totals, len(want))
    for model in got.models:
        assert model == loaded.by_name[model["name"]]
    return want


REGRESSIONS = [
    # NOT over an unset message: UNKNOWN, never a match
    "NOT base_model_details.moe = true",
    "-base_model_details.moe = true",
    "base_model_details.moe != true",
    "NOT deprecation_date.year = 2027",
    "deprecation_date.month != 1",
    'NOT peft_details.target_modules:"q_proj"',
    "NOT base_model_details.moe:*",
    "NOT (base_model_details.moe = true AND context_length = 4096)",
    "NOT (base_model_details.moe = true OR context_length = 4096)",
    "NOT default_sampling_params.temperature > 0.5",
    "default_sampling_params.temperature != 0.7",
    # % _ \ in values
    'display_name:"100%"',
    'description:"%"',
    'description:"_"',
    'description:"a_b"',
    'display_name = "a%b_c*"',
    'display_name = "a%b*"',
    'display_name = "*_c\\\\d*"',
    'description:"back\\\\slash"',
    'description = "*\\\\*"',
    '"%"',
    '"_off"',
    '"\\\\"',
    # case-insensitive ':' and search (ASCII, Latin-1, Greek, CJK)
    'display_name:"LLAMA"',
    'description:"café"',
    'description:"CAFÉ"',
    "résumé",
    "RÉSUMÉ",
    "σigma",
    "ΣIGMA",
    'display_name:"中文"',
    "llama instruct",
    "Llama OR qwen",
    'display_name = "Llama*"',
    'display_name = "llama*"',
    # int64 beyond 2^53
    "base_model_details.parameter_count = 9007199254740993",
    "base_model_details.parameter_count > 9007199254740992",
    "base_model_details.parameter_count < 9007199254740993",
    "base_model_details.parameter_count >= 9223372036854775807",
    "base_model_details.parameter_count != 9007199254740992",
    # negative numbers
    "context_length > -1",
    "default_sampling_params.temperature < 0",
    "default_sampling_params.temperature = -1",
    "deprecation_date.year != -2026",
    "peft_details.r > -5",
    # zero values, presence, wildcards, timestamps
    "context_length = 0",
    "kind = KIND_UNSPECIFIED",
    "display_name = ''",
    'display_name = "*"',
    'display_name != "*"',
    "base_model_details:* AND NOT base_model_details.parameter_count:*",
    "default_sampling_params.temperature:* AND default_sampling_params.temperature = 0",
    "supported_precisions:FP8 OR supported_precisions_with_calibration:BF16",
    'create_time = "2019-05-05T05:05:05.000000001Z"',
    'create_time > "2019-05-05T07:05:05+02:00"',
    'update_time <= "1970-01-01T00:00:00Z"',
    "public",
    # trailing blanks are significant; set-but-empty messages
    'display_name = "neg"',
    'display_name = "neg "',
    'display_name = "neg*"',
    'display_name = "* "',
    "status:* AND status.code = OK",
    "status.code != OK",
    "NOT status.message:*",
    # empty text: matches everything
    'display_name:""',
    '""',
    # map keys that need quoting in JSON paths
    'default_sampling_params."top p" = 0.5',
    'default_sampling_params."a.b" = 1',
    'default_sampling_params."x\\"y" = 2',
    'default_sampling_params."a,b" = 3',
    'default_sampling_params."{c}" = 4',
    'default_sampling_params."it\'s" = 5',
    'default_sampling_params."$" = 6',
    'default_sampling_params."[0]" = 7',
    "default_sampling_params.中 = 8",
    'default_sampling_params."" = 9',
    'default_sampling_params."back\\\\slash" = 10',
    'default_sampling_params."*" = 11',
    'default_sampling_params."a,b":*',
    'default_sampling_params."{c}":*',
    'default_sampling_params:"x\\"y"',
    'default_sampling_params:"a,b"',
    'default_sampling_params:"$"',
    'default_sampling_params:""',
    'NOT default_sampling_params."a,b" = 3',
]


@pytest.mark.parametrize("filter_text", REGRESSIONS)
def test_regressions(loaded: Loaded, filter_text: str) -> None:
    check(loaded, filter_text, "name", [50])


def test_regressions_are_not_trivial(loaded: Loaded) -> None:
    """Most fixed examples select some but not all models (else they would prove little)."""
    sizes = [len(expected_names(loaded.resources, f, "")) for f in REGRESSIONS]
    trivial = [f for f, n in zip(REGRESSIONS, sizes, strict=True) if n in (0, len(loaded.resources))]
    assert len(trivial) <= len(REGRESSIONS) // 4, trivial


def test_name_and_search_scope(loaded: Loaded) -> None:
    """Filters on ``name`` (which holds the per-run account id) and what global search does not look in."""
    acct = loaded.account.id
    names = sorted(loaded.by_name)
    mid = names[len(names) // 2]
    filters = [
        f'name = "{mid}"',
        f'name != "{mid}"',
        f'name < "{mid}"',
        f'name >= "{mid}"',
        f'name > "accounts/{acct}/models/"',
        f'name = "accounts/{acct}/models/zz*"',
        f'name = "accounts/{acct.upper()}/models/zz*"',
        'name = "*-00*"',
        'name = "*0"',
        'name:"ZZ-"',
        f'name:"{acct.upper()}"',
        "name:*",
        "accounts",  # global search looks in the model id, not in the whole name
        acct.split("-")[0],
        f'"{acct}"',
        '"/models/"',
        "models",
    ]
    for filter_text in filters:
        check(loaded, filter_text, "name desc", [40])


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    filter_text=FILTERS,
    order=st.sampled_from(ORDERS),
    page_sizes=st.lists(st.sampled_from([9, 40, 50, 200]), min_size=1, max_size=3),
)
@example(
    filter_text="NOT base_model_details.moe = true",
    order="base_model_details.parameter_count",
    page_sizes=[50],
)
@example(filter_text='display_name = "a%b_c*" OR "100%"', order="display_name desc", page_sizes=[9])
@example(filter_text='description:"CAFÉ" OR σigma', order="kind", page_sizes=[40])
@example(filter_text="base_model_details.parameter_count > 9007199254740992", order="name", page_sizes=[200])
@example(
    filter_text="context_length > -1 AND -default_sampling_params.temperature < 0", order="", page_sizes=[50]
)
def test_sql_matches_evaluator(loaded: Loaded, filter_text: str, order: str, page_sizes: list[int]) -> None:
    want = check(loaded, filter_text, order, page_sizes)
    event("no match" if not want else "all match" if len(want) == len(loaded.resources) else "some match")
