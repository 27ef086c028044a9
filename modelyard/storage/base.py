"""What modelyard needs from a place that holds model files (``file://`` or ``s3://``).

A model file is declared by ``:getUploadEndpoint`` (a row in ``model_files``), sent by the client to a
signed PUT URL, checked by ``:validateUpload`` and handed out through signed GET URLs. Where the bytes
live is the backend's business:

* ``LocalStorage`` (``file:///path``) serves the signed URLs itself (the raw PUT/GET endpoints in
  ``modelyard.api.blobs``) and keeps each file once, by SHA-256 (content-addressed);
* ``S3Storage`` (``s3://bucket/prefix``) presigns URLs of the object store, so the bytes never pass
  through modelyard; an upload lands at a key of its own, and ``:validateUpload`` hashes it and copies
  it to its content-addressed key (``blobs/sha256/<hex>``).

Committed files (revisions, ``store/revisions.py``) are blobs on both backends: ``FileRef.location`` is
``sha256:<hex>``, shared by every revision and model holding the same bytes.

Backends are synchronous (call them from a worker thread): they do file-system or HTTP I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: How long a signed URL stays valid (decisions.md: one hour).
URL_TTL_SECONDS = 3600


class StorageError(Exception):
    """The storage failed or holds something unexpected (not the caller's fault)."""


@dataclass(frozen=True)
class FileRef:
    """One declared model file, as the storage needs it to sign URLs and find the bytes."""

    account_id: str
    model_id: str
    path: str
    size: int
    #: A random id per ``:getUploadEndpoint`` call; URLs of an older file list stop working.
    upload_id: str
    #: Where the bytes are: ``sha256:<hex>`` (file storage) or the object key (s3), once complete.
    location: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """What the storage says about a stored object."""

    size: int
    location: str


@dataclass(frozen=True)
class BlobEntry:
    """A content-addressed blob the storage holds (what garbage collection walks)."""

    sha256: str
    size: int
    mtime: float


class RangeReader(Protocol):
    """Random access to the bytes of one stored file (validation reads headers only)."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        ...


class Storage(Protocol):
    """A place for model files."""

    #: ``"file"`` or ``"s3"``.
    scheme: str
    #: The storage URL (``file:///...`` or ``s3://bucket/prefix``), without credentials.
    url: str
    #: Whether the PUT/GET URLs point at modelyard itself (then ``api/blobs.py`` serves them).
    serves_bytes: bool

    def upload_url(self, ref: FileRef, base_url: str, expires: int, *, resumable: bool = False) -> str:
        """A URL accepting exactly ``ref.size`` bytes by PUT until ``expires`` (Unix seconds)."""
        ...

    def unsigned_uri(self, ref: FileRef) -> str | None:
        """The object's address for callers with direct access to the store (``s3://...``), or None."""
        ...

    def download_url(self, ref: FileRef, base_url: str, expires: int) -> str:
        """A URL serving the complete file by GET (with ``Range``) until ``expires``."""
        ...

    def stat(self, ref: FileRef) -> ObjectInfo | None:
        """The stored object of a declared file, or None when it has not arrived (s3: HeadObject)."""
        ...

    def open_reader(self, ref: FileRef) -> RangeReader:
        """Ranged reads of a complete file (``ref.location`` set)."""
        ...

    def delete(self, ref: FileRef) -> None:
        """Forget one model file's bytes (file storage: a no-op; blobs are collected by reference)."""
        ...
