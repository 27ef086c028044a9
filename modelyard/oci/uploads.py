"""Blob upload sessions of the OCI door (``POST``/``PATCH``/``PUT .../blobs/uploads/``).

A session is two files in a staging directory shared by the server's processes: ``<id>.json`` (the
repository it belongs to) and ``<id>.part`` (the bytes so far). Each chunk is appended under an exclusive
lock at the offset the client says (a chunk at another offset is refused with the stored length, so
the client resumes from there), written and hashed on the way by ``storage/blobwriter.py`` and fsync'd
before it is acknowledged. The SHA-256 state after each chunk is kept in this process
(``storage/hashstates.py``); a session whose chunks went to another process is read once at the end
to hash it. ``PUT ?digest=`` completes: the digest must match, then the file goes to storage by content.

The staging directory is the storage root's ``oci-uploads/`` on ``file://`` storage and a local
directory on ``s3://`` (so a session's chunks must reach servers of one host). Sessions untouched for an
hour are swept (when a session starts, at most every ten minutes per process).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from modelyard.storage.blobwriter import BlobWriter
from modelyard.storage.hashstates import HashStates

_ID = re.compile(r"[0-9a-f]{32}")
#: Sessions untouched this long are removed by the sweep.
SESSION_TTL = 3600
#: Starting a session sweeps the staging directory at most this often (seconds, per process).
SWEEP_EVERY = 600


class UploadError(Exception):
    """A chunk that cannot be taken; ``offset`` is what the session holds."""

    def __init__(self, message: str, offset: int, *, kind: str = "range") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.kind = kind


@dataclass(frozen=True)
class Session:
    id: str
    account_id: str
    model_id: str
    part: Path
    size: int


class Uploads:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.hash_states = HashStates()
        self._swept = float("-inf")

    def _meta(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"

    def _part(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def start(self, account_id: str, model_id: str) -> Session:
        if time.monotonic() - self._swept > SWEEP_EVERY:
            self._swept = time.monotonic()
            self.sweep()
        upload_id = secrets.token_hex(16)
        part = self._part(upload_id)
        part.touch()
        self._meta(upload_id).write_text(json.dumps({"account": account_id, "model": model_id}))
        return Session(upload_id, account_id, model_id, part, 0)

    def session(self, upload_id: str, account_id: str, model_id: str) -> Session | None:
        """The session ``upload_id`` of this repository, or None."""
        if not _ID.fullmatch(upload_id):
            return None
        try:
            meta = json.loads(self._meta(upload_id).read_text())
            size = self._part(upload_id).stat().st_size
        except (FileNotFoundError, ValueError):
            return None
        if meta.get("account") != account_id or meta.get("model") != model_id:
            return None
        return Session(upload_id, account_id, model_id, self._part(upload_id), size)

    async def append(self, session: Session, chunks: AsyncIterator[bytes], start: int | None) -> int:
        """Append a request's body at ``start`` (None: at the end); returns the new length."""
        f = await anyio.to_thread.run_sync(_open_locked, session.part)
        try:
            size = os.fstat(f.fileno()).st_size
            if start is not None and start != size:
                raise UploadError(f"the chunk starts at byte {start} but the upload holds {size} bytes", size)
            continues = self.hash_states.get(session.part, size)
            writer = await anyio.to_thread.run_sync(
                lambda: BlobWriter(session.part, append=True, continues=continues)
            )
            try:
                async for chunk in chunks:
                    await writer.write(chunk)
                await writer.finish()
            except BaseException:
                writer.abort()
                f.truncate(size)
                raise
            end = size + writer.received
            if continues is not None:
                self.hash_states.put(session.part, end, writer.digest)
            os.utime(self._meta(session.id))
            return end
        finally:
            f.close()

    async def digest(self, session: Session) -> str:
        """The SHA-256 (hex) of what the session holds."""
        size = session.part.stat().st_size
        state = self.hash_states.get(session.part, size)
        if state is not None:
            return state.hexdigest()
        return await anyio.to_thread.run_sync(_sha256_of, session.part)

    def close(self, session: Session) -> None:
        """Forget a session (its part file may have been moved into storage already)."""
        self.hash_states.drop(session.part)
        for path in (session.part, self._meta(session.id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def sweep(self, older_than: float = SESSION_TTL) -> int:
        cutoff = time.time() - older_than
        removed = 0
        for path in self.root.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


def _open_locked(path: Path) -> BinaryIO:
    f = open(path, "ab")  # noqa: SIM115 - closed by the caller
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    return f


def _sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
