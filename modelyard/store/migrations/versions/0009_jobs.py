"""jobs: leased rows taken by servers and ``modelyard worker`` processes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 22:00:00

``jobs`` (``store/jobs.py``): one row per job (``:prepare`` of a model to a precision): its state
(queued, running, done, failed, cancelled), the worker holding it and until when (the lease), the
attempts, progress and error. ``ux_jobs_active`` (partial, unique) keeps one active job per model,
kind and argument. Self-contained: it only adds this table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _string_c(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", _string_c(32), nullable=False),
        sa.Column("kind", _string_c(32), nullable=False),
        sa.Column("account_id", _string_c(63), nullable=False),
        sa.Column("model_id", _string_c(63), nullable=False),
        sa.Column("argument", _string_c(64), nullable=False),
        sa.Column("state", _string_c(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.Column("lease_expires", sa.BigInteger(), nullable=True),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_state_create_time", "jobs", ["state", "create_time"])
    active = sa.text("state IN ('queued', 'running')")
    op.create_index(
        "ux_jobs_active",
        "jobs",
        ["account_id", "model_id", "kind", "argument"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_active", table_name="jobs")
    op.drop_index("ix_jobs_state_create_time", table_name="jobs")
    op.drop_table("jobs")
