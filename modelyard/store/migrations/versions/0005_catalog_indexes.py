"""indexes for the catalog pages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:55:00

The public catalog (``/catalog`` without a key) lists ``public`` models of every account: one index per
order its sort menu offers (display name, update and create time, context length, parameter count; name
has ``ix_models_public_name``), so a page is an index walk. Two covering indexes hold
every column a facet option tests, so the facet counts of a scope are an index-only scan (see
``store/facets.py``).
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
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


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index(
            "ix_models_public_display_name", ["public", "display_name", "name"], unique=False
        )
        batch_op.create_index("ix_models_public_update_time", ["public", "update_time", "name"], unique=False)
        batch_op.create_index("ix_models_public_create_time", ["public", "create_time", "name"], unique=False)
        batch_op.create_index(
            "ix_models_public_context_length", ["public", "context_length", "name"], unique=False
        )
        batch_op.create_index(
            "ix_models_public_base_model_details__parameter_count",
            ["public", "base_model_details__parameter_count", "name"],
            unique=False,
        )
        batch_op.create_index("ix_models_facets_account", ["account_id", "public", *_FACETS], unique=False)
        batch_op.create_index("ix_models_facets_public", ["public", *_FACETS], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index("ix_models_facets_public")
        batch_op.drop_index("ix_models_facets_account")
        batch_op.drop_index("ix_models_public_base_model_details__parameter_count")
        batch_op.drop_index("ix_models_public_context_length")
        batch_op.drop_index("ix_models_public_create_time")
        batch_op.drop_index("ix_models_public_update_time")
        batch_op.drop_index("ix_models_public_display_name")
