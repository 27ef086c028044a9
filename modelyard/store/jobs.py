"""Jobs: rows in the registry's own database, taken by any server process or ``modelyard worker``
process under a lease that the taker renews while it works (migration 0009).

No maintained Python job library serves both SQLite and PostgreSQL (procrastinate, pgqueuer and
chancy are PostgreSQL-only; huey, rq, arq, dramatiq and saq need Redis or a broker of their own), so this
is the leased-row pattern of Oban, River and GoodJob:

* ``enqueue`` inserts a ``queued`` row, idempotently: while a job of the same kind for the same model
  and argument is queued or running, it is returned instead (a partial unique index makes two
  concurrent enqueues agree).
* ``take(worker_id, lease_seconds)`` (after a read that finds something to take: idle workers poll
  without write transactions) picks the oldest job that is ``queued``, or ``running`` with a
  lease that expired (its worker died or lost the database), and marks it ``running`` for this
  worker until ``now + lease``, counting the attempt. It is atomic: ``SELECT ... FOR UPDATE SKIP
  LOCKED`` on PostgreSQL (concurrent takers skip each other's rows), a write transaction that takes
  SQLite's write lock at ``BEGIN IMMEDIATE`` on SQLite. A job taken ``max_attempts`` times whose lease
  expired again is failed instead of taken.
* ``renew``, ``finish`` and ``fail`` only touch a job still leased to the caller: when they answer
  False, the worker lost the job (its lease expired and another worker took it, or the model was
  deleted and the job cancelled) and must stop without writing anything.
* ``cancel_model`` cancels a model's queued and running jobs (the model was deleted).
* ``store_blob`` records a blob a job wrote (its row in ``blobs``, created or made young again, so
  garbage collection's grace period keeps it until the job commits the revision that holds it) and
  places its bytes, in one transaction under the blob's row lock.

Times are integer nanoseconds; ``now`` can be given (tests move the clock instead of sleeping).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Index,
    Integer,
    Table,
    Text,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.store.connections import Database
from modelyard.store.tables import blobs, metadata, string_c

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
#: Attempts (takes) after which a job whose worker keeps dying is failed.
MAX_ATTEMPTS = 5
SECOND = 1_000_000_000

jobs = Table(
    "jobs",
    metadata,
    Column("id", string_c(32), primary_key=True),
    Column("kind", string_c(32), nullable=False),
    Column("account_id", string_c(63), nullable=False),
    Column("model_id", string_c(63), nullable=False),
    Column("argument", string_c(64), nullable=False),
    Column("state", string_c(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("worker_id", Text, nullable=True),
    Column("lease_expires", BigInteger, nullable=True),
    Column("progress", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
)
#: Takers look for queued jobs and expired leases in creation order.
Index("ix_jobs_state_create_time", jobs.c.state, jobs.c.create_time)
#: One active job per (model, kind, argument): enqueue is idempotent even under concurrency.
Index(
    "ux_jobs_active",
    jobs.c.account_id,
    jobs.c.model_id,
    jobs.c.kind,
    jobs.c.argument,
    unique=True,
    sqlite_where=jobs.c.state.in_(ACTIVE),
    postgresql_where=jobs.c.state.in_(ACTIVE),
)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    account_id: str
    model_id: str
    argument: str
    state: str
    attempt: int
    worker_id: str | None
    lease_expires: int | None
    progress: str | None
    error: str | None

    @classmethod
    def queued(cls, account_id: str, model_id: str, kind: str, argument: str) -> Job:
        """A job not (yet) in the database: what the end-of-job hooks need to name it."""
        return cls("", kind, account_id, model_id, argument, QUEUED, 0, None, None, None, None)

    @property
    def model_name(self) -> str:
        return f"accounts/{self.account_id}/models/{self.model_id}"


def _job(row: object) -> Job:
    return Job(
        **{
            name: getattr(row, name)
            for name in (
                "id",
                "kind",
                "account_id",
                "model_id",
                "argument",
                "state",
                "attempt",
                "worker_id",
                "lease_expires",
                "progress",
                "error",
            )
        }
    )


class Jobs:
    def __init__(self, database: Database, clock: Callable[[], int] = now_nanos) -> None:
        self.database = database
        self.clock = clock

    # -- enqueue ---------------------------------------------------------------------------------------
    def enqueue_in(
        self, conn: Connection, kind: str, account_id: str, model_id: str, argument: str
    ) -> tuple[Job, bool]:
        """In the caller's write transaction: the active job for (model, kind, argument), or a new
        queued one. Returns (job, created)."""
        existing = self._active(conn, kind, account_id, model_id, argument)
        if existing is not None:
            return existing, False
        now = self.clock()
        job_id = secrets.token_hex(16)
        values = {
            "id": job_id,
            "kind": kind,
            "account_id": account_id,
            "model_id": model_id,
            "argument": argument,
            "state": QUEUED,
            "attempt": 0,
            "max_attempts": MAX_ATTEMPTS,
            "create_time": now,
            "update_time": now,
        }
        try:
            with conn.begin_nested():
                conn.execute(insert(jobs).values(values))
        except IntegrityError:  # a concurrent enqueue (PostgreSQL) got there first
            raced = self._active(conn, kind, account_id, model_id, argument)
            if raced is None:
                raise
            return raced, False
        return self.get_in(conn, job_id), True

    def enqueue(self, kind: str, account_id: str, model_id: str, argument: str) -> tuple[Job, bool]:
        with self.database.write() as conn:
            return self.enqueue_in(conn, kind, account_id, model_id, argument)

    def _active(
        self, conn: Connection, kind: str, account_id: str, model_id: str, argument: str
    ) -> Job | None:
        row = conn.execute(
            select(jobs).where(
                jobs.c.account_id == account_id,
                jobs.c.model_id == model_id,
                jobs.c.kind == kind,
                jobs.c.argument == argument,
                jobs.c.state.in_(ACTIVE),
            )
        ).first()
        return None if row is None else _job(row)

    # -- reads -----------------------------------------------------------------------------------------
    def get_in(self, conn: Connection, job_id: str) -> Job:
        return _job(conn.execute(select(jobs).where(jobs.c.id == job_id)).one())

    def get(self, job_id: str) -> Job | None:
        with self.database.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def for_model(self, account_id: str, model_id: str) -> list[Job]:
        """A model's jobs, newest first."""
        with self.database.engine.connect() as conn:
            rows = conn.execute(
                select(jobs)
                .where(jobs.c.account_id == account_id, jobs.c.model_id == model_id)
                .order_by(jobs.c.create_time.desc(), jobs.c.id)
            )
            return [_job(r) for r in rows]

    # -- the lease -------------------------------------------------------------------------------------
    def take(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        kinds: tuple[str, ...] | None = None,
        now: int | None = None,
    ) -> Job | None:
        """The next job for ``worker_id``, leased until ``now + lease_seconds``, or None."""
        now = self.clock() if now is None else now
        takeable = or_(
            jobs.c.state == QUEUED,
            and_(jobs.c.state == RUNNING, jobs.c.lease_expires < now),
        )
        probe = select(jobs.c.id).where(takeable)
        if kinds is not None:
            probe = probe.where(jobs.c.kind.in_(kinds))
        with self.database.reader() as reader:  # idle workers poll: no write transaction for nothing
            if reader.execute(probe.limit(1)).first() is None:
                return None
        with self.database.write() as conn:
            while True:
                stmt = select(jobs).where(takeable)
                if kinds is not None:
                    stmt = stmt.where(jobs.c.kind.in_(kinds))
                stmt = stmt.order_by(jobs.c.create_time, jobs.c.id).limit(1)
                if self.database.postgresql:
                    stmt = stmt.with_for_update(skip_locked=True)
                row = conn.execute(stmt).first()
                if row is None:
                    return None
                if row.state == RUNNING and row.attempt >= row.max_attempts:
                    conn.execute(
                        update(jobs)
                        .where(jobs.c.id == row.id)
                        .values(
                            state=FAILED,
                            worker_id=None,
                            lease_expires=None,
                            error=f"its worker stopped answering {row.attempt} times",
                            update_time=now,
                        )
                    )
                    continue
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id)
                    .values(
                        state=RUNNING,
                        worker_id=worker_id,
                        lease_expires=now + int(lease_seconds * SECOND),
                        attempt=row.attempt + 1,
                        update_time=now,
                    )
                )
                return self.get_in(conn, row.id)

    def _held(self, job_id: str, worker_id: str) -> ColumnElement[bool]:
        return and_(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.state == RUNNING)

    def renew(
        self,
        job_id: str,
        worker_id: str,
        lease_seconds: float,
        *,
        progress: str | None = None,
        now: int | None = None,
    ) -> bool:
        """Extend the lease (and record progress). False: the job is no longer this worker's."""
        now = self.clock() if now is None else now
        values: dict[str, object] = {"lease_expires": now + int(lease_seconds * SECOND), "update_time": now}
        if progress is not None:
            values["progress"] = progress
        with self.database.write() as conn:
            return bool(
                conn.execute(update(jobs).where(self._held(job_id, worker_id)).values(values)).rowcount
            )

    def finish_in(self, conn: Connection, job_id: str, worker_id: str) -> bool:
        """In the caller's transaction (the one that commits the job's result): mark it done."""
        done = conn.execute(
            update(jobs)
            .where(self._held(job_id, worker_id))
            .values(state=DONE, lease_expires=None, update_time=self.clock())
        )
        return bool(done.rowcount)

    def finish(self, job_id: str, worker_id: str) -> bool:
        with self.database.write() as conn:
            return self.finish_in(conn, job_id, worker_id)

    def fail_in(self, conn: Connection, job_id: str, worker_id: str, error: str) -> bool:
        failed = conn.execute(
            update(jobs)
            .where(self._held(job_id, worker_id))
            .values(state=FAILED, lease_expires=None, error=error[:4000], update_time=self.clock())
        )
        return bool(failed.rowcount)

    def fail(self, job_id: str, worker_id: str, error: str) -> bool:
        with self.database.write() as conn:
            return self.fail_in(conn, job_id, worker_id, error)

    def cancel_model_in(self, conn: Connection, account_id: str, model_id: str) -> int:
        """Cancel a model's queued and running jobs; returns how many."""
        cancelled = conn.execute(
            update(jobs)
            .where(jobs.c.account_id == account_id, jobs.c.model_id == model_id, jobs.c.state.in_(ACTIVE))
            .values(state=CANCELLED, lease_expires=None, update_time=self.clock())
        )
        return int(cancelled.rowcount)

    def cancel_model(self, account_id: str, model_id: str) -> int:
        with self.database.write() as conn:
            return self.cancel_model_in(conn, account_id, model_id)

    def store_blob(self, sha256: str, size: int, place: Callable[[], None]) -> None:
        """Record blob ``sha256`` (``size`` bytes) and ``place()`` its bytes, in one transaction."""
        now = self.clock()
        with self.database.write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(blobs).values(sha256=sha256, size=size, create_time=now))
            except IntegrityError:  # known: lock it and make it young (a sweep leaves it alone)
                lock = select(blobs.c.sha256).where(blobs.c.sha256 == sha256)
                if self.database.postgresql:
                    lock = lock.with_for_update()
                conn.execute(lock)
                conn.execute(update(blobs).where(blobs.c.sha256 == sha256).values(create_time=now))
            place()
