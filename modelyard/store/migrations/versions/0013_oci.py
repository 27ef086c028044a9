"""the OCI door: stored and generated manifests, tags of stored manifests, blobs linked to repositories

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:00:00

``oci_manifests``: manifests pushed as they are (signatures, SBOMs: anything that is not a model's files)
and the ModelPack manifests generated from revisions (frozen at first pull, with their config blob).
``oci_tags``: tags of stored manifests. ``oci_blobs``: blobs pushed to a repository (``modelyard/oci``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _text_c(length: int | None = None) -> sa.types.TypeEngine[str]:
    base = sa.String(length) if length else sa.Text()
    collated = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(collated, "postgresql")


def upgrade() -> None:
    op.create_table(
        "oci_manifests",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("digest", _text_c(71), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("artifact_type", sa.Text(), nullable=True),
        sa.Column("subject", _text_c(71), nullable=True),
        sa.Column("commit_id", _text_c(40), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("config_digest", _text_c(71), nullable=True),
        sa.Column("config", sa.LargeBinary(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model_id", "digest"),
    )
    op.create_index("ix_oci_manifests_subject", "oci_manifests", ["account_id", "model_id", "subject"])
    op.create_index("ix_oci_manifests_commit", "oci_manifests", ["account_id", "model_id", "commit_id"])
    op.create_index("ix_oci_manifests_config", "oci_manifests", ["config_digest"])
    op.create_table(
        "oci_tags",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("tag", _text_c(128), nullable=False),
        sa.Column("digest", _text_c(71), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model_id", "tag"),
    )
    op.create_table(
        "oci_blobs",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("sha256", _text_c(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model_id", "sha256"),
    )
    op.create_index("ix_oci_blobs_sha256", "oci_blobs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_oci_blobs_sha256", table_name="oci_blobs")
    op.drop_table("oci_blobs")
    op.drop_table("oci_tags")
    op.drop_index("ix_oci_manifests_config", table_name="oci_manifests")
    op.drop_index("ix_oci_manifests_commit", table_name="oci_manifests")
    op.drop_index("ix_oci_manifests_subject", table_name="oci_manifests")
    op.drop_table("oci_manifests")
