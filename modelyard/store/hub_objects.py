"""Which repository proved it holds which blob: the LFS objects uploaded through the Hub door.

Blobs are content addressed and shared by every model, so knowing a SHA-256 must not be enough to put a
blob in a revision: a Hub commit may name an LFS object only when the repository's revisions already
hold it or its bytes were uploaded (and verified) for this repository, which :meth:`HubObjects.add`
records. Rows of committed objects are dropped by the commit (:meth:`forget`), the rest with the model
(:func:`forget_model`, in the transaction that deletes it).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.store.errors import translating
from modelyard.store.tables import hub_lfs_objects


def forget_model(conn: Connection, account_id: str, model_id: str) -> None:
    """Drop a deleted model's rows, inside the transaction that deletes it (``store/models.py``)."""
    conn.execute(
        delete(hub_lfs_objects).where(
            hub_lfs_objects.c.account_id == account_id, hub_lfs_objects.c.model_id == model_id
        )
    )


class HubObjects:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translating
    def add(self, account_id: str, model_id: str, sha256: str, size: int) -> None:
        """Record that ``sha256`` was uploaded for ``account_id/model_id``."""
        row = {"account_id": account_id, "model_id": model_id, "sha256": sha256, "size": size,
               "create_time": now_nanos()}  # fmt: skip
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(hub_lfs_objects).values(**row))
        except IntegrityError:
            pass  # uploaded before: the row stands

    @translating
    def uploaded(self, account_id: str, model_id: str, shas: Iterable[str]) -> set[str]:
        """Which of ``shas`` were uploaded for the repository."""
        wanted = sorted(set(shas))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(hub_lfs_objects.c.sha256).where(
                        hub_lfs_objects.c.account_id == account_id,
                        hub_lfs_objects.c.model_id == model_id,
                        hub_lfs_objects.c.sha256.in_(wanted[start : start + 500]),
                    )
                )
                found.update(str(r[0]) for r in rows)
        return found

    @translating
    def forget(self, account_id: str, model_id: str, shas: Iterable[str]) -> None:
        """Drop the rows of ``shas`` (committed now: the revisions hold them)."""
        where = and_(hub_lfs_objects.c.account_id == account_id, hub_lfs_objects.c.model_id == model_id)
        with self.engine.begin() as conn:
            wanted = sorted(set(shas))
            for start in range(0, len(wanted), 500):
                conn.execute(
                    delete(hub_lfs_objects).where(
                        where, hub_lfs_objects.c.sha256.in_(wanted[start : start + 500])
                    )
                )
