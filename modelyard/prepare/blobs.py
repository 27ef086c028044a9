"""Writing the files of a prepared variant as content-addressed blobs, through the storage layer.

A ``BlobSink`` takes the bytes of one file as they are produced (``write``), hashes them on the way,
and on ``finish`` stores them under their SHA-256 and records the blob (``Jobs.store_blob``: the
``blobs`` row a revision commit requires, made young so the garbage collector's grace period keeps it
until the commit lands):

* file storage (``LocalStorage``): the storage's own ``BlobWriter`` (slabs, hashing and O_DIRECT writes
  on threads of their own; driven here from a private event loop), fsync'd, then renamed into the blob
  path;
* S3 (``S3Storage``): a multipart upload (parts of 32 MiB) to a temporary key, hashed as it is sent,
  then copied to the blob's content-addressed key by the object store and the temporary key deleted.

``abort`` drops what was written (a job that fails or loses its lease leaves no half-written blob; a
crash leaves a temporary file or an unfinished multipart upload, which the sweep or the bucket's
lifecycle rules remove).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from typing import Any, Protocol

from modelyard.storage.base import Storage, StorageError
from modelyard.store.repository import Store

#: Bytes per part of an S3 multipart upload (S3's minimum is 5 MiB, the last part excepted).
PART_BYTES = 32 * 1024 * 1024


class BlobSink(Protocol):
    def write(self, data: memoryview) -> None: ...

    def finish(self) -> tuple[str, int]:
        """Store the blob; its (SHA-256 hex, size)."""
        ...

    def abort(self) -> None: ...


class LocalBlobSink:
    def __init__(self, store: Store, storage: Any) -> None:
        self.store = store
        self.storage = storage
        self.writer = storage.begin_put()
        self.loop = asyncio.new_event_loop()
        self.size = 0

    def write(self, data: memoryview) -> None:
        self.loop.run_until_complete(self.writer.write(data))
        self.size += len(data)

    def finish(self) -> tuple[str, int]:
        try:
            sha256: str = self.loop.run_until_complete(self.writer.finish())
        finally:
            self.loop.close()
        path = self.writer.path
        self.store.jobs_call(
            lambda jobs: jobs.store_blob(sha256, self.size, lambda: self.storage.place(path, sha256))
        )
        return sha256, self.size

    def abort(self) -> None:
        self.writer.abort()
        if not self.loop.is_closed():
            self.loop.close()


class S3BlobSink:
    def __init__(self, store: Store, storage: Any) -> None:
        self.store = store
        self.storage = storage
        self.client = storage.client
        self.bucket = storage.bucket
        self.key = f"{storage.prefix}tmp/prepare/{secrets.token_hex(16)}"
        self.digest = hashlib.sha256()
        self.size = 0
        self.buffer = bytearray()
        self.parts: list[dict[str, Any]] = []
        self.upload_id: str | None = None

    def _send(self, final: bool) -> None:
        if not self.buffer and not (final and not self.parts):
            return
        try:
            if self.upload_id is None:
                created = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
                self.upload_id = str(created["UploadId"])
            number = len(self.parts) + 1
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=bytes(self.buffer),
            )
        except Exception as e:
            raise StorageError(f"cannot upload to s3://{self.bucket}/{self.key}: {e}") from e
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        self.buffer.clear()

    def write(self, data: memoryview) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.buffer += data
        if len(self.buffer) >= PART_BYTES:
            self._send(final=False)

    def finish(self) -> tuple[str, int]:
        self._send(final=True)
        sha256 = self.digest.hexdigest()
        target = self.storage.blob_key(sha256)
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
            self.upload_id = None

            def place() -> None:
                self.client.copy({"Bucket": self.bucket, "Key": self.key}, self.bucket, target)

            self.store.jobs_call(lambda jobs: jobs.store_blob(sha256, self.size, place))
        except StorageError:
            raise
        except Exception as e:
            raise StorageError(f"cannot store s3://{self.bucket}/{target}: {e}") from e
        finally:
            self._drop()
        return sha256, self.size

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            if self.upload_id is not None:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            else:
                self.client.delete_object(Bucket=self.bucket, Key=self.key)

    def abort(self) -> None:
        self._drop()


def open_sink(store: Store, storage: Storage) -> BlobSink:
    """A sink for one new blob of ``storage`` (file or S3)."""
    if storage.scheme == "file":
        return LocalBlobSink(store, storage)
    if storage.scheme == "s3":
        return S3BlobSink(store, storage)
    raise StorageError(f"cannot write blobs to {storage.url}")
