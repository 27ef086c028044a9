"""The job runner: takes jobs from the store (``store/jobs.py``) and runs each under a renewed lease.

A ``Worker`` runs in a ``modelyard worker`` process or in a thread of each server process. For each job
it takes, a heartbeat thread renews the lease every third of its length and records the handler's
latest progress; when a renewal answers False (the lease expired and another worker took the job, or
the model was deleted and its jobs cancelled) the heartbeat sets ``JobContext.lost`` and the handler
stops at its next ``check()`` without committing anything. A handler that raises fails the job with its
message (``Handler.failed`` records why where users see it); a worker that dies (SIGKILL, power loss)
leaves a lease that expires, and the next ``take`` anywhere runs the job again from the start.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from modelyard.store.jobs import Job
from modelyard.store.repository import Store

log = logging.getLogger("modelyard.worker")

#: Seconds a lease lasts unless renewed (renewed every third of it).
LEASE_SECONDS = 30.0
#: Seconds an idle worker waits before looking for jobs again.
POLL_SECONDS = 2.0


class LeaseLost(Exception):
    """The job is no longer this worker's (taken by another after the lease expired, or cancelled)."""


@dataclass
class JobContext:
    job: Job
    worker_id: str
    lost: threading.Event = field(default_factory=threading.Event)
    _progress: str | None = None

    def progress(self, text: str) -> None:
        """Record progress; the next renewal writes it to the job row."""
        self._progress = text
        self.check()

    def check(self) -> None:
        """Raise LeaseLost when the lease was lost: stop without writing anything."""
        if self.lost.is_set():
            raise LeaseLost(self.job.id)


class Handler(Protocol):
    def run(self, ctx: JobContext) -> None:
        """Do the job and commit its result together with ``Jobs.finish_in`` (one transaction)."""
        ...

    def failed(self, job: Job, error: Exception) -> None:
        """Record a failure where users see it (after the job row is failed with ``str(error)``)."""
        ...


def default_worker_id() -> str:
    """``host:pid:random``: unique per Worker (a process may run several)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds

    def run_once(self) -> Job | None:
        """Take one job and run it; the job taken (None when there was none)."""
        kinds = tuple(self.handlers)
        job = self.store.jobs_call(lambda jobs: jobs.take(self.worker_id, self.lease_seconds, kinds=kinds))
        if job is None:
            return None
        log.info(
            "job %s taken: %s %s of %s (attempt %d)",
            job.id,
            job.kind,
            job.argument,
            job.model_name,
            job.attempt,
        )
        ctx = JobContext(job, self.worker_id)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ctx, stop), name="job-lease", daemon=True)
        beat.start()
        handler = self.handlers[job.kind]
        try:
            handler.run(ctx)
        except LeaseLost:
            log.warning("job %s: lease lost, stopped", job.id)
        except Exception as e:
            message = str(e) or type(e).__name__
            log.exception("job %s failed", job.id)
            if self.store.jobs_call(lambda jobs: jobs.fail(job.id, self.worker_id, message)):
                handler.failed(job, e)
        finally:
            stop.set()
            beat.join()
        return job

    def _heartbeat(self, ctx: JobContext, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            try:
                held = self.store.jobs_call(
                    lambda jobs: jobs.renew(
                        ctx.job.id, self.worker_id, self.lease_seconds, progress=ctx._progress
                    )
                )
            except Exception:  # the database did not answer: try again at the next beat
                log.warning("job %s: lease not renewed (database unavailable)", ctx.job.id)
                continue
            if not held:
                ctx.lost.set()
                return

    def run(self, stop: threading.Event) -> None:
        """Run jobs until ``stop`` is set, looking for new ones every ``poll_seconds`` when idle."""
        while not stop.is_set():
            try:
                job = self.run_once()
            except Exception:
                log.exception("worker %s: could not take a job", self.worker_id)
                job = None
            if job is None:
                stop.wait(self.poll_seconds)
