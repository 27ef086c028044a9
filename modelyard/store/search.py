"""The full-text index global search uses as a pre-filter (migration 0006).

A bare filter word matches a model when it is a case-insensitive substring (``filter_dialects.lower_text``)
of its model id, display name or description. That test reads every visible row, so the databases keep a
trigram index of the three columns:

* SQLite: ``models_search``, an FTS5 table with the ``trigram`` tokenizer over ``models`` (external
  content: it holds only the index, without positions; rows are joined by ``rowid``), kept in sync by
  the ``models_search_*`` triggers and rebuilt after a bulk load (``bulk.py``);
* PostgreSQL: ``pg_trgm`` GIN indexes on the three lower-cased columns (``ix_models_search_*``), when the
  extension could be created; the planner uses them for the ``LIKE`` of ``PostgresFilters.contains``
  itself, so nothing here is needed at query time.

On SQLite the index only narrows the rows: the exact substring test still runs on every candidate, so a
search answers exactly what it answered without the index. It is used only where the FTS5 match is a
guaranteed superset of the exact test (``fts_phrase``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Integer, Text, column, literal, literal_column, select, table

#: The SQLite FTS5 table, its triggers, and the PostgreSQL trigram indexes (by name).
FTS_TABLE = "models_search"
FTS_TRIGGERS = ("models_search_insert", "models_search_delete", "models_search_update")
PG_INDEXES = ("ix_models_search_model_id", "ix_models_search_display_name", "ix_models_search_description")

#: Trigrams: a shorter word has none, and the index cannot narrow it down.
MIN_INDEXED = 3

_fts = table(FTS_TABLE, column("rowid", Integer))


def is_search_object(name: str | None) -> bool:
    """Whether a schema object belongs to the search index (not declared in ``tables.metadata``: FTS5
    creates its own shadow tables, and the PostgreSQL indexes exist only where pg_trgm could be created)."""
    return bool(name) and (str(name).startswith(FTS_TABLE) or str(name) in PG_INDEXES)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: compare everything but the search index with ``tables.metadata``."""
    return not is_search_object(name)


def fts_phrase(word: str) -> str | None:
    """The FTS5 query (its trigrams, quoted, ANDed) whose matches include every row ``word`` finds, or
    ``None`` when the index cannot narrow the search down.

    The FTS5 trigram tokenizer folds case one code point at a time; the project's ``lower_text`` is
    Python's ``str.lower``. For an ASCII word the two agree, with two exceptions, the only non-ASCII code
    points whose lower case holds an ASCII letter: the Kelvin sign (U+212A, ``k``), which FTS5 folds to
    ``k`` as well, and ``İ`` (U+0130), which Python lowers to ``i`` and a combining dot and FTS5 does not
    fold to ``i``. The combining dot can only be followed by the end of an ASCII word, so a word ending
    in ``i`` is looked up without it. Non-ASCII words are never looked up (other foldings differ).
    ``tests/store/test_search_index.py`` checks these facts against the SQLite in use."""
    if not word.isascii():
        return None
    core = word[:-1] if word[-1:] in ("i", "I") else word
    if len(core) < MIN_INDEXED:
        return None
    # The index keeps no positions (``detail=none``): every trigram of the word, in any order. A column
    # that holds the word holds them all, so this finds at least the rows the exact test finds.
    trigrams = dict.fromkeys(core[i : i + MIN_INDEXED] for i in range(len(core) - MIN_INDEXED + 1))
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def fts_candidates(rowid: ColumnElement[int], phrase: str) -> ColumnElement[bool]:
    """``rowid`` is among the rows of ``models`` whose search columns match the FTS5 ``phrase``."""
    matching = select(_fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(literal(phrase, Text)))
    return rowid.in_(matching)


__all__ = [
    "FTS_TABLE",
    "FTS_TRIGGERS",
    "PG_INDEXES",
    "fts_candidates",
    "fts_phrase",
    "include_name",
    "is_search_object",
]
