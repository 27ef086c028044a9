"""Model files in the database: the declared file list of each model and file storage's blobs.

Every write is one transaction. Placing a blob (a PUT that completed) and deleting one (garbage
collection) both lock the blob's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions
are serial), so a blob is never deleted while another model's file is being pointed at it, on any
replica. Driver errors meaning the database does not answer leave as the store's ``Unavailable``
(``store/errors.py``), as from every ``Store`` method.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.storage.base import FileRef
from modelyard.store.errors import translating
from modelyard.store.tables import blobs, model_files, models, oci_blobs, revision_files


class ModelMissing(Exception):
    """The model does not exist."""


@dataclass(frozen=True)
class DeclaredFile:
    ref: FileRef
    expire_time: int
    complete: bool


@dataclass(frozen=True)
class ModelRow:
    resource: dict[str, Any]
    public: bool

    @property
    @translating
    def state(self) -> str:
        return str(self.resource.get("state", "STATE_UNSPECIFIED"))


def _declared(row: Any) -> DeclaredFile:
    ref = FileRef(row.account_id, row.model_id, row.path, int(row.size), row.upload_id, row.location)
    return DeclaredFile(ref, int(row.expire_time), row.complete_time is not None)


class FileStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        conn = self.engine.connect()
        if self.dialect == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            with conn.begin():
                yield conn
        finally:
            conn.close()

    # -- models ----------------------------------------------------------------------------------------
    def _model(self, conn: Connection, account_id: str, model_id: str, *, lock: bool) -> ModelRow | None:
        stmt = select(models.c.resource, models.c.public).where(
            models.c.name == f"accounts/{account_id}/models/{model_id}"
        )
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        return None if row is None else ModelRow(orjson.loads(row.resource), bool(row.public))

    @translating
    def model(self, account_id: str, model_id: str) -> ModelRow | None:
        with self.engine.connect() as conn:
            return self._model(conn, account_id, model_id, lock=False)

    # -- the file list ---------------------------------------------------------------------------------
    @translating
    def declare(
        self,
        account_id: str,
        model_id: str,
        sizes: Mapping[str, int],
        upload_id: str,
        expire_time: int,
        check: Callable[[ModelRow], None],
    ) -> list[DeclaredFile]:
        """Replace the model's file list (under the model's row lock); returns the files it replaced.
        ``check`` sees the model first and may raise. Raises ModelMissing."""
        now = now_nanos()
        with self._write() as conn:
            model = self._model(conn, account_id, model_id, lock=True)
            if model is None:
                raise ModelMissing(f"accounts/{account_id}/models/{model_id}")
            check(model)
            where = and_(model_files.c.account_id == account_id, model_files.c.model_id == model_id)
            old = [_declared(r) for r in conn.execute(select(model_files).where(where))]
            conn.execute(delete(model_files).where(where))
            if sizes:
                conn.execute(
                    insert(model_files),
                    [
                        {
                            "account_id": account_id,
                            "model_id": model_id,
                            "path": path,
                            "size": size,
                            "upload_id": upload_id,
                            "expire_time": expire_time,
                            "location": None,
                            "create_time": now,
                            "complete_time": None,
                        }
                        for path, size in sizes.items()
                    ],
                )
        return old

    @translating
    def files(self, account_id: str, model_id: str) -> list[DeclaredFile]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_files)
                .where(model_files.c.account_id == account_id, model_files.c.model_id == model_id)
                .order_by(model_files.c.path)
            )
            return [_declared(r) for r in rows]

    @translating
    def file(self, account_id: str, model_id: str, path: str) -> DeclaredFile | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(model_files).where(
                    model_files.c.account_id == account_id,
                    model_files.c.model_id == model_id,
                    model_files.c.path == path,
                )
            ).first()
        return None if row is None else _declared(row)

    def _current(self, ref: FileRef) -> Any:
        return and_(
            model_files.c.account_id == ref.account_id,
            model_files.c.model_id == ref.model_id,
            model_files.c.path == ref.path,
            model_files.c.upload_id == ref.upload_id,
        )

    @translating
    def complete_blob(self, ref: FileRef, sha256: str, size: int, place: Callable[[], None]) -> bool:
        """Point a declared file at blob ``sha256``: lock the blob's row (creating it), ``place()`` the
        bytes (rename into the blob path) and record the location, all in one transaction. False (and
        nothing placed) when the file is no longer declared with this upload id."""
        with self._write() as conn:
            if conn.execute(select(model_files.c.path).where(self._current(ref))).first() is None:
                return False
            self._lock_blob(conn, sha256, size, create=True)
            place()
            done = conn.execute(
                update(model_files)
                .where(self._current(ref))
                .values(location=f"sha256:{sha256}", complete_time=now_nanos())
            )
        # 0 rows: the list was replaced meanwhile (the placed blob is unreferenced; the sweep takes it).
        return bool(done.rowcount)

    @translating
    def add_blob(self, sha256: str, size: int, place: Callable[[], None]) -> None:
        """Record blob ``sha256`` and ``place()`` its bytes under the blob's row lock, for bytes that arrive
        without a declared file (a Hub LFS upload before its commit). Until a revision refers to it, garbage
        collection keeps it for its grace period (``files/gc.py``), then frees it."""
        with self._write() as conn:
            self._lock_blob(conn, sha256, size, create=True)
            place()

    @translating
    def set_location(self, ref: FileRef, location: str) -> None:
        """Record where a file's bytes are (S3: found by HeadObject with the declared size)."""
        with self._write() as conn:
            conn.execute(
                update(model_files)
                .where(self._current(ref), model_files.c.complete_time.is_(None))
                .values(location=location, complete_time=now_nanos())
            )

    @translating
    def forget_model(self, account_id: str, model_id: str) -> list[DeclaredFile]:
        """Delete a model's file rows; returns them (their bytes are for the caller to release)."""
        where = and_(model_files.c.account_id == account_id, model_files.c.model_id == model_id)
        with self._write() as conn:
            old = [_declared(r) for r in conn.execute(select(model_files).where(where))]
            conn.execute(delete(model_files).where(where))
        return old

    @translating
    def forget(self, files: list[DeclaredFile]) -> None:
        """Delete these rows (when they still belong to the same upload)."""
        if not files:
            return
        with self._write() as conn:
            for f in files:
                conn.execute(delete(model_files).where(self._current(f.ref)))

    # -- blobs -----------------------------------------------------------------------------------------
    def _lock_blob(self, conn: Connection, sha256: str, size: int, *, create: bool) -> bool:
        if create:
            try:
                with conn.begin_nested():
                    conn.execute(insert(blobs).values(sha256=sha256, size=size, create_time=now_nanos()))
            except IntegrityError:
                pass  # already known
        stmt = select(blobs.c.sha256).where(blobs.c.sha256 == sha256)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first() is not None

    @translating
    def release_blob(
        self, sha256: str, delete_bytes: Callable[[str], int], *, created_before: int | None = None
    ) -> int:
        """Delete blob ``sha256`` when no declared file and no revision of any model refers to it (and,
        with ``created_before`` in nanoseconds, only when its row is older: a blob uploaded for a commit
        that has not landed yet stays); returns the bytes freed."""
        location = f"sha256:{sha256}"
        with self._write() as conn:
            self._lock_blob(conn, sha256, 0, create=False)
            used = conn.execute(select(exists().where(model_files.c.location == location))).scalar()
            if used or conn.execute(select(exists().where(revision_files.c.sha256 == sha256))).scalar():
                return 0
            if conn.execute(select(exists().where(oci_blobs.c.sha256 == sha256))).scalar():  # OCI pushes
                return 0
            if created_before is not None:
                young = select(blobs.c.sha256).where(
                    blobs.c.sha256 == sha256, blobs.c.create_time >= created_before
                )
                if conn.execute(young).first() is not None:
                    return 0
            conn.execute(delete(blobs).where(blobs.c.sha256 == sha256))
            return delete_bytes(sha256)

    @translating
    def blob_known(self, sha256: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(blobs.c.sha256).where(blobs.c.sha256 == sha256)).first() is not None

    @translating
    def referenced(self, location: str) -> bool:
        """Whether a declared file is at ``location`` or, for ``sha256:<hex>``, any revision holds it."""
        with self.engine.connect() as conn:
            if conn.execute(select(exists().where(model_files.c.location == location))).scalar():
                return True
            if not location.startswith("sha256:"):
                return False
            return bool(
                conn.execute(select(exists().where(revision_files.c.sha256 == location[7:]))).scalar()
            )

    # -- garbage collection ----------------------------------------------------------------------------
    @translating
    def expired_incomplete(self, now_seconds: int) -> list[DeclaredFile]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_files).where(
                    model_files.c.complete_time.is_(None), model_files.c.expire_time < now_seconds
                )
            )
            return [_declared(r) for r in rows]

    @translating
    def orphaned(self) -> list[DeclaredFile]:
        """Files of models that no longer exist (a delete interrupted before its files were released)."""
        name = models.c.name == ("accounts/" + model_files.c.account_id + "/models/" + model_files.c.model_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(model_files).where(~exists().where(name)))
            return [_declared(r) for r in rows]

    @translating
    def all_locations(self) -> set[str]:
        """Where declared files are, and ``sha256:<hex>`` of every blob any revision holds."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(model_files.c.location).where(model_files.c.location.is_not(None)))
            found = {str(r[0]) for r in rows}
            committed = conn.execute(select(revision_files.c.sha256).distinct())
            found.update(f"sha256:{r[0]}" for r in committed)
            return found

    @translating
    def all_upload_keys(self) -> set[tuple[str, str, str]]:
        """(account, model, upload id) of every declared file list."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(model_files.c.account_id, model_files.c.model_id, model_files.c.upload_id).distinct()
            )
            return {(str(a), str(m), str(u)) for a, m, u in rows}

    # -- blobs (the Hugging Face Hub door) --------------------------------------------------------------
    @translating
    def blob_size(self, sha256: str) -> int | None:
        """The size of blob ``sha256``, or None when the storage does not hold it."""
        with self.engine.connect() as conn:
            row = conn.execute(select(blobs.c.size).where(blobs.c.sha256 == sha256)).first()
        return None if row is None else int(row[0])
