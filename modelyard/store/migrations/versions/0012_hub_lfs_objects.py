"""the Hub door's LFS objects: which repository proved it holds which blob

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:00:00

``hub_lfs_objects``: a blob whose bytes were uploaded (and verified) for a repository through the Hub's
LFS API (``store/hub_objects.py``). A commit may name an LFS object only when the repository's revisions
already hold it or it was uploaded for this repository, so nobody reaches another repository's bytes by
knowing their SHA-256.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _text_c(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "hub_lfs_objects",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("sha256", _text_c(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model_id", "sha256"),
    )


def downgrade() -> None:
    op.drop_table("hub_lfs_objects")
