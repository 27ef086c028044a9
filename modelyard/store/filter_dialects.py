"""What compiling a filter needs from each database: one object per dialect, chosen once.

SQLite and PostgreSQL differ in substring tests (``instr`` against ``LIKE`` with escapes), case folding
(a registered ``modelyard_lower`` against ``lower`` under an ICU collation) and JSON access (``json_each``
/ ``json_type`` against ``jsonb`` operators). ``filters.FilterCompiler`` calls these methods only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from modelyard.aip.schema import Kind
from modelyard.store.search import fts_candidates, lookup, pg_document
from modelyard.store.tables import models

Condition = ColumnElement[bool]

_NUMBER_KINDS = (Kind.FLOAT, Kind.DOUBLE, Kind.INT32, Kind.INT64)


def lower_text(text: str) -> str:
    """The case folding used by ``:`` on strings and by global search, on every database."""
    return text.lower()


class FilterDialect(ABC):
    """The database-specific restrictions of a filter. ``path`` arguments are JSON names from the Model
    root to a repeated field or map, read from the ``resource`` column."""

    name: str

    @abstractmethod
    def find(self, col: ColumnElement[Any], text: str) -> Condition:
        """Case-sensitive substring test; ``%``, ``_`` and ``\\`` match themselves."""

    @abstractmethod
    def ends_with(self, col: ColumnElement[Any], text: str) -> Condition:
        """Case-sensitive suffix test."""

    @abstractmethod
    def contains(self, col: ColumnElement[Any], text: str) -> Condition:
        """Case-insensitive substring test (``lower_text`` on both sides)."""

    def search(self, columns: tuple[ColumnElement[Any], ...], text: str) -> Condition:
        """Global search: ``text`` is a case-insensitive substring of one of ``columns``."""
        return self.exact_search(columns, text)

    def exact_search(self, columns: tuple[ColumnElement[Any], ...], text: str) -> Condition:
        """Global search tested on each row."""
        return or_(*(self.contains(column, text) for column in columns))

    def search_all(self, columns: tuple[ColumnElement[Any], ...], texts: list[str]) -> Condition:
        """Several global-search words ANDed (the compiler hands them over together)."""
        return and_(*(self.search(columns, text) for text in texts))

    @abstractmethod
    def non_empty(self, path: list[str]) -> Condition:
        """A repeated field or map holds something (canonical JSON omits empty ones)."""

    @abstractmethod
    def map_value(self, path: list[str], key: str, kind: Kind) -> ColumnElement[Any]:
        """The value at ``key`` of the map at ``path``, typed as the map's values (``kind``)."""

    @abstractmethod
    def map_has_key(self, path: list[str], key: str) -> Condition:
        """The map at ``path`` has ``key``."""

    @abstractmethod
    def has_element(self, path: list[str], subpath: list[str], zero: Any, value: Any) -> Condition:
        """An element of a repeated field whose ``subpath`` (unset: ``zero``) equals ``value``."""

    @abstractmethod
    def json_clean(self) -> Condition:
        """The stored resource's JSON holds no NUL character (``\u0000``). NUL is refused on every write
        path, but a row stored before that rule would make PostgreSQL's jsonb cast fail and SQLite's JSON
        functions cut keys short: the JSON restrictions read such a row as NULL, and the compiler adds
        this condition to their negations, so the row matches none of them."""

    def resource_json(self) -> ColumnElement[Any]:
        """The ``resource`` column for the JSON functions: NULL unless :meth:`json_clean`."""
        return case((self.json_clean(), models.c.resource), else_=null())


class SqliteFilters(FilterDialect):
    name = "sqlite"

    def find(self, col: ColumnElement[Any], text: str) -> Condition:
        return func.instr(col, literal(text, Text)) > 0

    def ends_with(self, col: ColumnElement[Any], text: str) -> Condition:
        return func.substr(col, -len(text)) == literal(text, Text)

    def contains(self, col: ColumnElement[Any], text: str) -> Condition:
        word = lower_text(text)
        exact = func.instr(func.modelyard_lower(col), literal(word, Text)) > 0
        if not word.isascii():
            return exact
        # The same answer without calling Python for (nearly) every row: an ASCII word is found by
        # ``modelyard_lower`` exactly where a case-blind GLOB finds it, unless the text holds one of the
        # two non-ASCII characters whose lower case has an ASCII letter (``ASCII_LOWERING``).
        special = or_(*(func.instr(col, literal(c, Text)) > 0 for c in ASCII_LOWERING))
        return or_(col.op("GLOB")(literal(_glob_anywhere(word), Text)), and_(special, exact))

    def search(self, columns: tuple[ColumnElement[Any], ...], text: str) -> Condition:
        return self.search_all(columns, [text])

    def search_all(self, columns: tuple[ColumnElement[Any], ...], texts: list[str]) -> Condition:
        """The exact tests, on the rows the FTS5 trigram index finds for every word it can narrow down
        (``search.lookup``): the same rows, without reading every visible one. The words go to the index
        in one query, which intersects their rows before any is read."""
        exact = and_(*(self.exact_search(columns, text) for text in texts))
        found = [f for f in (lookup(lower_text(t)) for t in texts) if f is not None]
        if not found:
            return exact
        return and_(fts_candidates(literal_column("models.rowid"), found), exact)

    def json_clean(self) -> Condition:
        resource = models.c.resource
        return or_(
            func.instr(resource, literal(_NUL_ESCAPE, Text)) == 0, func.modelyard_has_nul(resource) == 0
        )

    def non_empty(self, path: list[str]) -> Condition:
        return func.json_type(self.resource_json(), _sqlite_path(path)).isnot(None)

    def map_value(self, path: list[str], key: str, kind: Kind) -> ColumnElement[Any]:
        each = func.json_each(self.resource_json(), _sqlite_path(path)).table_valued("key", "value")
        return select(each.c.value).where(each.c.key == literal(key, Text)).scalar_subquery()

    def map_has_key(self, path: list[str], key: str) -> Condition:
        each = func.json_each(self.resource_json(), _sqlite_path(path)).table_valued("key", "value")
        return exists(select(literal(1)).select_from(each).where(each.c.key == literal(key, Text)))

    def has_element(self, path: list[str], subpath: list[str], zero: Any, value: Any) -> Condition:
        each = func.json_each(self.resource_json(), _sqlite_path(path)).table_valued("value")
        ev: ColumnElement[Any] = each.c.value
        if subpath:
            ev = func.json_extract(ev, _sqlite_path(subpath))
        ev = func.coalesce(ev, literal(_sqlite_json_scalar(zero)))
        return exists(select(literal(1)).select_from(each).where(ev == literal(_sqlite_json_scalar(value))))


class PostgresFilters(FilterDialect):
    name = "postgresql"

    def find(self, col: ColumnElement[Any], text: str) -> Condition:
        return col.like("%" + _escape_like(text) + "%", escape="\\")

    def ends_with(self, col: ColumnElement[Any], text: str) -> Condition:
        return col.like("%" + _escape_like(text), escape="\\")

    def contains(self, col: ColumnElement[Any], text: str) -> Condition:
        lowered = func.lower(col.collate("und-x-icu"))
        return lowered.like("%" + _escape_like(lower_text(text)) + "%", escape="\\")

    def search(self, columns: tuple[ColumnElement[Any], ...], text: str) -> Condition:
        return self.search_all(columns, [text])

    def search_all(self, columns: tuple[ColumnElement[Any], ...], texts: list[str]) -> Condition:
        """The exact tests, on the rows whose search document (``search.pg_document``: the searched
        columns joined, lower case) holds every word: the trigram index ``ix_models_search`` finds
        those, and the document holds whatever a column holds, so the answer is the exact tests'."""
        exact = and_(*(self.exact_search(columns, text) for text in texts))
        if {c.name for c in columns} != _DOCUMENT_COLUMNS:
            return exact
        document = pg_document()
        found = [document.like("%" + _escape_like(lower_text(t)) + "%", escape="\\") for t in texts]
        return and_(*found, exact)

    def json_clean(self) -> Condition:
        resource = models.c.resource
        escape = literal(_NUL_ESCAPE, Text)
        return or_(func.strpos(resource, escape) == 0, not_(resource.regexp_match(_PG_NUL_ESCAPE_RE)))

    def _jsonb(self) -> ColumnElement[Any]:
        return cast(self.resource_json(), JSONB)

    def non_empty(self, path: list[str]) -> Condition:
        return self._jsonb()[path].isnot(None)

    def map_value(self, path: list[str], key: str, kind: Kind) -> ColumnElement[Any]:
        text_value = self._jsonb()[path].op("->>")(literal(key, Text))
        if kind in _NUMBER_KINDS:
            return cast(text_value, Float)
        if kind is Kind.BOOL:
            return cast(text_value, Boolean)
        return text_value

    def map_has_key(self, path: list[str], key: str) -> Condition:
        return func.coalesce(func.jsonb_exists(self._jsonb()[path], literal(key, Text)), false())

    def has_element(self, path: list[str], subpath: list[str], zero: Any, value: Any) -> Condition:
        elems = func.jsonb_array_elements(self._jsonb()[path]).table_valued("value")
        elem: ColumnElement[Any] = elems.c.value
        # ``#>>`` takes a text[] path; the empty path extracts a scalar element as text.
        text_value = elem.op("#>>")(bindparam(None, subpath, type_=ARRAY(Text)))
        found = func.coalesce(text_value, literal(_pg_text(zero), Text))
        target = literal(_pg_text(value), Text)
        return exists(select(literal(1)).select_from(elems).where(found == target))


#: The columns the PostgreSQL search document joins (``search.pg_document``).
_DOCUMENT_COLUMNS = frozenset({"model_id", "display_name", "description"})

_DIALECTS: dict[str, FilterDialect] = {d.name: d for d in (SqliteFilters(), PostgresFilters())}


def filter_dialect(name: str) -> FilterDialect:
    """The filter dialect of a database (SQLAlchemy's dialect name)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"no filter dialect for the {name!r} database") from None


#: A NUL character in JSON text (``\u0000``), and the PostgreSQL regular expression that tells it from
#: an escaped backslash followed by ``u0000`` (the escape's backslash follows an even number of them;
#: SQLite's ``modelyard_has_nul`` is ``engine.json_has_nul``).
_NUL_ESCAPE = "\\u0000"
_PG_NUL_ESCAPE_RE = r"(^|[^\\])(\\\\)*\\u0000"


def _sqlite_path(path: list[str]) -> str:
    return "$." + ".".join(path)


def _pg_text(value: Any) -> str:
    """How ``->>`` renders a JSON scalar as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sqlite_json_scalar(value: Any) -> Any:
    """How SQLite's JSON functions return a JSON scalar (true/false as 1/0)."""
    if isinstance(value, bool):
        return int(value)
    return value


#: The non-ASCII characters whose lower case (``lower_text``) holds an ASCII character: KELVIN SIGN
#: (``k``) and LATIN CAPITAL LETTER I WITH DOT ABOVE (``i`` and a combining dot). Checked over every code
#: point by ``tests/store/test_search_index.py``.
ASCII_LOWERING = ("\u212a", "\u0130")


def _glob_anywhere(word: str) -> str:
    """A GLOB pattern matching text that holds ``word`` (ASCII, lower case) in any ASCII letter case. GLOB
    is always case-sensitive (neither ``PRAGMA case_sensitive_like`` nor ICU changes it): each letter
    becomes a class of its two cases, and ``*``, ``?`` and ``[`` match themselves inside a class."""
    parts = []
    for c in word:
        if "a" <= c <= "z":
            parts.append(f"[{c}{c.upper()}]")
        elif c in "*?[":
            parts.append(f"[{c}]")
        else:
            parts.append(c)
    return "*" + "".join(parts) + "*"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
