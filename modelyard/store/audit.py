"""The audit log: one row per write request, allowed or refused.

The API layer opens an :class:`AuditContext` for every write request (``api/auditing.py``) and fills in
who is calling once the key is checked. The store writes the entry in the same transaction as the write
itself: ``Store._write`` calls :func:`flush_pending` just before it commits, so an entry exists exactly
when the write does. A request that ends without a committed write (refused, invalid, not found) is
recorded afterwards in a transaction of its own (:func:`record`). A write that committed but whose
answer was not a success after all (a delete that matched nothing, answered 404) has its entry corrected
to the status and message the client received (:func:`record` amends it): the log never says 200 for a
refused request.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from modelyard.aip.timestamps import now_nanos
from modelyard.store.tables import accounts, audit_logs


@dataclass
class AuditContext:
    """The audit entry of the write request being served (mutable: threads see the same object)."""

    account_id: str
    method: str
    resource: str
    request_id: str = ""
    principal: str = ""
    api_key_id: str = ""
    recorded: bool = False
    #: The id of the entry written in the write's transaction (None until then), to amend it.
    entry_id: int | None = None

    def values(self, code: int, message: str) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "time": now_nanos(),
            "principal": self.principal,
            "api_key_id": self.api_key_id,
            "method": self.method,
            "resource": self.resource,
            "response_code": code,
            "message": message[:1000],
            "request_id": self.request_id,
        }


current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("modelyard_audit", default=None)

_INSERT = insert(audit_logs)


def flush_pending(conn: Connection) -> None:
    """Write the current request's entry (code 200) in ``conn``'s transaction, once per request."""
    ctx = current.get()
    if ctx is None or ctx.recorded:
        return
    result = conn.execute(_INSERT, ctx.values(200, ""))
    key = result.inserted_primary_key
    ctx.entry_id = int(key[0]) if key is not None and key[0] is not None else None
    ctx.recorded = True


def record(engine: Engine, ctx: AuditContext, code: int, message: str) -> None:
    """Record the answer of a write request: a write that committed nothing (refused or failed) gets an
    entry in its own transaction (only accounts that exist get entries: a flood of requests naming made-up
    accounts writes nothing); one whose entry was written with its transaction but whose answer was not a
    success gets that entry corrected to ``code`` and ``message``."""
    if ctx.recorded:
        if ctx.entry_id is not None and not 200 <= code < 300:
            with engine.begin() as conn:
                conn.execute(
                    update(audit_logs)
                    .where(audit_logs.c.id == ctx.entry_id)
                    .values(response_code=code, message=message[:1000])
                )
            ctx.entry_id = None
        return
    with engine.begin() as conn:
        exists = conn.execute(
            select(accounts.c.account_id).where(accounts.c.account_id == ctx.account_id)
        ).first()
        if exists is not None:
            conn.execute(_INSERT, ctx.values(code, message))
    ctx.recorded = True


@dataclass(frozen=True)
class AuditPage:
    rows: list[Any]
    last: tuple[int, int] | None  # (time, id) of the last row when there may be more


def list_entries(
    engine: Engine,
    account_id: str,
    *,
    start: int | None,
    end: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> AuditPage:
    """Entries of an account, newest first, ``start <= time < end``, after the keyset position."""
    stmt = select(audit_logs).where(audit_logs.c.account_id == account_id)
    if start is not None:
        stmt = stmt.where(audit_logs.c.time >= start)
    if end is not None:
        stmt = stmt.where(audit_logs.c.time < end)
    if after is not None:
        t, i = after
        stmt = stmt.where(
            audit_logs.c.time <= t,
            or_(audit_logs.c.time < t, and_(audit_logs.c.time == t, audit_logs.c.id < i)),
        )
    stmt = stmt.order_by(audit_logs.c.time.desc(), audit_logs.c.id.desc()).limit(limit + 1)
    with engine.connect() as conn:
        rows = list(conn.execute(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    last = (int(rows[-1].time), int(rows[-1].id)) if more and rows else None
    return AuditPage(rows, last)
