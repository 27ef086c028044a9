"""Planner statistics: ANALYZE after a bulk load, and on SQLite (no autovacuum) as an account grows."""

from __future__ import annotations

from modelyard.store.connections import Database

#: Rows examined per index when SQLite's statistics are refreshed after a write (a few milliseconds).
SQLITE_ANALYSIS_LIMIT = 2000


def crosses_size(before: int, after: int) -> bool:
    """Whether a model count went from ``before`` to at least one of 1,000, 4,000, 16,000, ..."""
    size = 1000
    while size <= after:
        if before < size:
            return True
        size *= 4
    return False


class Statistics:
    """Refreshes the planner's statistics. A write that grows an account past a size marks them stale
    (``grew``); they are refreshed after its commit (``after_commit``), whichever write path it was."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._stale = False

    def grew(self, before: int, after: int) -> None:
        if crosses_size(before, after):
            self._stale = True

    def after_commit(self) -> None:
        if self._stale:
            self._stale = False
            self.analyze(limit=SQLITE_ANALYSIS_LIMIT)

    def analyze(self, *, limit: int = 0) -> None:
        """Refresh planner statistics after a bulk load (and, on PostgreSQL, the visibility map, so that
        covering indexes answer pages and counts without visiting the table). On SQLite ``limit`` bounds
        the rows examined per index (``PRAGMA analysis_limit``; 0 reads everything)."""
        engine = self.database.engine
        if self.database.postgresql:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) models")
        else:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit)}")
                conn.exec_driver_sql("ANALYZE")
                conn.exec_driver_sql("PRAGMA analysis_limit = 0")
                conn.commit()
