"""Writing one received file on the event loop: page-aligned slabs, hashed on one thread and written on
another (:class:`modelyard.directio.SlabWriter`).

The event loop copies each received chunk into the current slab; a full slab goes to the hashing and the
writing thread at once, and when no slab is free ``write`` waits for the oldest, which is the
back-pressure that stops a fast client from filling memory. The file is written with ``O_DIRECT`` where
the file system takes it (:mod:`modelyard.directio`): the bytes go from the slab to the device without a
page-cache copy, steadily, and the cache is left to the files being read. ``finish`` fsyncs the file
either way.

A file system that is full (``ENOSPC``) or a quota that is exhausted (``EDQUOT``), whether a slab write or
the final fsync finds it, is :class:`StorageFull` (the signed-URL endpoint answers 507 with its reason);
the caller then aborts the writer, which removes the file (or, appending, cuts it back).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from modelyard.directio import ALIGN, DirectFile, SlabWriter

#: Bytes per slab (a multiple of every block size ``O_DIRECT`` asks for alignment to).
SLAB_SIZE = 8 * 1024 * 1024
#: At most ``DEPTH - 1`` slabs per upload (the name and the figures are those it was measured under):
#: three, 24 MiB. Measured (1 GiB PUTs, 2 cores): 8 MiB with depth 4 ~1,000 MiB/s, 4 MiB with depth 3
#: 800-850, 8 MiB with depth 3 820-860.
DEPTH = 4


class StorageFull(OSError):
    """The file system holding the blob being written has no room left (or the quota is used up)."""


@contextlib.contextmanager
def _no_room_is_storage_full(path: Path) -> Iterator[None]:
    try:
        yield
    except StorageFull:
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(e.errno, f"no space left on the storage device ({os.strerror(e.errno)})") from e
        raise


class BlobWriter:
    """One file being received into ``path`` (created, must not exist). Call ``write`` for each chunk,
    then ``finish`` (fsync, close; returns the SHA-256 hex) or ``abort`` (removes the file).

    ``append=True`` adds to an existing file instead (a chunk of a resumable upload): ``abort`` then
    leaves the file to the caller, who cuts it back. ``continues`` is the SHA-256 of the bytes the file
    already holds, to go on from (without it the digest covers only what this writer wrote); after
    ``finish`` :attr:`digest` is the state to continue the next chunk from. At most ``depth - 1`` slabs
    of ``slab_size`` bytes exist at once."""

    def __init__(
        self,
        path: Path,
        *,
        slab_size: int = SLAB_SIZE,
        depth: int = DEPTH,
        direct: bool = True,
        append: bool = False,
        continues: hashlib._Hash | None = None,
    ) -> None:
        if slab_size % ALIGN or depth < 2:  # before the file is created
            raise ValueError("slab_size must be a multiple of 4096 and depth at least 2")
        self.path = path
        self._append = append
        flags = os.O_WRONLY | os.O_APPEND if append else os.O_WRONLY | os.O_CREAT | os.O_EXCL
        digest = continues.copy() if continues is not None else hashlib.sha256()
        file = DirectFile(path, flags, direct=direct)
        self._slabs = SlabWriter(file, digest, slab_size=slab_size, slabs=depth - 1, name="blob")

    @property
    def received(self) -> int:
        return self._slabs.received

    # -- the event loop's side ---------------------------------------------------------------------------
    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        with _no_room_is_storage_full(self.path):
            while view:
                view, waits = self._slabs.fill(view)
                for future in waits:
                    await asyncio.wrap_future(future)

    async def finish(self) -> str:
        """Write what is left, wait for every slab, fsync and close; returns the SHA-256 (hex)."""
        with _no_room_is_storage_full(self.path):
            for future in self._slabs.flush():
                await asyncio.wrap_future(future)
            await asyncio.wrap_future(self._slabs.run_in_writer(self._sync_and_close))
        self._slabs.shutdown()
        return self.digest.hexdigest()

    @property
    def digest(self) -> hashlib._Hash:
        """The SHA-256 state after ``finish`` (a copy: the file's digest so far)."""
        assert self._slabs.digest is not None
        return self._slabs.digest.copy()

    def abort(self) -> None:
        """Stop (waiting at most for the slab being hashed and the one being written) and remove the file
        (an appended-to file stays, for the caller to cut back); a no-op after ``finish`` once the file
        was renamed away."""
        self._slabs.shutdown()
        with contextlib.suppress(OSError):
            self._slabs.file.close()
        if not self._append:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    # -- the writer thread -------------------------------------------------------------------------------
    def _sync_and_close(self) -> None:
        self._slabs.file.fsync()
        self._slabs.file.close()
