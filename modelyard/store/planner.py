"""The List planner: which models a scope sees, and the statements of each query shape, built once.

A query shape is (scope kind, filter, order, first page or not); its statements are cached and reused
with new parameters, since building them costs more than executing a page on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
)

from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.ordering import OrderBy
from modelyard.aip.schema import FieldDecl
from modelyard.store.catalog_order import catalog_name_sql, is_catalog_name
from modelyard.store.filters import compile_query
from modelyard.store.tables import INDEXED_COLUMNS, PUBLIC_ORDER_COLUMNS, SCALARS_BY_PATH, accounts, models

#: Columns that lead an index of their own within an account (``tables.py``): orders that an index keeps.
_INDEXED_ORDER = frozenset({"name", *INDEXED_COLUMNS})
#: Orders an index keeps among every account's public models (``ix_models_public_*``).
_PUBLIC_ORDER = frozenset({"name", *PUBLIC_ORDER_COLUMNS})

#: Order columns whose bounds are computed: min/max do not exist for booleans on PostgreSQL, and floats
#: (NaN) order differently on the two databases.
_UNBOUNDED_TYPES = (Boolean, Float)

#: Query shapes whose statements are kept before the cache is emptied.
PLAN_CACHE_SIZE = 2000


@dataclass(frozen=True)
class Scope:
    """Which models a caller sees when listing ``accounts/{target}/models``."""

    caller: str
    target: str  # an account id, or "-" for every readable account

    @property
    def kind(self) -> str:
        """ "own", "public" (another account's public models), "all" (the caller's and every public
        model), or "anyone": every public model, for a reader without an account (caller "", the
        catalog's anonymous visitors; an account id is never empty)."""
        if self.target == self.caller:
            return "own"
        if self.target == "-":
            return "all" if self.caller else "anyone"
        return "public"

    @property
    def account(self) -> str:
        """The account the condition names: the caller's for "own" and "all", else the target."""
        return self.target if self.kind == "public" else self.caller

    def condition(self) -> ColumnElement[bool]:
        return scope_condition(self.kind)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.account}"


def scope_condition(kind: str, account_value: str | None = None) -> ColumnElement[bool]:
    """The visibility condition of a scope kind, with its account as the ``scope_account`` parameter
    (bound to ``account_value`` when given)."""
    account = (
        bindparam("scope_account", type_=models.c.account_id.type)
        if account_value is None
        else bindparam("scope_account", account_value, type_=models.c.account_id.type)
    )
    if kind == "own":
        return models.c.account_id == account
    if kind == "all":
        return or_(models.c.account_id == account, models.c.public.is_(true()))
    if kind == "anyone":
        return models.c.public.is_(true())
    return and_(models.c.account_id == account, models.c.public.is_(true()))


def visible_to(reader: str) -> ColumnElement[bool]:
    """The visibility rule (``modelyard.access``) as a condition on ``models``: a reader sees its own
    account's models and every public model; the reader "" (an anonymous visitor) public models only.
    The same conditions as List's "all" and "anyone" scopes, with the reader bound."""
    return scope_condition("all" if reader else "anyone", reader)


def version_expression(kind: str) -> ColumnElement[Any]:
    """The data version a scope's results depend on, as a scalar subquery (see ``Accounts.bump``)."""
    if kind in ("all", "anyone"):
        # Every account's models can be visible: a sum of monotonic counters changes whenever any does.
        return (
            select(func.coalesce(func.sum(accounts.c.version), 0) * 1_000_003 + func.count())
            .select_from(accounts)
            .scalar_subquery()
        )
    account = bindparam("scope_account", type_=accounts.c.account_id.type)
    return func.coalesce(
        select(accounts.c.version).where(accounts.c.account_id == account).scalar_subquery(), 0
    )


def _total_expression(kind: str) -> ColumnElement[Any]:
    """The exact number of models a scope sees without a filter, from the counts ``accounts`` keeps."""
    account = bindparam("scope_account", type_=accounts.c.account_id.type)
    if kind == "own":
        column: ColumnElement[Any] = accounts.c.model_count
    elif kind == "public":
        column = accounts.c.public_count
    elif kind == "anyone":
        return (
            select(func.coalesce(func.sum(accounts.c.public_count), 0))
            .select_from(accounts)
            .scalar_subquery()
        )
    else:
        # The caller's own models plus every public model of the other accounts.
        own_private = select(accounts.c.model_count - accounts.c.public_count).where(
            accounts.c.account_id == account
        )
        public = select(func.coalesce(func.sum(accounts.c.public_count), 0)).select_from(accounts)
        return func.coalesce(own_private.scalar_subquery(), 0) + public.scalar_subquery()
    return func.coalesce(select(column).where(accounts.c.account_id == account).scalar_subquery(), 0)


def _order_column(path: tuple[FieldDecl, ...]) -> ColumnElement[Any]:
    """The column (or, for the catalog's name order, the expression) of an order field."""
    if is_catalog_name(path):
        return catalog_name_sql()
    return models.c[SCALARS_BY_PATH[tuple(f.name for f in path)].column]


def keyset(columns: Sequence[ColumnElement[Any]], descs: list[bool]) -> ColumnElement[bool]:
    """Rows strictly after the keyset position ``k0, k1, ...`` (parameters) in the order, with mixed
    directions (no NULLs are stored). The leading ``>=``/``<=`` lets an index range-scan."""
    keys = [bindparam(f"k{i}", type_=col.type) for i, col in enumerate(columns)]
    terms: list[ColumnElement[bool]] = []
    for i, (col, desc) in enumerate(zip(columns, descs, strict=True)):
        prefix = [columns[j] == keys[j] for j in range(i)]
        step = col < keys[i] if desc else col > keys[i]
        terms.append(and_(*prefix, step))
    first = columns[0] <= keys[0] if descs[0] else columns[0] >= keys[0]
    return and_(first, or_(*terms))


@dataclass(frozen=True)
class Plan:
    """The statements of one query shape (scope kind, filter, order, first page or not).

    Without a filter the page's second column is the exact total (kept in ``accounts``). With one, it is
    the data version, and the count statement returns the total, the version it counted at and the
    smallest and largest value of the first order column among the matches: the *bounds*. The bounded page
    statement only walks the order between them, so a filter whose matches cluster late in the order
    (``display_name = "Qwen*"`` under name order: the ids start with "qwen") is not answered by walking
    every earlier row. Bounds are valid only at the version they were computed at; the page statement
    returns the version it read, so a stale bound is detected and the page read again.
    """

    page: Select[Any]  # rows: resource, total or version, then the keyset of the row
    count: Select[Any]  # one row: total, version[, lower bound, upper bound]
    exact: bool
    bounded: Select[Any] | None = None  # the page between the bounds (``lo``/``hi`` parameters)
    version: Select[Any] | None = None  # one row: the data version


class Planner:
    """The plans of one database's query shapes, cached."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._plans: dict[tuple[str, str, str, bool], Plan] = {}

    def plan(self, scope_kind: str, checked: CheckedFilter, order: OrderBy, seeking: bool) -> Plan:
        """The page and count statements for a query shape, built once and reused with new parameters
        (statement construction costs more than executing a page on SQLite)."""
        key = (scope_kind, checked.text, order.canonical, seeking)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._build(scope_kind, checked, order, seeking)
            if len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _build(self, scope_kind: str, checked: CheckedFilter, order: OrderBy, seeking: bool) -> Plan:
        columns = [_order_column(o.path) for o in order.fields]
        where: list[ColumnElement[bool]] = [scope_condition(scope_kind)]
        if checked.query is not None:
            where.append(compile_query(checked.query, self.dialect))
        seek = list(where)
        if seeking:
            seek.append(keyset(columns, [o.desc for o in order.fields]))
        ordering = [c.desc() if o.desc else c.asc() for c, o in zip(columns, order.fields, strict=True)]
        # A deferred join: the page's keys come from the indexes alone (an index-only scan when an index
        # covers the filter and the order), and only the page's rows are then read from the table. A
        # selective filter under another order no longer drags every matching wide row through a sort.
        version = version_expression(scope_kind)
        exact = checked.query is None
        carried = _total_expression(scope_kind) if exact else version

        def page_statement(conditions: list[ColumnElement[bool]]) -> Select[Any]:
            keys = (
                select(models.c.name.label("k"), *(c.label(f"o{i}") for i, c in enumerate(columns)))
                .where(*conditions)
                .order_by(*ordering)
                .limit(bindparam("page_limit", type_=Integer))
                .subquery("page_keys")
            )
            key_columns = [keys.c[f"o{i}"] for i in range(len(columns))]
            return (
                select(models.c.resource, carried.label("v"), *key_columns)
                .join_from(keys, models, models.c.name == keys.c.k)
                .order_by(
                    *(k.desc() if o.desc else k.asc() for k, o in zip(key_columns, order.fields, strict=True))
                )
            )

        def direct_statement(conditions: list[ColumnElement[bool]]) -> Select[Any]:
            return (
                select(
                    models.c.resource, carried.label("v"), *(c.label(f"o{i}") for i, c in enumerate(columns))
                )
                .where(*conditions)
                .order_by(*ordering)
                .limit(bindparam("page_limit", type_=Integer))
            )

        # Without a filter, in one account and in an order an index keeps, the index walk stops after the
        # page and the rows are read directly: half of the deferred join's cost, which probes the primary
        # key once per row (PostgreSQL CPU per 50-model page at 1M: 0.21 ms against 0.45 ms).
        kept = is_catalog_name(order.fields[0].path)  # its expression indexes keep it in both scopes
        direct = exact and (
            (scope_kind in ("own", "public") and (kept or columns[0].name in _INDEXED_ORDER))
            or (scope_kind == "anyone" and (kept or columns[0].name in _PUBLIC_ORDER))
        )
        page = direct_statement(seek) if direct else page_statement(seek)
        if exact:
            # No filter constants and no bounds: the generic plan is the custom one, so these are run as
            # prepared statements (saves the planning) where the driver allows (store/aio.py).
            count_exact = select(_total_expression(scope_kind).label("n"), version.label("v"))
            return Plan(
                page.execution_options(prepare=True), count_exact.execution_options(prepare=True), exact
            )
        if isinstance(columns[0].type, _UNBOUNDED_TYPES) or is_catalog_name(order.fields[0].path):
            count = select(func.count(), version.label("v")).select_from(models).where(*where)
            return Plan(page, count, exact, version=select(version.label("v")))
        first = columns[0]
        count = select(func.count(), version.label("v"), func.min(first), func.max(first))
        count = count.select_from(models).where(*where)
        between = [
            first >= bindparam("lo", type_=first.type),
            first <= bindparam("hi", type_=first.type),
        ]
        return Plan(page, count, exact, page_statement(seek + between), select(version.label("v")))
