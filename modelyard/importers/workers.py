"""The worker processes that decode a large import file: where they come from and how they end.

They fork from a server process that has imported the decoder once (multiprocessing's ``forkserver``: not
from the importing process and its threads; not a fresh interpreter each, which costs ~0.7 s of CPU).

* **The installed package.** Python 3.11 starts the fork server as ``python -c ...``, which puts the
  current directory first on ``sys.path`` (and ignores the ``sys_path`` it is handed): run from a folder
  holding a ``modelyard/`` directory (a source checkout, a data folder), the workers imported that instead
  of the installed package and the pool broke (``BrokenProcessPool``). The fork server is started with
  ``PYTHONSAFEPATH=1`` (``python -P``): no current directory on its path.
* **Dying with the importer.** A ``kill -9`` of the importer leaves the workers waiting on their queue
  (each holds both ends of its pipe, so they never see end-of-file). The fork server exits when the
  importer dies (its "alive" pipe closes); each worker asks Linux for SIGKILL when its parent (the fork
  server) dies (``prctl(PR_SET_PDEATHSIG)``), and elsewhere polls for the importer once a second.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: How often a worker without PR_SET_PDEATHSIG checks that the importer still runs (seconds).
PARENT_POLL_SECONDS = 1.0


def decoding_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes that import the installed ``modelyard`` and die with this
    process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["modelyard.importers.jsonl"])
    with _safe_path():
        multiprocessing.forkserver.ensure_running()
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=worker_start, initargs=(os.getpid(),)
    )


@contextlib.contextmanager
def _safe_path() -> Iterator[None]:
    """``PYTHONSAFEPATH=1`` in the environment of the processes started meanwhile."""
    previous = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = previous


def worker_start(importer_pid: int) -> None:
    """Runs first in each worker: end with the importer; no cyclic garbage collection."""
    if not _die_with_parent():
        threading.Thread(target=_watch, args=(importer_pid,), daemon=True, name="modelyard-watch").start()
    if not _alive(importer_pid):  # it died before the worker could ask to be told
        os._exit(1)
    # A batch is thousands of small acyclic objects: the cyclic collector would run every 700
    # allocations and find nothing (a fifth of a worker's time). It runs once per batch instead.
    gc.freeze()
    gc.disable()


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch(importer_pid: int) -> None:
    while _alive(importer_pid):
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
