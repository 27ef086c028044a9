"""the catalog's name order: case-insensitive, unnamed models among the others by id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:00:00

Expression indexes on ``lower(coalesce(nullif(display_name, ''), model_id))`` per account and over the
public models (``tables.CATALOG_NAME_SQL``, ``store/catalog_order.py``), so that the catalog's "Name (A to
Z)" walks an index as the plain ``display_name`` order does.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_KEY = "lower(coalesce(nullif(display_name, ''), model_id))"


def upgrade() -> None:
    # Plain statements, not a batch: a batch may rebuild ``models`` on SQLite, which would drop the search
    # index's triggers (0006).
    op.execute(f"CREATE INDEX ix_models_account_catalog_name ON models (account_id, {_KEY}, name)")
    bind = op.get_bind()
    # Over public models only, as the other public-prefixed indexes since 0010 (a partial index).
    public = "public IS 1" if bind.dialect.name == "sqlite" else "public IS true"
    op.execute(f"CREATE INDEX ix_models_public_catalog_name ON models (public, {_KEY}, name) WHERE {public}")
    if bind.dialect.name == "sqlite":
        if (
            bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
            is not None
        ):
            bind.exec_driver_sql("ANALYZE ix_models_account_catalog_name")
            bind.exec_driver_sql("ANALYZE ix_models_public_catalog_name")
    else:
        op.execute("ANALYZE models")


def downgrade() -> None:
    op.drop_index("ix_models_public_catalog_name", table_name="models")
    op.drop_index("ix_models_account_catalog_name", table_name="models")
