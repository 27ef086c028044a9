"""The catalog's view state: the URL query of a catalog page, and what it asks the store.

Every view lives in the URL (``/catalog?q=llama+70b&kind=HF_BASE_MODEL&cap=tools&sort=largest``), so a
link or a reload reproduces it. The state becomes the same AIP-160 filter text and ``orderBy`` a client
of the List API would send, checked by the same ``aip.filtering`` engine:

* ``q``: plain words (a double-quoted phrase stays one term); each is a global-search term, so the box
  never needs filter syntax (``llama 70b``, ``and``, ``a.b`` are all just words);
* ``kind``, ``cap``, ``ctx``, ``params``: facet options (``facets.FACETS``), repeated for several;
* ``filter``: an advanced, raw AIP-160 filter, ANDed with the rest;
* ``sort``: one of ``facets.SORTS``; ``account``: only that account's models; ``page``: a cursor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from modelyard.aip import filtering
from modelyard.aip.errors import AipError
from modelyard.aip.filtering.errors import quote
from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy, OrderField, parse_order_by
from modelyard.resources.codec import ResourceError, check_id
from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA
from modelyard.store.catalog_order import CATALOG_NAME
from modelyard.web.facets import DEFAULT_SORT, FACETS, FACETS_BY_PARAM, SORTS, SORTS_BY_VALUE, Sort

_WORD = re.compile(r'"([^"]*)"|(\S+)')
_name_field = MODEL.field("name")
assert _name_field is not None
_NAME = _name_field

#: Longest search text and advanced filter accepted from a URL (the filter language's own limit is 8 KiB).
MAX_TEXT = 4096


@dataclass(frozen=True)
class Problem:
    """A part of the URL that cannot be honoured: shown next to the field it belongs to."""

    field: str  # "q", "filter", "sort", "kind", ..., or "" for the query as a whole
    message: str


@dataclass(frozen=True)
class CatalogQuery:
    q: str = ""
    selected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    advanced: str = ""
    sort: str = DEFAULT_SORT
    account: str = ""
    page: str = ""

    # -- from and to the URL -----------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Mapping[str, str], multi: Sequence[tuple[str, str]]) -> CatalogQuery:
        """The view of a URL query (``params``: last value per name; ``multi``: every pair). Values the
        catalog does not know are kept, and reported by ``problems()``."""
        selected: dict[str, tuple[str, ...]] = {}
        for name, value in multi:
            if name in FACETS_BY_PARAM and value and value not in selected.get(name, ()):
                selected[name] = (*selected.get(name, ()), value)
        return cls(
            q=params.get("q", "").strip(),
            selected=selected,
            advanced=params.get("filter", "").strip(),
            sort=params.get("sort", "") or DEFAULT_SORT,
            account=params.get("account", "").strip(),
            page=params.get("page", ""),
        )

    def pairs(self, *, page: bool = True) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if self.q:
            pairs.append(("q", self.q))
        for facet in FACETS:
            pairs += [(facet.param, v) for v in self.selected.get(facet.param, ())]
        if self.advanced:
            pairs.append(("filter", self.advanced))
        if self.sort != DEFAULT_SORT:
            pairs.append(("sort", self.sort))
        if self.account:
            pairs.append(("account", self.account))
        if page and self.page:
            pairs.append(("page", self.page))
        return pairs

    def url(self, **changes: object) -> str:
        """``/catalog?...`` for this view with ``changes`` applied (a new view starts on its first page)."""
        view = replace(self, page="", **changes)  # type: ignore[arg-type]
        query = urlencode(view.pairs())
        return "/catalog" + ("?" + query if query else "")

    def toggled(self, param: str, value: str) -> str:
        """The URL with one facet option switched on or off."""
        current = self.selected.get(param, ())
        values = tuple(v for v in current if v != value) if value in current else (*current, value)
        return self.url(selected={**self.selected, param: values})

    def page_url(self, cursor: str) -> str:
        query = urlencode([*self.pairs(page=False), ("page", cursor)])
        return f"/catalog?{query}"

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.advanced or any(self.selected.values()) or self.account)

    # -- checks ------------------------------------------------------------------------------------------
    def problems(self) -> list[Problem]:
        """What in the URL is not valid, each naming its parameter and, for filters, the column."""
        found: list[Problem] = []
        for param, values in self.selected.items():
            facet = FACETS_BY_PARAM[param]
            for value in values:
                if facet.option(value) is None:
                    known = ", ".join(o.value for o in facet.options)
                    found.append(Problem(param, f"{param}: unknown value {value!r}; expected one of {known}"))
        if self.sort not in SORTS_BY_VALUE:
            known = ", ".join(s.value for s in SORTS)
            found.append(Problem("sort", f"sort: unknown order {self.sort!r}; expected one of {known}"))
        if self.account:
            try:
                check_id(self.account, "account id")
            except ResourceError as e:
                found.append(Problem("account", f"account: {e.message}"))
        for name, text in (("q", self.q), ("filter", self.advanced)):
            if len(text) > MAX_TEXT:
                found.append(Problem(name, f"{name}: longer than {MAX_TEXT} characters ({len(text)})"))
        if found:
            return found
        for name, text in (("q", self.search_text), ("filter", self.advanced)):
            try:
                compile_text(text)
            except AipError as e:
                label = "search" if name == "q" else "filter"
                found.append(Problem(name, f"{label}: {e.message}"))
        if not found:
            try:
                compile_text(self.filter_text())
            except AipError as e:
                found.append(Problem("", f"the combined filter is not valid: {e.message}"))
        return found

    # -- what the store is asked -------------------------------------------------------------------------
    @property
    def words(self) -> list[str]:
        return [m.group(1) if m.group(1) is not None else m.group(2) for m in _WORD.finditer(self.q)]

    @property
    def search_text(self) -> str:
        """The search words as global-search terms: quoted, so no word is read as filter syntax."""
        return " AND ".join(quote(w) for w in self.words if w)

    def facet_text(self, *, without: str = "") -> str:
        """The selected facet options as filter text (optionally without one facet's own selection)."""
        clauses = [f.clause(self.selected.get(f.param, ())) for f in FACETS if f.param != without]
        return " AND ".join(c for c in clauses if c)

    @property
    def base_text(self) -> str:
        """The filter every facet count shares: search words and the advanced filter."""
        return _and(self.search_text, f"({self.advanced})" if self.advanced else "")

    def filter_text(self) -> str:
        """The whole filter of the view, exactly as ``GET /v1/accounts/-/models?filter=`` would take it."""
        return _and(self.base_text, self.facet_text())

    def option_texts(self) -> list[tuple[str, str, str]]:
        """(facet param, option value, filter text) for each facet option's count: the models the option
        would leave, i.e. the other facets' selections and this option (base text aside)."""
        out: list[tuple[str, str, str]] = []
        for facet in FACETS:
            others = self.facet_text(without=facet.param) if facet.combine == "or" else self.facet_text()
            for option in facet.options:
                out.append((facet.param, option.value, _and(others, f"({option.clause})")))
        return out

    @property
    def sort_choice(self) -> Sort:
        return SORTS_BY_VALUE.get(self.sort, SORTS_BY_VALUE[DEFAULT_SORT])

    def order(self) -> OrderBy:
        """The sort as an order; "Name" sorts by the name a reader sees, case aside, unnamed models among
        the others by id (``store/catalog_order.py``), which List's ``orderBy`` cannot name."""
        choice = self.sort_choice
        if choice.value in ("name", "name-desc"):
            return OrderBy((OrderField((CATALOG_NAME,), choice.value == "name-desc"),)).with_tiebreaker(_NAME)
        return parse_order_by(choice.order_by, MODEL).with_tiebreaker(_NAME)

    @property
    def list_target(self) -> str:
        """The account whose models are listed, ``-`` for every account (AIP-159)."""
        return self.account or "-"


def compile_text(text: str) -> CheckedFilter:
    return filtering.compile_filter(text, MODEL_FILTER_SCHEMA)


def reversed_order(order: OrderBy) -> OrderBy:
    """The same order backwards: the page before a position is the page after it in this order."""
    return OrderBy(tuple(OrderField(f.path, not f.desc) for f in order.fields))


def _and(*parts: str) -> str:
    return " AND ".join(p for p in parts if p)
