"""The full-text index global search uses as a pre-filter (migrations 0006 and 0010).

A bare filter word matches a model when it is a case-insensitive substring (``filter_dialects.lower_text``)
of its model id, display name or description. That test reads every visible row, so the databases keep a
trigram index of the three columns:

* SQLite: ``models_search``, a contentless FTS5 table with the ``trigram`` tokenizer, ``detail=none``
  (which rows hold a trigram, nothing more), keyed by ``models.rowid``. Each column is indexed followed by
  two ``END`` characters (``indexed()``), so that every occurrence of even a two-character word starts a
  trigram. ``models_search_terms`` (``fts5vocab``) lists its trigrams. The ``models_search_*`` triggers
  keep it in sync, and ``bulk.py`` refills it after a bulk load (``FILL``);
* PostgreSQL: one ``pg_trgm`` GIN index, ``ix_models_search``, on one expression: the lower-cased
  *document* ``model_id || U+0001 || display_name || U+0001 || description`` (:func:`pg_document`,
  :data:`PG_INDEX_SQL`), when the extension could be created (migration 0010; 0006 indexed the three
  columns separately, three times the entries and one bitmap per column). ``PostgresFilters.search_all``
  tests each word against the document first (``LIKE '%word%'``: the planner answers it from the index,
  since the query's expression is the index's own), then runs the exact per-column test on the rows the
  index found.

On both databases the index only narrows the rows: the exact substring test still runs on every
candidate, so a search answers exactly what it answered without the index. It is used only where its
candidates are a guaranteed superset of the exact test's matches: on SQLite, ``lookup``; on PostgreSQL,
the lower case (ICU, root locale) of the document is the columns' lower cases joined by U+0001, since
the only context-dependent lowering of that locale, the final sigma, treats U+0001 (a control character,
neither cased nor case-ignorable) like the end of the text, so every column's lower case is a substring
of the document's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, Text, column, func, literal, literal_column, select, table

from modelyard.store.tables import models

#: The SQLite FTS5 table, its term list, its triggers, and the PostgreSQL trigram index (by name).
FTS_TABLE = "models_search"
FTS_TERMS = "models_search_terms"
FTS_TRIGGERS = ("models_search_insert", "models_search_delete", "models_search_update")
PG_INDEX = "ix_models_search"
PG_INDEXES = (PG_INDEX,)
#: The per-column trigram indexes of migration 0006, replaced by ``PG_INDEX`` in 0010.
PG_INDEXES_0006 = (
    "ix_models_search_model_id",
    "ix_models_search_display_name",
    "ix_models_search_description",
)

#: The PostgreSQL search document, as the index's definition writes it (migration 0010 holds a copy;
#: ``tests/store/test_search_index.py`` checks that the planner matches it with :func:`pg_document`).
PG_DOCUMENT_SQL = (
    "lower((model_id || E'\\x01' || display_name || E'\\x01' || description) COLLATE \"und-x-icu\")"
)
PG_INDEX_SQL = f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON models USING gin ({PG_DOCUMENT_SQL} gin_trgm_ops)"

#: The columns indexed, and what follows each one in the index.
COLUMNS = ("model_id", "display_name", "description")
END = "\x01\x01"


def indexed(value: str) -> str:
    """What the index holds for a column's value (``END`` after it: the SQLite triggers append
    ``char(1, 1)``)."""
    return value + END


#: Fills the (empty) index from every row of ``models`` (after a bulk load, and in migration 0006).
FILL = (
    f"INSERT INTO {FTS_TABLE}(rowid, {', '.join(COLUMNS)}) "
    f"SELECT rowid, {', '.join(f'{c} || char(1, 1)' for c in COLUMNS)} FROM models"
)

#: Trigrams: the index narrows down words of two characters or more (``lookup``).
TRIGRAM = 3

_fts = table(FTS_TABLE, column("rowid", Integer))
_terms = table(FTS_TERMS, column("term", Text))
#: A trigram that no model holds (a control character three times): an FTS5 query for "no term".
_NO_TERM = '"\x02\x02\x02"'


def pg_document() -> ColumnElement[str]:
    """The lower-cased search document of a row on PostgreSQL: the expression ``PG_INDEX`` indexes
    (``PG_DOCUMENT_SQL``), written the same way so that the planner recognises it."""
    separator = literal_column("E'\\x01'", Text)
    joined = models.c.model_id + separator + models.c.display_name + separator + models.c.description
    return func.lower(joined.self_group().collate("und-x-icu"))


def is_search_object(name: str | None) -> bool:
    """Whether a schema object belongs to the search index (not declared in ``tables.metadata``: FTS5
    creates its own shadow tables, and the PostgreSQL indexes exist only where pg_trgm could be created)."""
    return bool(name) and (
        str(name).startswith(FTS_TABLE) or str(name) in PG_INDEXES or str(name) in PG_INDEXES_0006
    )


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: compare everything but the search index with ``tables.metadata``."""
    return not is_search_object(name)


@dataclass(frozen=True)
class Lookup:
    """How the index finds (at least) the rows holding a word: an FTS5 query of the word's trigrams
    (``match``), or for a two-character word, every trigram that starts with it (``prefix``)."""

    match: str = ""
    prefix: str = ""


def lookup(word: str) -> Lookup | None:
    """How the index narrows down the rows holding ``word`` (lower case), or ``None`` when it cannot.

    The FTS5 trigram tokenizer folds case one code point at a time; the project's ``lower_text`` is
    Python's ``str.lower``. For an ASCII word the two agree, with two exceptions, the only non-ASCII code
    points whose lower case holds an ASCII letter: the Kelvin sign (U+212A, ``k``), which FTS5 folds to
    ``k`` as well, and ``İ`` (U+0130), which Python lowers to ``i`` and a combining dot and FTS5 does not
    fold to ``i``. The combining dot can only be followed by the end of an ASCII word, so a word ending
    in ``i`` is looked up without it. Non-ASCII words are never looked up (other foldings differ).
    ``tests/store/test_search_index.py`` checks these facts against the SQLite in use.

    The index keeps no positions (``detail=none``): a longer word is looked up as all of its trigrams, in
    any order; a column that holds the word holds them all. A two-character word starts a trigram wherever
    it occurs (``END`` follows every column), so the rows holding it are among those holding a trigram that
    starts with it."""
    if not word.isascii():
        return None
    core = word[:-1] if word[-1:] in ("i", "I") else word
    if len(core) < TRIGRAM - 1:
        return None
    if len(core) == TRIGRAM - 1:
        return Lookup(prefix=core.lower())
    trigrams = dict.fromkeys(core[i : i + TRIGRAM] for i in range(len(core) - TRIGRAM + 1))
    return Lookup(match=" AND ".join(_quoted(t) for t in trigrams))


def fts_candidates(rowid: ColumnElement[int], found: Sequence[Lookup]) -> ColumnElement[bool]:
    """``rowid`` is among the rows of ``models`` the index finds for every one of some words (one FTS5
    query: the index intersects them)."""
    queries = [_query(f) for f in found]
    query = queries[0]
    if len(queries) > 1:
        query = literal("(", Text) + queries[0] + literal(")", Text)
        for more in queries[1:]:
            query = query + literal(" AND (", Text) + more + literal(")", Text)
    matching = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(query))
    return rowid.in_(matching)


def _query(found: Lookup) -> ColumnElement[str]:
    """The FTS5 query of one word."""
    if found.match:
        return literal(found.match, Text)
    # The trigrams that start with the two characters (the term list is ordered: a range), ORed.
    low = found.prefix
    high = low[0] + chr(ord(low[1]) + 1)
    quoted = literal('"', Text) + func.replace(_terms.c.term, '"', '""') + literal('"', Text)
    terms = func.group_concat(quoted, literal(" OR ", Text))
    return (
        select(func.coalesce(terms, literal(_NO_TERM, Text)))
        .where(_terms.c.term >= literal(low, Text), _terms.c.term < literal(high, Text))
        .scalar_subquery()
    )


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


__all__ = [
    "COLUMNS",
    "END",
    "FILL",
    "FTS_TABLE",
    "FTS_TERMS",
    "FTS_TRIGGERS",
    "PG_DOCUMENT_SQL",
    "PG_INDEX",
    "PG_INDEXES",
    "PG_INDEXES_0006",
    "PG_INDEX_SQL",
    "Lookup",
    "fts_candidates",
    "include_name",
    "indexed",
    "is_search_object",
    "lookup",
    "pg_document",
]
