"""``modelyard worker``: a process that runs jobs (``:prepare``) from the registry's database.

Run as many as you like, on any machine that reaches the database and the storage (the same
``--db``/``--storage`` as the servers): each takes one job at a time per ``--jobs`` under a lease it
renews (``store/jobs.py``); a worker that dies leaves its job to be taken again when the lease expires.
Servers run jobs too (``MODELYARD_SERVER_JOBS``, default 1 per process); set it to 0 to leave the work
to workers. SIGINT/SIGTERM stop taking jobs; a job that is running is finished first (a second signal
exits at once, and the job is taken again elsewhere when its lease expires).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from modelyard.cli_support import DbOption, err
from modelyard.files.cli import StorageOption


def worker(
    db: DbOption = None,
    storage: StorageOption = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Jobs run at once (threads).")] = 1,
    lease: Annotated[
        float, typer.Option(help="Seconds a job's lease lasts; renewed every third of it.")
    ] = 30.0,
    poll: Annotated[float, typer.Option(help="Seconds between two looks for new jobs when idle.")] = 2.0,
    once: Annotated[bool, typer.Option("--once", help="Run the jobs waiting now, then exit.")] = False,
) -> None:
    """Run jobs (:prepare) from the database until stopped."""
    from modelyard.cli_failures import CommandFailure
    from modelyard.cli_support import open_store
    from modelyard.files.opening import file_service
    from modelyard.prepare.jobs import handlers
    from modelyard.prepare.worker import Worker
    from modelyard.settings import Settings
    from modelyard.storage import open_storage, storage_url

    if jobs < 1 or lease <= 0 or poll <= 0:
        raise CommandFailure("--jobs must be at least 1, --lease and --poll positive", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.from_env(database_url=db, storage_url=storage)
    url = settings.resolved_database_url()
    try:
        backend = open_storage(storage_url(settings.storage_url, url))
    except ValueError as e:
        raise CommandFailure(str(e), 2) from None
    store = open_store(url)
    service = file_service(store, backend)  # file storage's signing key, as the servers have it
    workers = [
        Worker(store, handlers(store, service.storage), lease_seconds=lease, poll_seconds=poll)
        for _ in range(jobs)
    ]
    err.print(f"modelyard worker: {jobs} job thread(s) on {backend.url} (database {url.split('@')[-1]})")
    if once:
        for w in workers[:1]:
            while w.run_once() is not None:
                pass
        store.dispose()
        return
    stop = threading.Event()

    def stopping(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        err.print("stopping: finishing the running jobs (signal again to exit now)")
        stop.set()

    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGTERM, stopping)
    threads = [
        threading.Thread(target=w.run, args=(stop,), name=f"job-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        for thread in threads:
            thread.join(0.5)
    store.dispose()
