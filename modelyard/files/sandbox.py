"""The CPU-heavy part of ``:validateUpload`` in a child process: parsing uploaded JSON side files and
safetensors headers, and scanning chat templates.

``:validateUpload`` runs in a worker thread, but ``json.loads`` of a 16 MiB header is one C call that
holds the GIL for a good part of a second, and a worker thread holding the GIL stops the event loop as
surely as the loop itself would: every other request of the worker waits. Here that work happens in a
child process (one per server worker, started at the first validation, ``spawn``ed so that it inherits
no event loop, threads or sockets); the worker thread only reads the bytes from storage and waits for
the answer, and the event loop serves other requests meanwhile.

The child runs one check at a time (validations of a worker queue for it; each is bounded by the caps
of :mod:`modelyard.files.validate`) under an address-space limit of :data:`MEMORY_LIMIT`: a check that
needs more gets ``MemoryError`` there, and a child that dies is replaced by a new one. Either way the
caller gets :class:`CheckFailed` for that file.

``spawn`` imports the parent's main module in the child (as ``__mp_main__``), as uvicorn's own worker
processes do: a program that embeds the app must keep its start-up under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

#: The child's address-space limit (``RLIMIT_AS``): its interpreter plus the largest check.
MEMORY_LIMIT = 1 << 30

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


class CheckFailed(Exception):
    """A check that ran out of memory or lost its process."""


def _limit_memory(limit: int) -> None:  # pragma: no cover - runs in the child
    import resource
    import signal

    # Ctrl-C reaches the whole process group: the server stops the child (or the child sees the server
    # gone), without a KeyboardInterrupt traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
                initargs=(MEMORY_LIMIT,),
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def run(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in the child process (both picklable), from a worker thread; its exceptions
    are re-raised here, except ``MemoryError`` and a lost child, which are :class:`CheckFailed`."""
    pool = _executor()
    try:
        return pool.submit(function, *args).result()
    except MemoryError:
        raise CheckFailed("needs more memory than a check may use") from None
    except BrokenProcessPool:
        _discard(pool)
        raise CheckFailed("its check process ended unexpectedly") from None


def shutdown() -> None:
    """Stop the child process (the app's shutdown)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
