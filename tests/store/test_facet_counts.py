"""Facet counts, the view's total and its order's bounds from one pass (``store/facets.py``): the same
numbers List Models gives for each filter, on both databases, in every scope, whether the pass groups rows
by the facet columns or tests each row (an option reading another column); and a List primed with them
reads no count of its own and answers exactly as an unprimed one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from sqlalchemy import event, func, select

from modelyard.aip.filtering import compile_filter
from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy
from modelyard.aip.pagetoken import PageTokenCodec
from modelyard.resources.model import MODEL_FILTER_SCHEMA
from modelyard.store.facets import FacetCounter, Tally
from modelyard.store.filters import compile_query
from modelyard.store.planner import Scope
from modelyard.store.repository import Store
from modelyard.store.tables import models
from modelyard.web.listing import build_list
from modelyard.web.query import CatalogQuery
from tests.support.catalog_gen import generate_catalog
from tests.support.databases import fresh_database, migrated_store

OWNER, OTHER = "owner", "other"

VIEWS = [
    "",
    "sort=updated",
    "kind=HF_BASE_MODEL&cap=tools",
    "params=10b-40b&ctx=128k-256k",
    "kind=HF_BASE_MODEL&kind=EMBEDDING_MODEL&cap=serverless&cap=tunable&sort=largest",
    "q=a",
    "q=llama&sort=newest",
    "q=no+such+words+here",
    "filter=context_length+%3E%3D+8192+AND+NOT+supports_lora",
    "filter=display_name%3A%22a%22&cap=image&sort=context",
    "filter=default_sampling_params.temperature+%3E+0.5",
    "ctx=lt32k&sort=id",
]

#: Options for ``tally``: facet-column tests (grouped pass) and one that reads another column and the
#: stored JSON (a test per row).
GROUPED = ["kind = HF_BASE_MODEL", "supports_tools AND context_length >= 32768", "", "NOT tunable"]
PER_ROW = [*GROUPED, 'display_name:"a" OR supported_precisions:*']


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two Stores on one catalog: one to count with, one (never primed) to compare with."""
    with fresh_database(request.param, tmp_path) as url, migrated_store(url) as store:
        store.import_batch(OWNER, generate_catalog(seed=7, size=240), upsert=False)
        store.import_batch(OTHER, generate_catalog(seed=8, size=120), upsert=False)
        with migrated_store(url) as plain:
            yield store, plain


def _checked(text: str) -> CheckedFilter:
    return compile_filter(text, MODEL_FILTER_SCHEMA)


def _total(store: Store, scope: Scope, text: str) -> int:
    order = CatalogQuery().order()
    return store.list_models(scope, _checked(text), order, after=None, limit=1).total_size


def _and(*parts: str) -> str:
    return " AND ".join(f"({p})" for p in parts if p)


def _bounds(store: Store, scope: Scope, text: str, column: str) -> tuple[Any, Any]:
    where = [scope.condition()]
    checked = _checked(text)
    if checked.query is not None:
        where.append(compile_query(checked.query, store.dialect))
    stmt = select(func.min(models.c[column]), func.max(models.c[column])).where(*where)
    with store.engine.connect() as conn:
        row = conn.execute(stmt, {"scope_account": scope.account}).one()
    return (row[0], row[1])


SCOPES = [Scope(OWNER, OWNER), Scope(OWNER, "-"), Scope("", "-"), Scope(OWNER, OTHER)]


@pytest.mark.parametrize("options", [GROUPED, PER_ROW], ids=["grouped", "per-row"])
@pytest.mark.parametrize("base", ["", '"a"', "context_length > 0"])
@pytest.mark.parametrize("selection", ["", "supports_serverless", "kind = EMBEDDING_MODEL"])
def test_a_tally_is_what_list_counts(
    stores: tuple[Store, Store], options: list[str], base: str, selection: str
) -> None:
    store, plain = stores
    counter = FacetCounter(store)
    for scope in SCOPES:
        for bound in ("display_name", "update_time", "base_model_details__parameter_count"):
            tally = counter.tally(
                scope, _checked(base), [_checked(o) for o in options], _checked(selection), bound
            )
            assert isinstance(tally, Tally) and tally.version is not None
            assert tally.options == [_total(plain, scope, _and(base, o)) for o in options], scope
            assert tally.total == _total(plain, scope, _and(base, selection))
            assert tally.bounds == _bounds(plain, scope, _and(base, selection), bound)
        again = counter.tally(scope, _checked(base), [_checked(o) for o in options])
        assert again.options == tally.options and again.total is None and again.bounds is None


def test_the_counts_follow_writes(stores: tuple[Store, Store]) -> None:
    store, plain = stores
    counter = FacetCounter(store)
    scope = Scope(OWNER, OWNER)
    options = [_checked(o) for o in GROUPED]
    before = counter.tally(scope, _checked(""), options, _checked(""), "display_name")
    model_id, resource = generate_catalog(seed=7, size=1)[0]
    name, kind = f"accounts/{OWNER}/models/{model_id}", resource.get("kind", "HF_PEFT_ADDON")
    store.update_model(name, lambda m: {**m, "displayName": "~ last", "kind": "HF_BASE_MODEL"})
    after = counter.tally(scope, _checked(""), options, _checked(""), "display_name")
    assert after.version != before.version
    assert after.options == [_total(plain, scope, o) for o in GROUPED]
    assert after.bounds == _bounds(plain, scope, "", "display_name")
    assert after.options[0] == before.options[0] + (0 if kind == "HF_BASE_MODEL" else 1)


def _views(codec: PageTokenCodec) -> Iterator[tuple[str, CatalogQuery, str | None]]:
    for query in VIEWS:
        pairs = parse_qsl(query)
        for caller, account in ((OWNER, OWNER), (OWNER, ""), (None, "")):
            full = [*pairs, ("account", account)] if account else pairs
            yield query, CatalogQuery.from_params(dict(full), full), caller


def test_a_primed_list_reads_no_count_and_answers_the_same(stores: tuple[Store, Store]) -> None:
    store, plain = stores
    codec = PageTokenCodec(b"k" * 32)
    counts: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT COUNT(*)"):
            counts.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        for text, query, caller in _views(codec):
            counts.clear()
            view = build_list(store, FacetCounter(store), codec, query, caller)
            assert not view.problems, (text, view.problems)
            scope = Scope(caller or "", query.list_target)
            order: OrderBy = query.order()
            bound = store.lister.bound_column(scope, _checked(query.filter_text()), order)
            if bound is None or bound in FacetCounter.bound_columns() or bound == "":
                assert counts == [], text  # List was handed the total (and bounds): no count of its own
            else:
                assert len(counts) == 1, text  # bounds of a column the facet indexes do not hold
            page = plain.list_models(scope, _checked(query.filter_text()), order, after=None, limit=30)
            assert view.total == page.total_size, text
            assert [c.name for c in view.cards] == [orjson.loads(r)["name"] for r in page.resources], text
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
