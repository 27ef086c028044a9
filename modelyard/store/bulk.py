"""Batched writes: import batches (``write_rows``) and the initial bulk load into an empty catalog.

Rows are prepared apart from the database (``prepare_rows``: the CPU half of an import, which can run in
another process) and written in batches: COPY on PostgreSQL, executemany on SQLite. A bulk load drops
the models table's secondary indexes first and rebuilds exactly what it dropped before it commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from sqlalchemy import Connection, delete, select, text
from sqlalchemy.exc import IntegrityError

from modelyard.store.accounts import Accounts
from modelyard.store.connections import Database
from modelyard.store.errors import AlreadyExists, CatalogNotEmpty
from modelyard.store.models import complete
from modelyard.store.rows import COLUMNS, resource_to_values
from modelyard.store.search import FILL, FTS_TABLE
from modelyard.store.tables import models

#: The columns of a prepared row (``prepare_rows``), in table order.
ROW_COLUMNS = COLUMNS
ROW_NAME = ROW_COLUMNS.index("name")
_PUBLIC = ROW_COLUMNS.index("public")
#: A prepared ``models`` row: its values in ``ROW_COLUMNS`` order.
Row = tuple[Any, ...]

#: Names per ``IN (...)`` list when replacing or looking up a batch's models.
_CHUNK = 500

#: SQLite's staging table of a batch (columns without a type: values are converted once, by ``models``).
_STAGED = "models_staged"
_QUOTED = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
_MARKS = ", ".join("?" for _ in ROW_COLUMNS)


def prepare_rows(account_id: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Row]:
    """Row values (in ``ROW_COLUMNS`` order) for canonical resources: the CPU half of an import, with no
    database access, so it can run in another process."""
    return [
        resource_to_values(
            complete(account_id, model_id, resource, keep_times=True),
            account_id=account_id,
            model_id=model_id,
        )
        for model_id, resource in items
    ]


class BatchWriter:
    def __init__(self, database: Database, accounts: Accounts) -> None:
        self.database = database
        self.accounts = accounts

    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]:
        """Store prepared rows in one transaction (the database half of an import). Returns (created,
        replaced). Raises AlreadyExists naming the first existing model when not upserting."""
        with self.database.write() as conn:
            return self.write_in(conn, account_id, rows, upsert=upsert)

    def write_in(
        self, conn: Connection, account_id: str, rows: list[Row], *, upsert: bool
    ) -> tuple[int, int]:
        """``write_rows`` in the transaction of ``conn``."""
        names = [r[ROW_NAME] for r in rows]
        replaced = 0
        public_delta = sum(1 for r in rows if r[_PUBLIC])
        self.accounts.ensure(account_id, conn)
        if upsert:
            for start in range(0, len(names), _CHUNK):
                chunk = names[start : start + _CHUNK]
                gone = conn.execute(
                    delete(models).where(models.c.name.in_(chunk)).returning(models.c.public)
                ).all()
                replaced += len(gone)
                public_delta -= sum(1 for g in gone if g[0])
        if rows:
            try:
                with conn.begin_nested():
                    self._insert_many(conn, rows)
            except IntegrityError:
                found = conn.execute(select(models.c.name).where(models.c.name.in_(names[:_CHUNK]))).first()
                raise AlreadyExists(found[0] if found else names[0]) from None
        self.accounts.bump(conn, account_id, len(rows) - replaced, public_delta)
        return len(rows) - replaced, replaced

    def _insert_many(self, conn: Connection, rows: list[Row]) -> None:
        """Bulk insert: COPY on PostgreSQL (several times faster than INSERT); on SQLite the rows are staged
        in a temporary table without indexes and moved in one ``INSERT ... SELECT``. Inserting them one
        statement at a time would journal every page each row touches once per row (a table with
        triggers, ``search.py``'s, writes several tables per statement, so SQLite keeps a statement
        journal) and flush the FTS5 index once per row: 2.5 times slower."""
        if not self.database.postgresql:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_STAGED}")
            conn.exec_driver_sql(f"CREATE TEMP TABLE {_STAGED} ({_QUOTED})")
            conn.exec_driver_sql(f"INSERT INTO temp.{_STAGED} VALUES ({_MARKS})", [tuple(r) for r in rows])
            conn.exec_driver_sql(f"INSERT INTO main.models ({_QUOTED}) SELECT {_QUOTED} FROM temp.{_STAGED}")
            conn.exec_driver_sql(f"DROP TABLE temp.{_STAGED}")
            return
        raw = conn.connection.driver_connection
        assert raw is not None
        quoted = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
        try:
            with raw.cursor() as cursor, cursor.copy(f"COPY models ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.IntegrityError as e:  # the raw cursor's errors are not wrapped by SQLAlchemy
            raise IntegrityError("COPY models", None, e) from e

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[BulkLoad]:
        """An initial load into an empty catalog, several times faster than ``write_rows``: one
        transaction that takes the models table for itself, drops its secondary indexes (and on PostgreSQL
        its foreign key), loads, and rebuilds exactly what it dropped before it commits, which is far
        cheaper than maintaining a dozen indexes row by row. Each ``BulkLoad.write_rows`` is a savepoint
        (a rejected batch costs nothing else). If anything fails, everything is rolled back and the
        catalog is as it was. On PostgreSQL other sessions' reads and writes of models wait until the
        commit; on SQLite readers keep seeing the empty catalog meanwhile.

        Raises CatalogNotEmpty (before changing anything) when the catalog holds a model."""
        postgresql = self.database.postgresql
        with self.database.write() as conn:
            if postgresql:
                conn.execute(text("LOCK TABLE models IN ACCESS EXCLUSIVE MODE"))
            if conn.execute(select(models.c.name).limit(1)).first() is not None:
                raise CatalogNotEmpty("the catalog already holds models")
            rebuild = _drop_secondary(conn, postgresql=postgresql)
            yield BulkLoad(self, conn)
            if postgresql:
                # Sorting for the index builds: more memory than the 64 MB default, for this transaction.
                conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for statement in rebuild:
                conn.exec_driver_sql(statement)


class BulkLoad:
    """The writer of ``bulk_load``: batches of prepared rows on the load's connection."""

    def __init__(self, writer: BatchWriter, conn: Connection) -> None:
        self._writer = writer
        self._conn = conn

    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]:
        """Like ``BatchWriter.write_rows``, in a savepoint of the load. Raises AlreadyExists."""
        with self._conn.begin_nested():
            return self._writer.write_in(self._conn, account_id, rows, upsert=upsert)


def _drop_secondary(conn: Connection, *, postgresql: bool) -> list[str]:
    """Drop the models table's indexes other than its primary key (on PostgreSQL also its foreign keys, on
    SQLite its triggers); returns the statements that recreate them exactly as the database defined them
    (and on SQLite rebuild the search index from the loaded rows)."""
    if postgresql:
        indexes = conn.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = 'models'::regclass AND NOT indisprimary ORDER BY 1"
            )
        ).all()
        foreign = conn.execute(
            text(
                "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'models'::regclass AND contype = 'f' ORDER BY 1"
            )
        ).all()
        for name, _ in foreign:
            conn.exec_driver_sql(f"ALTER TABLE models DROP CONSTRAINT {name}")
        for name, _ in indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        restore = [f"ALTER TABLE models ADD CONSTRAINT {n} {d}" for n, d in foreign]
        return [d for _, d in indexes] + restore
    # On SQLite also the triggers that keep the search index (``search.py``) in sync: the index is rebuilt
    # from the loaded rows at once, which is cheaper than a trigger per row.
    objects = conn.execute(
        text(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND tbl_name = 'models' AND sql IS NOT NULL ORDER BY type, name"
        )
    ).all()
    for kind, name, _ in objects:
        conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')
    search = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": FTS_TABLE}
    ).first()
    rebuild = (
        [f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')", FILL] if search is not None else []
    )
    return [d for k, _, d in objects if k == "index"] + rebuild + [d for k, _, d in objects if k == "trigger"]
