"""One catalog list view: its page of models, its position, its total and its facet counts, read from the
store with the same filter, order and keyset paging as List Models.

Paging links carry a cursor: a sealed token (the API's page-token codec) holding the keyset position of
the first or last model shown, the direction and the offset of the page (for "31-60 of 2,345"). A cursor
is bound to the filter and order it was made for; one that does not fit the view (an edited link, a
changed filter) or has expired shows the first page with a notice instead of an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from modelyard.aip.errors import AipError
from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy
from modelyard.aip.pagetoken import PageTokenCodec, digest
from modelyard.store.catalog_order import catalog_name_value, is_catalog_name
from modelyard.store.facets import FacetCounter
from modelyard.store.repository import Scope, Store
from modelyard.store.rows import resource_to_row
from modelyard.store.tables import SCALARS_BY_PATH
from modelyard.web.facets import FACETS
from modelyard.web.present import Card, card
from modelyard.web.query import CatalogQuery, Problem, compile_text, reversed_order

PAGE_SIZE = 30


@dataclass(frozen=True)
class OptionView:
    value: str
    label: str
    count: int | None
    checked: bool
    toggle_url: str


@dataclass(frozen=True)
class FacetView:
    param: str
    label: str
    options: list[OptionView]


@dataclass
class ListView:
    query: CatalogQuery
    cards: list[Card] = field(default_factory=list)
    total: int = 0
    start: int = 0  # offset of the first card
    next_url: str | None = None
    prev_url: str | None = None
    facets: list[FacetView] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notice: str = ""

    def problem(self, name: str) -> str:
        return "; ".join(p.message for p in self.problems if p.field == name)

    @property
    def general_problems(self) -> list[str]:
        return [p.message for p in self.problems if p.field not in ("q", "filter")]


def scope_for(caller: str | None, target: str) -> Scope:
    """The store scope of a catalog reader: with a key its account; without one no account at all (the
    store's "anyone" scope across accounts: only public models are visible)."""
    return Scope(caller=caller or "", target=target)


def build_list(
    store: Store,
    counter: FacetCounter,
    codec: PageTokenCodec,
    query: CatalogQuery,
    caller: str | None,
) -> ListView:
    view = ListView(query, problems=query.problems())
    if view.problems:
        view.facets = _facet_views(query, None)
        return view
    checked = compile_text(query.filter_text())
    order = query.order()
    scope = scope_for(caller, query.list_target)
    binding = {"f": digest(checked.text), "o": digest(order.canonical)}
    cursor = _cursor(codec, query.page, binding) if query.page else None
    if query.page and cursor is None:
        view.notice = "That page link no longer fits this view (it expired or the data changed): first page."
    backwards = cursor is not None and cursor["d"] == "p"
    start = int(cursor["s"]) if cursor is not None else 0
    counts = _count(store, counter, scope, query, checked, order)
    page = store.list_models(
        scope,
        checked,
        reversed_order(order) if backwards else order,
        after=cursor["k"] if cursor is not None else None,
        limit=PAGE_SIZE,
    )
    if backwards and not page.resources:  # everything before the position went away: the first page
        backwards, start = False, 0
        page = store.list_models(scope, checked, order, after=None, limit=PAGE_SIZE)
    models = [orjson.loads(r) for r in page.resources]
    more = page.last_key is not None  # more models beyond the page, in the direction walked
    if backwards:
        models.reverse()
        start = max(0, start - len(models)) if more else 0
    view.cards = [card(m) for m in models]
    view.total = page.total_size
    view.start = start
    if models:
        # Walking back, the page was reached from a later one; walking on, from an earlier one.
        has_next, has_prev = (True, more) if backwards else (more, start > 0)
        if has_next:
            token = _encode(codec, binding, "n", _keyset(models[-1], order), start + len(models))
            view.next_url = query.page_url(token)
        if has_prev:
            token = _encode(codec, binding, "p", _keyset(models[0], order), start)
            view.prev_url = query.page_url(token)
    view.facets = _facet_views(query, counts)
    return view


def _count(
    store: Store,
    counter: FacetCounter,
    scope: Scope,
    query: CatalogQuery,
    checked: CheckedFilter,
    order: OrderBy,
) -> dict[tuple[str, str], int]:
    """The facet counts of a view; when the pass can also count the view itself (its total and the bounds
    of its order), List is handed them and reads no count of its own."""
    options = query.option_texts()
    base = compile_text(query.base_text)
    texts = [compile_text(t) for _, _, t in options]
    bound = store.lister.bound_column(scope, checked, order)
    if bound is None or (bound and bound not in counter.bound_columns()):
        tally = counter.tally(scope, base, texts)
    else:
        tally = counter.tally(scope, base, texts, compile_text(query.facet_text()), bound)
        if tally.version is not None and tally.total is not None:
            store.lister.prime(scope, checked, order, tally.version, tally.total, tally.bounds)
    return {(p, v): c for (p, v, _), c in zip(options, tally.options, strict=True)}


def _facet_views(query: CatalogQuery, counts: dict[tuple[str, str], int] | None) -> list[FacetView]:
    views = []
    for facet in FACETS:
        selected = query.selected.get(facet.param, ())
        options = []
        for option in facet.options:
            count = counts.get((facet.param, option.value)) if counts is not None else None
            checked = option.value in selected
            if facet.hide_empty and not checked and count == 0:
                continue
            toggle = query.toggled(facet.param, option.value)
            options.append(OptionView(option.value, option.label, count, checked, toggle))
        views.append(FacetView(facet.param, facet.label, options))
    return views


def _keyset(model: dict[str, Any], order: OrderBy) -> list[Any]:
    """The keyset position of a model in ``order``: its stored column values, as List's page keys."""
    parts = str(model["name"]).split("/")
    row = resource_to_row(model, account_id=parts[1], model_id=parts[3])
    return [
        catalog_name_value(row["display_name"], parts[3])
        if is_catalog_name(o.path)
        else row[SCALARS_BY_PATH[tuple(f.name for f in o.path)].column]
        for o in order.fields
    ]


def _encode(
    codec: PageTokenCodec, binding: dict[str, str], direction: str, key: list[Any], start: int
) -> str:
    return codec.encode({"k": key, "d": direction, "s": start, **binding})


def _cursor(codec: PageTokenCodec, token: str, binding: dict[str, str]) -> dict[str, Any] | None:
    try:
        payload = codec.decode(token)
    except AipError:
        return None
    if any(payload.get(k) != v for k, v in binding.items()):
        return None
    if payload.get("d") not in ("n", "p") or not isinstance(payload.get("k"), list):
        return None
    if not isinstance(payload.get("s"), int) or payload["s"] < 0:
        return None
    return payload
