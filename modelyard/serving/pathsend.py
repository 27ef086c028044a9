"""Zero-copy file responses: the ASGI ``http.response.pathsend`` extension for uvicorn's httptools protocol.

A download through ``read`` and ``transport.write`` copies every byte twice in the server (file to a
Python buffer, buffer to the socket) and wakes the event loop for every chunk: on a two-core machine
that took about 1 s of CPU per GiB. With this extension Starlette's ``FileResponse`` hands the server
the file's path instead of its bytes (for whole-file ``GET`` responses; ranges still stream through
``ReadAhead``), and the body goes from the page cache to the socket with ``sendfile(2)``.

uvloop has no ``loop.sendfile`` (MagicStack/uvloop#228), so :func:`send_file` does it itself:

- the response headers are flushed out of the transport's buffer first (nothing may overtake them);
- the body is sent on a duplicate of the socket's descriptor, so a connection that closes meanwhile
  cannot hand its descriptor number to another connection under our feet;
- ``sendfile`` runs in a worker thread (a blob that is not in the page cache is read from disk inside
  the call, which must not stall the event loop) for as long as the socket takes bytes; when it would
  block, the thread is given back and the event loop waits for the socket to be writable again, so a
  slow client holds no thread.

The extension is advertised only on plain-TCP connections (``sendfile`` cannot write through TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import anyio.to_thread
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.protocols.utils import ClientDisconnected

from modelyard.storage.blobreader import ReadAhead, read_limiter

EXTENSION = "http.response.pathsend"
#: The most one worker-thread call sends before it returns to the event loop.
CALL_BYTES = 64 * 1024 * 1024
#: How far the file is read ahead of the socket.
READ_AHEAD = 16 * 1024 * 1024
#: The chunks of a response without Content-Length.
CHUNK_BYTES = 1024 * 1024

logger = logging.getLogger("modelyard.serving.server")
_FADVISE = hasattr(os, "posix_fadvise")


class ShortFile(OSError):
    """The file ended before the Content-Length the response announced."""


def supported(scheme: str | None) -> bool:
    return scheme == "http" and hasattr(os, "sendfile")


class _Sender:
    """One file going out on one socket descriptor, with the file read ahead of the socket."""

    def __init__(self, out: int, fd: int) -> None:
        self.out = out
        self.fd = fd
        self.prefetched = 0  # the file is being read into the page cache up to here

    def push(self, offset: int, count: int) -> int:
        """``sendfile`` from ``offset`` until ``count`` bytes went or the socket would block; bytes sent.

        The kernel's own read-ahead is small (128 KiB by default): for a blob that is not in the page
        cache, each ``sendfile`` would wait for the disk. ``POSIX_FADV_WILLNEED`` starts reading the
        next :data:`READ_AHEAD` bytes in the background while the current ones go out."""
        sent = 0
        while sent < count:
            position = offset + sent
            if position + READ_AHEAD // 2 > self.prefetched and _FADVISE:
                start = max(self.prefetched, position)
                with contextlib.suppress(OSError):  # advice only: a file system may not take it
                    os.posix_fadvise(self.fd, start, READ_AHEAD, os.POSIX_FADV_WILLNEED)
                self.prefetched = start + READ_AHEAD
            try:
                n = os.sendfile(self.out, self.fd, position, count - sent)
            except BlockingIOError:
                break
            if n == 0:
                raise ShortFile(f"the file ended {count - sent} bytes before the announced length")
            sent += n
        return sent


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def _flushed(transport: asyncio.WriteTransport) -> None:
    """Wait until the transport has written everything it buffered (the response headers)."""
    while transport.get_write_buffer_size() and not transport.is_closing():
        await asyncio.sleep(0.001)  # headers that did not fit the socket: rare, and gone in a moment


async def send_file(transport: asyncio.WriteTransport, path: str, count: int) -> None:
    """Send the first ``count`` bytes of the file at ``path`` on ``transport``'s socket (see the module
    doc). Raises ``OSError`` when the client goes away or the file is shorter than ``count``."""
    await _flushed(transport)
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        raise ClientDisconnected
    out = os.dup(sock.fileno())
    try:
        fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sender = _Sender(out, fd)
            offset = 0
            while offset < count:
                size = min(count - offset, CALL_BYTES)
                moved = await anyio.to_thread.run_sync(sender.push, offset, size, limiter=read_limiter())
                offset += moved
                if moved < size:
                    if transport.is_closing():
                        raise ClientDisconnected
                    await _writable(out)
        finally:
            os.close(fd)
    finally:
        os.close(out)


class PathsendCycle(RequestResponseCycle):
    """uvicorn's request cycle, taking ``http.response.pathsend`` after ``http.response.start``."""

    async def send(self, message: dict) -> None:  # type: ignore[override,type-arg]
        if message["type"] != EXTENSION or not self.response_started or self.response_complete:
            await super().send(message)  # type: ignore[arg-type]
            return
        if self.disconnected:
            return
        count = self.expected_content_length
        if self.scope["method"] != "HEAD" and not self.chunked_encoding and count:
            try:
                await send_file(self.transport, message["path"], count)
            except OSError as e:  # the client went away (ClientDisconnected is one), or ShortFile
                if isinstance(e, ShortFile):
                    logger.warning("%s: %s; connection closed", message["path"], e)
                with contextlib.suppress(Exception):
                    self.transport.close()
                self.disconnected = True  # what connection_lost would set: later sends do nothing
                return
            self.expected_content_length = 0
        elif self.chunked_encoding and self.scope["method"] != "HEAD":
            # No Content-Length (not what Starlette sends): the file goes as chunks the usual way.
            async with ReadAhead.open(message["path"]) as reader:
                while chunk := await reader.read(CHUNK_BYTES):
                    await super().send({"type": "http.response.body", "body": chunk, "more_body": True})
        await super().send({"type": "http.response.body", "body": b"", "more_body": False})
