"""Blob sinks (``prepare/blobs.py``): a variant's file streamed into storage under its SHA-256, on file
storage and on S3 (moto's server), recorded in ``blobs``; an aborted sink leaves nothing behind."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.prepare import blobs
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.store.repository import Store
from modelyard.store.tables import blobs as blob_rows
from tests.support.databases import migrated_store, sqlite_url
from tests.support.files import S3Server


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with migrated_store(sqlite_url(tmp_path)) as s:
        yield s


def _row(store: Store, sha256: str) -> tuple[str, int] | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(blob_rows.c.sha256, blob_rows.c.size).where(blob_rows.c.sha256 == sha256)
        ).first()
    return None if row is None else (row[0], row[1])


def _stream(sink: blobs.BlobSink, data: bytes, piece: int) -> None:
    view = memoryview(data)
    for start in range(0, len(data), piece):
        sink.write(view[start : start + piece])


def test_file_storage_blob(store: Store, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    data = os.urandom(3 * 1024 * 1024 + 17)
    sink = blobs.open_sink(store, storage)
    _stream(sink, data, 1 << 20)
    sha256, size = sink.finish()
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert storage.blob_path(sha256).read_bytes() == data
    assert _row(store, sha256) == (sha256, len(data))
    assert not any((tmp_path / "storage" / "tmp").iterdir())  # renamed into place
    again = blobs.open_sink(store, storage)  # the same bytes again: one blob
    _stream(again, data, 4096)
    assert again.finish() == (sha256, size)
    dropped = blobs.open_sink(store, storage)
    dropped.write(memoryview(b"half a shard"))
    dropped.abort()
    assert not any((tmp_path / "storage" / "tmp").iterdir())


def test_s3_blob_multipart(store: Store, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "PART_BYTES", 5 * 1024 * 1024)  # S3's smallest part: three parts here
    client = s3_server.client()
    bucket = s3_server.new_bucket()
    storage = S3Storage(bucket, "models", client=client)
    data = os.urandom(12 * 1024 * 1024 + 5)
    sink = blobs.open_sink(store, storage)
    _stream(sink, data, 1 << 20)
    sha256, size = sink.finish()
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    key = f"models/blobs/sha256/{sha256}"
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert _row(store, sha256) == (sha256, len(data))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [key]  # the temporary key is gone
    small = blobs.open_sink(store, storage)  # one part, smaller than the minimum (the last may be)
    small.write(memoryview(b'{"quant_method": "fp8"}'))
    assert small.finish()[1] == 23
    dropped = blobs.open_sink(store, storage)
    _stream(dropped, data[: 6 * 1024 * 1024], 1 << 20)  # one part sent, then aborted
    dropped.abort()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
