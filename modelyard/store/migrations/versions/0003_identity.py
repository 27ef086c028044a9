"""identity: users with roles, keys owned by users (with an expiry), the audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:30:00

Every existing key stays valid: each account that holds keys gets a bootstrap ``admin`` user (role
``admin``) and its keys become that user's keys, never expiring.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("email", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "users",
        sa.Column("account_id", _id(63), nullable=False),
        sa.Column("user_id", _id(63), nullable=False),
        sa.Column("role", _id(32), nullable=False),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("email", sa.Text(), server_default="", nullable=False),
        sa.Column("service_account", sa.Boolean(create_constraint=False), server_default="0", nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("account_id", "user_id"),
    )
    now = time.time_ns()
    op.execute(
        sa.text(
            "INSERT INTO users (account_id, user_id, role, display_name, email, service_account, "
            "create_time, update_time) "
            "SELECT DISTINCT account_id, 'admin', 'admin', '', '', false, :now, :now FROM api_keys"
        ).bindparams(now=now)
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", _id(63), nullable=True))
        batch_op.add_column(sa.Column("expire_time", sa.BigInteger(), server_default="0", nullable=False))
    op.execute("UPDATE api_keys SET user_id = 'admin'")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=_id(63), nullable=False)
        batch_op.create_foreign_key(
            "fk_api_keys_user", "users", ["account_id", "user_id"], ["account_id", "user_id"]
        )
        batch_op.create_index("ix_api_keys_account_user", ["account_id", "user_id"], unique=False)
    op.create_table(
        "audit_logs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("account_id", _id(63), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.Text(), server_default="", nullable=False),
        sa.Column("api_key_id", sa.Text(), server_default="", nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("request_id", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_logs_account_time", "audit_logs", ["account_id", "time", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_logs_account_time", table_name="audit_logs")
    op.drop_table("audit_logs")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_account_user")
        batch_op.drop_constraint("fk_api_keys_user", type_="foreignkey")
        batch_op.drop_column("expire_time")
        batch_op.drop_column("user_id")
    op.drop_table("users")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("email")
        batch_op.drop_column("display_name")
