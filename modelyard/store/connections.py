"""Connections and transactions of the store: the write transaction, the autocommit reader."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine

from modelyard.store import audit


class Database:
    """An engine and the dialect name, chosen once, with the two ways the store uses a connection."""

    def __init__(self, engine: Engine, *, after_commit: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.postgresql = self.dialect == "postgresql"
        self.after_commit = after_commit

    def write(self) -> Transaction:
        """A write transaction (SQLite takes the write lock at BEGIN)."""
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        return Transaction(conn, self.after_commit)

    def reader(self) -> Connection:
        """A connection for reads. On PostgreSQL in autocommit: each statement is its own snapshot and
        costs no BEGIN/COMMIT round trips (list reads are single statements by design)."""
        conn = self.engine.connect()
        if self.postgresql:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn


class Transaction:
    """``with database.write() as conn``: a connection in a transaction, committed on success (then
    ``after_commit`` runs)."""

    def __init__(self, conn: Connection, after_commit: Callable[[], None]) -> None:
        self.conn = conn
        self.after_commit = after_commit

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                audit.flush_pending(self.conn)  # the request's audit entry, in the write's transaction
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
        if exc_type is None:
            self.after_commit()
