"""Accounts: their rows, and the data version and model counts every write of their models keeps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.store.connections import Database
from modelyard.store.statistics import Statistics
from modelyard.store.tables import accounts


class Accounts:
    def __init__(self, database: Database, statistics: Statistics) -> None:
        self.database = database
        self.statistics = statistics

    def ensure(self, account_id: str, conn: Connection | None = None) -> None:
        """Create the account's row unless it exists (in ``conn``'s transaction, else in its own)."""
        if conn is None:
            with self.database.write() as c:
                self.ensure(account_id, c)
            return
        exists = conn.execute(
            select(accounts.c.account_id).where(accounts.c.account_id == account_id)
        ).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(accounts).values(account_id=account_id, create_time=now_nanos()))
            except IntegrityError:
                pass  # created concurrently

    def bump(self, conn: Connection, account_id: str, models_delta: int = 0, public_delta: int = 0) -> None:
        """Record a write to an account's models: a new data version, and the change in its counts."""
        values: dict[str, Any] = {"version": accounts.c.version + 1}
        if models_delta:
            values["model_count"] = accounts.c.model_count + models_delta
        if public_delta:
            values["public_count"] = accounts.c.public_count + public_delta
        stmt = update(accounts).where(accounts.c.account_id == account_id).values(**values)
        if self.database.dialect != "sqlite" or models_delta <= 0:
            conn.execute(stmt)
            return
        # SQLite has no autovacuum: refresh the planner's statistics (after the commit) when an account
        # grows past 1,000, 4,000, 16,000, ... models, whichever write path it grows by.
        count = conn.execute(stmt.returning(accounts.c.model_count)).scalar()
        if count is not None:
            self.statistics.grew(int(count) - models_delta, int(count))

    def model_counts(self, *, public_only: bool = False) -> dict[str, int]:
        """Models per account that holds any (for metrics); with ``public_only``, public models per
        account that holds public ones (accounts with only private models are left out)."""
        column = accounts.c.public_count if public_only else accounts.c.model_count
        with self.database.engine.connect() as conn:
            rows = conn.execute(select(accounts.c.account_id, column).where(column > 0)).all()
        return {r[0]: int(r[1]) for r in rows}
