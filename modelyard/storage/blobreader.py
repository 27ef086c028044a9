"""Reading one stored file for a download: the next chunks are read while the current one is sent.

A plain loop of ``read`` then ``send`` leaves the disk idle while a chunk goes out and the socket idle
while the next one is read; for a blob that is not in the page cache (the usual case for a file of many
gigabytes) that halves the speed. ``ReadAhead`` notices sequential reads of one size and keeps
``depth`` chunks ahead in flight (``os.pread`` in worker threads, several disk requests at once). A seek
or a read of another size drops what was fetched ahead, so a ranged read of a safetensors header costs
no more than before. Reads share one capacity limiter of their own, so many downloads cannot take the
worker threads the database calls need.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator

import anyio.to_thread

#: Chunks kept in flight ahead of the reader.
DEPTH = 4
#: Worker threads all downloads of a process may hold at once for reads ahead.
READ_THREADS = 16

_limiters: dict[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = {}


def read_limiter() -> anyio.CapacityLimiter:
    """The worker threads of this event loop's file reads (downloads)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        _limiters.clear()  # one server loop per process; a new loop (tests) starts afresh
        limiter = _limiters[loop] = anyio.CapacityLimiter(READ_THREADS)
    return limiter


class ReadAhead:
    """``seek`` and ``read`` over an open file descriptor, with reads ahead (see the module doc)."""

    def __init__(self, fd: int, depth: int = DEPTH) -> None:
        self._fd = fd
        self._depth = depth
        self._position = 0
        self._last: tuple[int, int] | None = None  # (end offset, size) of the previous read
        self._ahead: deque[tuple[int, int, asyncio.Task[bytes]]] = deque()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: os.PathLike[str] | str, depth: int = DEPTH) -> AsyncIterator[ReadAhead]:
        fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        reader = cls(fd, depth)
        try:
            yield reader
        finally:
            with anyio.CancelScope(shield=True):  # the descriptor is closed only when no read uses it
                await reader._drop()
                os.close(fd)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or offset < 0:
            raise ValueError("only absolute seeks are supported")
        if offset != self._position:
            await self._drop()
            self._position = offset
            self._last = None
        return offset

    async def read(self, size: int) -> bytes:
        if size <= 0:
            raise ValueError("read a positive number of bytes")
        if self._ahead and self._ahead[0][:2] == (self._position, size):
            task = self._ahead.popleft()[2]
        else:
            await self._drop()
            task = self._start(self._position, size)
        chunk = await task
        sequential = self._last == (self._position, size)
        self._position += len(chunk)
        self._last = (self._position, size)
        if sequential and len(chunk) == size:
            while len(self._ahead) < self._depth:
                offset = self._ahead[-1][0] + size if self._ahead else self._position
                self._ahead.append((offset, size, self._start(offset, size)))
        return chunk

    def _start(self, offset: int, size: int) -> asyncio.Task[bytes]:
        return asyncio.ensure_future(
            anyio.to_thread.run_sync(os.pread, self._fd, size, offset, limiter=read_limiter())
        )

    async def _drop(self) -> None:
        """Forget the reads ahead, after they finished (a read in a thread cannot be interrupted)."""
        pending = [task for _, _, task in self._ahead]
        self._ahead.clear()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
