"""a trigram index for global search

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:00:00

Global search (a bare filter word: a case-insensitive substring of the model id, display name or
description) read every visible row. This adds a trigram index of those three columns (see
``modelyard/store/search.py``):

* SQLite: ``models_search``, a contentless FTS5 table with the ``trigram`` tokenizer keyed by
  ``models.rowid`` (without positions), its term list ``models_search_terms``, filled from the existing
  rows and kept in sync by three triggers. A later migration that rebuilds ``models`` (a batch "move and
  copy") drops the triggers with the old table and may renumber rows: it must recreate them and
  refill the index (``search.FILL``).
* PostgreSQL: ``pg_trgm`` GIN indexes on the lower-cased columns, as ``PostgresFilters.contains`` writes
  them. ``pg_trgm`` is a trusted extension (PostgreSQL 13+); where ``CREATE EXTENSION`` is refused the
  indexes are left out and search works as before, unindexed.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("model_id", "display_name", "description")
# Each column is indexed followed by two char(1): every occurrence of a two-character word then starts a
# trigram (``modelyard/store/search.py``).
_NEW = ", ".join(f"new.{c} || char(1, 1)" for c in _COLUMNS)
_OLD = ", ".join(f"old.{c} || char(1, 1)" for c in _COLUMNS)
_LIST = ", ".join(_COLUMNS)

_SQLITE_UP = [
    # Contentless (the rows are models'), detail=none, columnsize=0: which rows hold a trigram, nothing
    # more, which is all a pre-filter needs; half the size of a full index and twice as fast to fill.
    f"CREATE VIRTUAL TABLE models_search USING fts5({_LIST}, content='', tokenize='trigram', "
    "detail=none, columnsize=0)",
    "CREATE VIRTUAL TABLE models_search_terms USING fts5vocab(models_search, 'row')",
    f"""CREATE TRIGGER models_search_insert AFTER INSERT ON models BEGIN
  INSERT INTO models_search(rowid, {_LIST}) VALUES (new.rowid, {_NEW});
END""",
    f"""CREATE TRIGGER models_search_delete AFTER DELETE ON models BEGIN
  INSERT INTO models_search(models_search, rowid, {_LIST}) VALUES ('delete', old.rowid, {_OLD});
END""",
    f"""CREATE TRIGGER models_search_update AFTER UPDATE OF {_LIST} ON models BEGIN
  INSERT INTO models_search(models_search, rowid, {_LIST}) VALUES ('delete', old.rowid, {_OLD});
  INSERT INTO models_search(rowid, {_LIST}) VALUES (new.rowid, {_NEW});
END""",
    f"INSERT INTO models_search(rowid, {_LIST}) SELECT rowid, "
    + ", ".join(f"{c} || char(1, 1)" for c in _COLUMNS)
    + " FROM models",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS models_search_update",
    "DROP TRIGGER IF EXISTS models_search_delete",
    "DROP TRIGGER IF EXISTS models_search_insert",
    "DROP TABLE IF EXISTS models_search_terms",
    "DROP TABLE IF EXISTS models_search",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            bind.exec_driver_sql(statement)
        return
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError:
        return  # no pg_trgm here: search stays unindexed
    for name in _COLUMNS:
        bind.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_models_search_{name} ON models "
            f'USING gin (lower({name} COLLATE "und-x-icu") gin_trgm_ops)'
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            bind.exec_driver_sql(statement)
        return
    for name in _COLUMNS:
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS ix_models_search_{name}")
