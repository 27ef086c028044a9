"""a leaner index set: partial indexes of public models, one trigram index for global search

Revision ID: 0010
Revises: 0009 (chained to 0007 on this branch until 0008 and 0009 are merged: see down_revision)
Create Date: 2026-12-07 23:00:00

Measured at 100k and 1M models (``bench/bench_footprint.py``, ``docs/benchmarks.md``), the indexes of the
models table held more than twice the table itself. This migration, in place:

* makes the indexes that serve only public models partial (``WHERE public IS true``, written as the
  queries write it so that both databases' planners use them): the public catalog's order indexes
  ``ix_models_public_*``, its facet index ``ix_models_facets_public``, and ``ix_models_account_public``
  (another account's public models). They indexed every row, public or not;
* on PostgreSQL, replaces the three per-column trigram GIN indexes of 0006 by one, ``ix_models_search``,
  on the lower-cased search document (``store/search.py``: the model id, display name and description
  joined by U+0001), which global search queries through the same expression.

The per-column exact test still decides every match, so search answers exactly as before.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0010"
# Merge note: re-point to "0009" once the revisions (0008) and jobs (0009) migrations are on main.
down_revision = "0009"
branch_labels = None
depends_on = None

_PUBLIC_ORDER = [
    "display_name",
    "update_time",
    "create_time",
    "context_length",
    "base_model_details__parameter_count",
]
_FACETS = [
    "kind",
    "supports_serverless",
    "supports_tools",
    "supports_image_input",
    "tunable",
    "context_length",
    "has_base_model_details",
    "base_model_details__parameter_count",
    "display_name",
    "update_time",
    "create_time",
    "state",
    "supports_lora",
    "calibrated",
    "use_hf_apply_chat_template",
    "rl_tunable",
    "supervised_lora_tunable",
    "supervised_full_parameter_tunable",
    "rl_lora_tunable",
    "rl_full_parameter_tunable",
]
#: (index name, columns) of the indexes that become partial.
_PUBLIC_INDEXES = [
    ("ix_models_public_name", ["public", "name"]),
    *((f"ix_models_public_{c}"[:63], ["public", c, "name"]) for c in _PUBLIC_ORDER),
    ("ix_models_facets_public", ["public", *_FACETS]),
    ("ix_models_account_public", ["account_id", "public", "name"]),
]
_SEARCH_COLUMNS = ("model_id", "display_name", "description")
# A copy of ``store.search.PG_INDEX_SQL`` as of this revision.
_SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_models_search ON models USING gin "
    "(lower((model_id || E'\\x01' || display_name || E'\\x01' || description) COLLATE \"und-x-icu\") "
    "gin_trgm_ops)"
)


def _public_indexes(partial: bool) -> None:
    # Plain index statements, not a batch: a batch may rebuild ``models`` on SQLite, which would drop the
    # search index's triggers (0006).
    sqlite = op.get_bind().dialect.name == "sqlite"
    where = text("public IS 1" if sqlite else "public IS true") if partial else None
    for name, columns in _PUBLIC_INDEXES:
        op.drop_index(name, table_name="models")
        op.create_index(name, "models", columns, unique=False, postgresql_where=where, sqlite_where=where)


def _has_trigram() -> bool:
    row = op.get_bind().exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first()
    return row is not None


def upgrade() -> None:
    _public_indexes(partial=True)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        if (
            bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
            is not None
        ):
            # Full statistics for the new indexes, like the others' (see 0007).
            for name, _ in _PUBLIC_INDEXES:
                bind.exec_driver_sql(f"ANALYZE {name}")
        return
    if not _has_trigram():
        return  # no pg_trgm here (0006): search stays unindexed
    bind.exec_driver_sql(_SEARCH_INDEX)
    for column in _SEARCH_COLUMNS:
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS ix_models_search_{column}")


def downgrade() -> None:
    _public_indexes(partial=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" or not _has_trigram():
        return
    for column in _SEARCH_COLUMNS:
        bind.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_models_search_{column} ON models "
            f'USING gin (lower({column} COLLATE "und-x-icu") gin_trgm_ops)'
        )
    bind.exec_driver_sql("DROP INDEX IF EXISTS ix_models_search")
