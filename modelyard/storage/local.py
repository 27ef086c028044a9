"""``file:///path`` storage: content-addressed blobs on a local (or shared) file system.

Layout under the root::

    blobs/sha256/ab/cd/abcd...   one file per distinct content (identical files are kept once)
    tmp/<random>.part            a PUT in progress (same file system, so the final rename is atomic)
    partial/<key>.part           a resumable upload between its chunks

A PUT streams into a ``tmp/`` file, hashing on the way (``storage/blobwriter.py``); once exactly
the declared number of bytes has arrived the file is fsync'd, renamed (``os.replace``) to its blob
path and the directory fsync'd, and only then is the PUT acknowledged. A short, long or interrupted
PUT deletes its temporary file; a process killed mid-PUT leaves one in ``tmp/``, which the sweep
removes. Nothing partial is ever under ``blobs/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelyard.storage.base import BlobEntry, FileRef, ObjectInfo, StorageError
from modelyard.storage.blobwriter import BlobWriter
from modelyard.storage.hashstates import HashStates
from modelyard.storage.signing import SignedRequest, UrlSigner

SHA_PREFIX = "sha256:"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durably(path: Path) -> None:
    """``mkdir -p`` that fsyncs each parent of a directory it creates (the new entry is durable)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        _fsync_dir(directory.parent)


@dataclass
class LocalReader:
    path: Path
    size: int

    def read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), length, offset)


class LocalStorage:
    scheme = "file"
    serves_bytes = True

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"
        self.signer: UrlSigner | None = None
        self.blobs = root / "blobs" / "sha256"
        self.tmp = root / "tmp"
        self.partial = root / "partial"
        self.hash_states = HashStates()  # of the resumable uploads this process is receiving
        for directory in (self.blobs, self.tmp, self.partial):
            _makedirs_durably(directory)

    # -- URLs ------------------------------------------------------------------------------------------
    def _signer(self) -> UrlSigner:
        if self.signer is None:
            raise StorageError("file storage has no URL signing key (the application sets it)")
        return self.signer

    def upload_url(self, ref: FileRef, base_url: str, expires: int, *, resumable: bool = False) -> str:
        req = SignedRequest("PUT", ref.account_id, ref.model_id, ref.path, ref.upload_id, ref.size, expires)
        return self._signer().sign(base_url, req)

    def unsigned_uri(self, ref: FileRef) -> str | None:
        return None

    def download_url(self, ref: FileRef, base_url: str, expires: int) -> str:
        """A committed file's URL names its blob (``upload=sha256:<hex>``); the file endpoint serves it
        while a revision of that model holds the file."""
        upload = ref.location if ref.location and ref.location.startswith(SHA_PREFIX) else ref.upload_id
        req = SignedRequest("GET", ref.account_id, ref.model_id, ref.path, upload, ref.size, expires)
        return self._signer().sign(base_url, req)

    # -- blobs -----------------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256[2:4] / sha256

    def begin_put(self) -> BlobWriter:
        """A new temporary file in ``tmp/``, written slab by slab (see ``storage/blobwriter.py``)."""
        return BlobWriter(self.tmp / f"{secrets.token_hex(16)}.part")

    def place(self, temp: Path, sha256: str) -> None:
        """Move a complete, fsync'd file to its blob path (atomically; an identical blob is replaced by
        identical bytes) and make the rename durable."""
        target = self.blob_path(sha256)
        _makedirs_durably(target.parent)
        os.replace(temp, target)
        _fsync_dir(target.parent)

    def stat(self, ref: FileRef) -> ObjectInfo | None:
        if ref.location is None or not ref.location.startswith(SHA_PREFIX):
            return None
        try:
            size = self.blob_path(ref.location[len(SHA_PREFIX) :]).stat().st_size
        except FileNotFoundError:
            return None
        return ObjectInfo(size=size, location=ref.location)

    def open_reader(self, ref: FileRef) -> LocalReader:
        if ref.location is None or not ref.location.startswith(SHA_PREFIX):
            raise StorageError(f"{ref.path} has not been uploaded")
        path = self.blob_path(ref.location[len(SHA_PREFIX) :])
        try:
            return LocalReader(path, path.stat().st_size)
        except FileNotFoundError:
            raise StorageError(
                f"the blob of {ref.path} ({ref.location}) is missing from {self.url}"
            ) from None

    def delete(self, ref: FileRef) -> None:
        """Blobs are shared by content: they are removed by reference (``delete_blob``), not per file."""

    def delete_blob(self, sha256: str) -> int:
        """Remove one blob; returns the bytes freed (0 when it was not there)."""
        path = self.blob_path(sha256)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        _fsync_dir(path.parent)
        return size

    def list_blobs(self) -> Iterator[BlobEntry]:
        for first in sorted(self.blobs.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for blob in sorted(second.iterdir()):
                    try:
                        st = blob.stat()
                    except FileNotFoundError:
                        continue
                    yield BlobEntry(blob.name, st.st_size, st.st_mtime)

    # -- resumable uploads (the GCS protocol) -----------------------------------------------------------
    def partial_path(self, ref: FileRef) -> Path:
        key = hashlib.sha256(
            f"{ref.account_id}/{ref.model_id}/{ref.upload_id}/{ref.path}".encode()
        ).hexdigest()
        return self.partial / f"{key}.part"

    # -- the sweep -------------------------------------------------------------------------------------
    def sweep_stale(self, older_than: float) -> tuple[int, int]:
        """Remove temporary and partial files untouched for ``older_than`` seconds (PUTs that died or
        resumable uploads abandoned past their URLs' expiry). Returns (files, bytes)."""
        cutoff = time.time() - older_than
        files = freed = 0
        for directory in (self.tmp, self.partial):
            for path in directory.iterdir():
                try:
                    st = path.stat()
                    if st.st_mtime < cutoff:
                        path.unlink()
                        files += 1
                        freed += st.st_size
                except FileNotFoundError:
                    continue
        return files, freed
