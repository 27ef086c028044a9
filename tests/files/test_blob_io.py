"""The byte paths of file storage: ``BlobWriter`` (a PUT's body to disk), ``ReadAhead`` (a blob to a
download) and ``DirectFile`` (the O_DIRECT writes under uploads and the CLI's downloads), on a real file
system, with small slabs and chunks so that every branch runs."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import mmap
import os
from pathlib import Path
from typing import Any

import pytest

from modelyard.directio import ALIGN, DirectFile
from modelyard.storage import blobreader
from modelyard.storage.blobreader import ReadAhead
from modelyard.storage.blobwriter import BlobWriter
from modelyard.storage.hashstates import HashStates


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


# -- DirectFile: O_DIRECT where the file system takes it -------------------------------------------------


def _slab(data: bytes) -> memoryview:
    """``data`` in a page-aligned buffer, as the writers hand it over."""
    slab = mmap.mmap(-1, max(len(data), 1))
    slab[: len(data)] = data
    return memoryview(slab)[: len(data)]


def test_direct_file_writes_aligned_slabs_directly_and_the_tail_buffered(tmp_path: Path) -> None:
    target = tmp_path / "f"
    body, tail = os.urandom(3 * ALIGN), os.urandom(100)
    out = DirectFile(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    direct_at_open = out.direct
    out.write(_slab(body))
    assert out.direct == direct_at_open  # aligned: still direct (when the file system took O_DIRECT)
    out.write(_slab(tail))
    assert not out.direct  # an unaligned tail goes through the page cache
    out.fsync()
    out.close()
    out.close()  # twice is harmless
    assert target.read_bytes() == body + tail


@pytest.mark.parametrize("existing", [ALIGN, ALIGN + 7])
def test_direct_file_appends_after_what_the_file_holds(tmp_path: Path, existing: int) -> None:
    """A resumed download appends: at an aligned length it may stay direct, at another it is buffered."""
    target = tmp_path / "f.part"
    first = os.urandom(existing)
    target.write_bytes(first)
    out = DirectFile(target, os.O_WRONLY | os.O_APPEND)
    if existing % ALIGN:
        assert not out.direct
    more = os.urandom(2 * ALIGN)
    out.write(_slab(more))
    out.close()
    assert target.read_bytes() == first + more


def test_direct_file_falls_back_when_the_first_write_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems take O_DIRECT at open and refuse it at the first write (EINVAL): buffered then.
    A refusal after bytes were written is an error, not a silent switch."""
    real_write = os.write
    refused: list[int] = []

    def picky(fd: int, data: Any) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", picky)
    target = tmp_path / "f"
    out = DirectFile(target, os.O_WRONLY | os.O_CREAT)
    data = os.urandom(2 * ALIGN)
    out.write(_slab(data))
    out.close()
    assert target.read_bytes() == data
    assert bool(refused) == hasattr(os, "O_DIRECT")


def test_direct_file_without_o_direct_writes_buffered(tmp_path: Path) -> None:
    target = tmp_path / "f"
    out = DirectFile(target, os.O_WRONLY | os.O_CREAT, direct=False)
    assert not out.direct
    out.write(memoryview(b"abc"))
    out.close()
    assert target.read_bytes() == b"abc"


# -- HashStates and appending writers: resumable uploads hashed chunk by chunk ------------------------------


def test_hash_states_give_the_digest_only_at_its_offset(tmp_path: Path) -> None:
    states = HashStates(limit=2)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert states.get(a, 0) is not None and states.get(a, 0).digest() == hashlib.sha256().digest()
    assert states.get(a, 10) is None
    digest = hashlib.sha256(b"0123456789")
    states.put(a, 10, digest)
    got = states.get(a, 10)
    assert got is not None and got.digest() == digest.digest()
    got.update(b"more")  # a copy: the remembered state does not move
    assert states.get(a, 10).digest() == digest.digest()  # type: ignore[union-attr]
    assert states.get(a, 11) is None
    states.put(b, 1, hashlib.sha256(b"x"))
    states.get(a, 10)  # a is now the most recently used
    states.put(c, 1, hashlib.sha256(b"y"))  # over the limit: b goes
    assert states.get(b, 1) is None and states.get(a, 10) is not None and states.get(c, 1) is not None
    states.drop(a)
    assert states.get(a, 10) is None


def test_an_appending_writer_continues_the_digest_and_leaves_the_file_on_abort(tmp_path: Path) -> None:
    target = tmp_path / "upload.part"
    first, second = os.urandom(3 * ALIGN), os.urandom(5000)
    target.write_bytes(first)

    async def append(data: bytes, finish: bool) -> BlobWriter:
        writer = BlobWriter(target, slab_size=8192, depth=2, append=True, continues=hashlib.sha256(first))
        await writer.write(data)
        if finish:
            await writer.finish()
        return writer

    aborted = asyncio.run(append(os.urandom(9000), finish=False))
    aborted.abort()
    assert target.exists()  # the caller cuts an appended-to file back; it is not removed
    os.truncate(target, len(first))
    writer = asyncio.run(append(second, finish=True))
    assert target.read_bytes() == first + second
    assert writer.digest.hexdigest() == hashlib.sha256(first + second).hexdigest()
