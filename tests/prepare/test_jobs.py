"""Jobs as leased rows (``store/jobs.py``) and the runner (``prepare/worker.py``), on SQLite and
PostgreSQL: idempotent enqueue, lease expiry, a worker process killed with SIGKILL whose job is taken
again and completed, workers racing for one job, cancellation when the model is deleted.

Lease expiry is reached by giving ``take`` a later ``now`` (the clock moves; nobody sleeps)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from modelyard.prepare.worker import JobContext, Worker
from modelyard.store.jobs import CANCELLED, DONE, FAILED, MAX_ATTEMPTS, QUEUED, RUNNING, SECOND, Job
from modelyard.store.repository import Store
from tests.support.databases import migrated_store

LEASE = 30.0


@pytest.fixture()
def store(empty_db: str) -> Iterator[Store]:
    with migrated_store(empty_db) as s:
        yield s


def _later(seconds: float) -> int:
    from modelyard.aip.timestamps import now_nanos

    return now_nanos() + int(seconds * SECOND)


def test_enqueue_is_idempotent_per_model_and_argument(store: Store) -> None:
    first, created = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    assert created and first.state == QUEUED and first.attempt == 0
    again, created = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    assert not created and again.id == first.id
    other, created = store.jobs.enqueue("prepare", "acme", "m", "BF16")
    assert created and other.id != first.id
    taken = store.jobs.take("w1", LEASE)
    assert taken is not None and taken.id == first.id  # oldest first
    assert store.jobs.enqueue("prepare", "acme", "m", "FP8")[0].id == first.id  # running counts too
    assert store.jobs.finish(first.id, "w1")
    fresh, created = store.jobs.enqueue("prepare", "acme", "m", "FP8")  # done: a new one may be queued
    assert created and fresh.id != first.id


def test_an_expired_lease_is_taken_again_and_the_old_worker_is_refused(store: Store) -> None:
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    a = store.jobs.take("worker-a", LEASE)
    assert a is not None and a.state == RUNNING and a.worker_id == "worker-a" and a.attempt == 1
    assert store.jobs.take("worker-b", LEASE) is None  # leased
    assert store.jobs.renew(job.id, "worker-a", LEASE, progress="3 of 7 tensors")
    assert store.jobs.get(job.id).progress == "3 of 7 tensors"  # type: ignore[union-attr]
    assert store.jobs.take("worker-b", LEASE, now=_later(LEASE / 2)) is None  # not expired yet
    b = store.jobs.take("worker-b", LEASE, now=_later(LEASE + 1))
    assert b is not None and b.id == job.id and b.worker_id == "worker-b" and b.attempt == 2
    assert not store.jobs.renew(job.id, "worker-a", LEASE)  # worker-a learns it lost the job
    assert not store.jobs.finish(job.id, "worker-a")
    assert not store.jobs.fail(job.id, "worker-a", "late")
    assert store.jobs.finish(job.id, "worker-b")
    assert store.jobs.get(job.id).state == DONE  # type: ignore[union-attr]


def test_a_job_whose_workers_keep_dying_fails(store: Store) -> None:
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    for attempt in range(MAX_ATTEMPTS):
        taken = store.jobs.take(f"w{attempt}", LEASE, now=_later(attempt * (LEASE + 1)))
        assert taken is not None and taken.attempt == attempt + 1
    assert store.jobs.take("last", LEASE, now=_later(MAX_ATTEMPTS * (LEASE + 1))) is None
    failed = store.jobs.get(job.id)
    assert failed is not None and failed.state == FAILED
    assert f"stopped answering {MAX_ATTEMPTS} times" in (failed.error or "")


def test_workers_racing_for_one_job_exactly_one_wins(store: Store) -> None:
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    racers = 6
    barrier = threading.Barrier(racers)
    won: list[Job | None] = []
    lock = threading.Lock()

    def race(i: int) -> None:
        barrier.wait()
        got = store.jobs_call(lambda jobs: jobs.take(f"racer-{i}", LEASE))
        with lock:
            won.append(got)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [j for j in won if j is not None]
    assert len(won) == racers and len(winners) == 1 and winners[0].id == job.id
    assert store.jobs.get(job.id).worker_id == winners[0].worker_id  # type: ignore[union-attr]


def test_deleting_the_model_cancels_its_jobs(store: Store) -> None:
    store.create_model("acme", "m", {"kind": "HF_BASE_MODEL", "state": "READY"})
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    store.jobs.enqueue("prepare", "acme", "m", "BF16")  # queued, never taken
    assert store.jobs.take("w", LEASE) is not None
    store.delete_model("accounts/acme/models/m")
    assert {j.state for j in store.jobs.for_model("acme", "m")} == {CANCELLED}
    assert not store.jobs.renew(job.id, "w", LEASE)
    assert store.jobs.take("w2", LEASE, now=_later(LEASE * 3)) is None


class Recording:
    """A handler that commits its result with ``finish_in`` in one transaction, as real ones do."""

    def __init__(self, store: Store, fail_with: str | None = None) -> None:
        self.store = store
        self.fail_with = fail_with
        self.ran: list[tuple[str, int]] = []
        self.failures: list[str] = []

    def run(self, ctx: JobContext) -> None:
        self.ran.append((ctx.job.id, ctx.job.attempt))
        ctx.progress("half")
        if self.fail_with:
            raise ValueError(self.fail_with)
        with self.store.database.write() as conn:
            assert self.store.jobs.finish_in(conn, ctx.job.id, ctx.worker_id)

    def failed(self, job: Job, error: Exception) -> None:
        self.failures.append(str(error))


_HOLDER = textwrap.dedent(
    """
    import sys
    from modelyard.store.engine import make_engine
    from modelyard.store.repository import Store
    store = Store(make_engine(sys.argv[1]))
    job = store.jobs_call(lambda jobs: jobs.take("doomed-worker", 30.0))
    print(job.id if job else "none", flush=True)
    sys.stdin.read()  # holds the lease until killed
    """
)


def test_a_killed_worker_process_job_is_taken_again_and_completed(store: Store, empty_db: str) -> None:
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, empty_db],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == job.id  # the other process holds the job
        held = store.jobs.get(job.id)
        assert held is not None and held.state == RUNNING and held.worker_id == "doomed-worker"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    handler = Recording(store)
    worker = Worker(store, {"prepare": handler}, worker_id="survivor", lease_seconds=LEASE)
    assert worker.run_once() is None  # the dead worker's lease has not expired yet
    store.jobs.clock = lambda: _later(LEASE + 1)  # ... now it has
    taken = worker.run_once()
    assert taken is not None and taken.id == job.id
    assert handler.ran == [(job.id, 2)]
    done = store.jobs.get(job.id)
    assert done is not None and done.state == DONE and done.worker_id == "survivor"


def test_a_failing_handler_fails_the_job_and_says_why(store: Store) -> None:
    job, _ = store.jobs.enqueue("prepare", "acme", "m", "FP8")
    handler = Recording(store, fail_with="config.json is not valid JSON")
    Worker(store, {"prepare": handler}).run_once()
    failed = store.jobs.get(job.id)
    assert failed is not None and failed.state == FAILED and failed.error == "config.json is not valid JSON"
    assert handler.failures == ["config.json is not valid JSON"]
