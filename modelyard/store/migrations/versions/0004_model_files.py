"""model files and content-addressed blobs

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 00:45:00

``model_files``: the files declared for each model by ``:getUploadEndpoint`` (size, upload id, URL expiry,
and where the bytes are once they arrived). ``blobs``: file storage's blobs by SHA-256.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def _text_c(length: int | None = None) -> sa.types.TypeEngine[str]:
    base = sa.String(length) if length else sa.Text()
    collated = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(collated, "postgresql")


def upgrade() -> None:
    op.create_table(
        "model_files",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("path", _text_c(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("upload_id", _text_c(32), nullable=False),
        sa.Column("expire_time", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("complete_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "model_id", "path"),
    )
    op.create_index("ix_model_files_location", "model_files", ["location"])
    op.create_table(
        "blobs",
        sa.Column("sha256", _text_c(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("blobs")
    op.drop_index("ix_model_files_location", table_name="model_files")
    op.drop_table("model_files")
