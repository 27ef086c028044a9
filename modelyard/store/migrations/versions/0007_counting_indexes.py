"""the facet indexes cover what counting a catalog view reads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:30:00

``ix_models_facets_account`` and ``ix_models_facets_public`` (0005) also hold, after the facet columns,
the catalog's sort columns and the flags and state an advanced filter most often tests
(``tables.COUNTED_COLUMNS``): one pass over the index counts a view's facet options, its total and the
bounds of its order (``store/facets.py``) without reading the table.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FACETS = [
    "kind",
    "supports_serverless",
    "supports_tools",
    "supports_image_input",
    "tunable",
    "context_length",
    "has_base_model_details",
    "base_model_details__parameter_count",
]
_COUNTED = [
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


def _replace(columns: list[str]) -> None:
    # Plain index statements, not a batch: a batch may rebuild ``models`` on SQLite, which would drop the
    # search index's triggers (0006).
    op.drop_index("ix_models_facets_public", table_name="models")
    op.drop_index("ix_models_facets_account", table_name="models")
    op.create_index("ix_models_facets_account", "models", ["account_id", "public", *columns], unique=False)
    op.create_index("ix_models_facets_public", "models", ["public", *columns], unique=False)


def upgrade() -> None:
    _replace([*_FACETS, *_COUNTED])
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is not None:
        # SQLite's planner takes an index without statistics (or with sampled ones, next to the full ones
        # of the other indexes) for a selective one, and would walk it for pages: give the new indexes
        # full statistics, like the others'.
        bind.exec_driver_sql("ANALYZE ix_models_facets_account")
        bind.exec_driver_sql("ANALYZE ix_models_facets_public")


def downgrade() -> None:
    _replace(_FACETS)
