"""exact model counts per account

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 04:40:00

``accounts.model_count`` and ``accounts.public_count`` are kept exact by every transaction that writes
an account's models, so an unfiltered List answers ``totalSize`` without counting rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_count", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("public_count", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        "UPDATE accounts SET "
        "model_count = (SELECT count(*) FROM models WHERE models.account_id = accounts.account_id), "
        "public_count = (SELECT count(*) FROM models WHERE models.account_id = accounts.account_id "
        "AND models.public), "
        "version = version + 1"
    )


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("public_count")
        batch_op.drop_column("model_count")
