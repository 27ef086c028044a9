"""The byte paths of file storage: ``BlobWriter`` (a PUT's body to disk) and ``ReadAhead`` (a blob to a
download), on a real file system, with small slabs and chunks so that every branch runs."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from modelyard.storage import blobreader
from modelyard.storage.blobreader import ReadAhead
from modelyard.storage.blobwriter import BlobWriter


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize(
    "sizes",
    [
        [0],
        [1],
        [4096 * 3],  # whole slabs only
        [5000, 3000, 11_000, 4096],  # crosses slab edges, an unaligned tail
        [40_000],  # one chunk larger than every slab
    ],
)
def test_blob_writer_keeps_every_byte_in_order(tmp_path: Path, direct: bool, sizes: list[int]) -> None:
    """Small slabs and a depth of 2 make every path run: slab reuse, waiting for the oldest slab, an
    aligned O_DIRECT body with a buffered tail, and the buffered fallback."""
    chunks = [os.urandom(n) for n in sizes]
    target = tmp_path / "blob.part"

    async def put() -> str:
        writer = BlobWriter(target, slab_size=8192, depth=2, direct=direct)
        for chunk in chunks:
            await writer.write(chunk)
        assert writer.received == sum(sizes)
        return await writer.finish()

    sha = asyncio.run(put())
    whole = b"".join(chunks)
    assert sha == hashlib.sha256(whole).hexdigest()
    assert target.read_bytes() == whole


def test_blob_writer_abort_removes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "blob.part"

    async def put() -> BlobWriter:
        writer = BlobWriter(target, slab_size=8192, depth=2)
        await writer.write(os.urandom(30_000))
        return writer

    writer = asyncio.run(put())
    writer.abort()
    assert not target.exists()
    writer.abort()  # twice is harmless
    (tmp_path / "taken").write_bytes(b"x")
    with pytest.raises(FileExistsError):  # a temporary name is never reused over a file
        BlobWriter(tmp_path / "taken")
    assert (tmp_path / "taken").read_bytes() == b"x"


def test_blob_writer_reports_a_failed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write error (a full disk) reaches the PUT handler instead of a truncated file being kept."""
    target = tmp_path / "blob.part"

    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    async def put() -> None:
        writer = BlobWriter(target, slab_size=8192, depth=2)
        monkeypatch.setattr(os, "write", full)
        try:
            await writer.write(os.urandom(40_000))
            await writer.finish()
        finally:
            monkeypatch.undo()
            writer.abort()

    with pytest.raises(OSError, match="No space left"):
        asyncio.run(put())
    assert not target.exists()


class _CountingPread:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self._real = os.pread

    def __call__(self, fd: int, size: int, offset: int) -> bytes:
        self.calls.append((offset, size))
        return self._real(fd, size, offset)


def _read_all(path: Path, plan: list[tuple[str, int]], depth: int = 3) -> list[bytes]:
    async def go() -> list[bytes]:
        out = []
        async with ReadAhead.open(path, depth=depth) as reader:
            for op, arg in plan:
                if op == "seek":
                    await reader.seek(arg)
                else:
                    out.append(await reader.read(arg))
        return out

    return asyncio.run(go())


def test_read_ahead_returns_the_file_and_reads_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(10 * 1000 + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    pread = _CountingPread()
    monkeypatch.setattr(blobreader.os, "pread", pread)
    chunks = _read_all(path, [("read", 1000)] * 12)
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks[-2:]] == [123, 0]  # the tail, then the end of the file
    # After two reads in a row the next chunks were asked for before the caller wanted them: each
    # offset is read once, and some reads were in flight ahead of the caller.
    offsets = [offset for offset, _ in pread.calls]
    assert len(offsets) == len(set(offsets))  # nothing read twice
    assert set(range(0, 10_001, 1000)) <= set(offsets) <= set(range(0, 14_000, 1000)) | {10_123}
    assert max(offsets) > 10_123  # reads ahead went past what the caller asked for last


def test_read_ahead_seek_and_other_sizes_drop_what_was_read_ahead(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    path = tmp_path / "blob"
    path.write_bytes(data)
    plan = [
        ("read", 500), ("read", 500), ("read", 500),  # sequential: reads ahead start
        ("seek", 7000), ("read", 300), ("read", 300),  # a Range request's seek
        ("read", 64),  # another size
        ("seek", 0), ("read", 8),  # a header read
    ]  # fmt: skip
    got = _read_all(path, plan)
    assert got == [
        data[0:500], data[500:1000], data[1000:1500],
        data[7000:7300], data[7300:7600], data[7600:7664], data[0:8],
    ]  # fmt: skip


def test_read_ahead_refuses_relative_seeks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"abc")

    async def go() -> None:
        async with ReadAhead.open(path) as reader:
            await reader.seek(1, os.SEEK_CUR)

    with pytest.raises(ValueError, match="absolute"):
        asyncio.run(go())
