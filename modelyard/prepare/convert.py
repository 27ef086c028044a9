"""Streaming conversion of a safetensors checkpoint to a prepared precision.

The conversion never holds a checkpoint in memory, only the tensor being converted:

1. ``plan.plan_checkpoint`` (re-exported here) computes every output shard's header, and so its size,
   from the input headers alone, and the new ``config.json`` and index (see ``plan.py``).
2. ``ShardWriter.write_shard`` streams one shard: the header, then each tensor in the order of the
   input's data offsets, in pieces of about 32 MiB read by range (FP8 weights in whole 128-row bands,
   so each piece yields its rows of e4m3 bytes and of block scales; the scales follow the weight).
   The next piece is read while the current one is converted (on two threads: NumPy releases the GIL)
   and handed to the sink. Memory is a few pieces, whatever the size of the tensors or the
   checkpoint.

``convert_directory`` runs both over a local folder (tests, the benchmark). The job that prepares a
stored model (``prepare/jobs``) feeds ``write_shard`` into the storage layer's blob writer instead.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.prepare import kernels
from modelyard.prepare.plan import (
    INDEX_SUFFIX,
    ITEMSIZE,
    SCALE_SUFFIX,
    CheckpointPlan,
    ConversionError,
    ShardPlan,
    TensorIn,
    TensorOut,
    plan_checkpoint,
    quantization_config,
)
from modelyard.prepare.precisions import Precision
from modelyard.storage.base import RangeReader

__all__ = [
    "INDEX_SUFFIX",
    "ITEMSIZE",
    "SCALE_SUFFIX",
    "CheckpointPlan",
    "ConversionError",
    "FileReader",
    "ShardPlan",
    "ShardWriter",
    "TensorIn",
    "TensorOut",
    "convert_directory",
    "local_files",
    "plan_checkpoint",
    "quantization_config",
]

#: NumPy dtypes of the floating dtypes the kernels read.
NUMPY = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": kernels.BF16,
}
TARGET = {"BF16": kernels.BF16, "F16": kernels.FP16}
#: Bytes of a tensor read, converted and written at a time (FP8: whole 128-row bands, so at least
#: 128 rows). Two pieces are in memory at once (the one converted and the one read ahead), plus the
#: converted output: memory does not grow with the tensor or the checkpoint.
PIECE_BYTES = 32 * 1024 * 1024
#: Elements below which one thread converts a piece (splitting costs more than it saves).
SPLIT_MIN_ELEMENTS = 1 << 20

Sink = Callable[[memoryview], object]


# -- writing -------------------------------------------------------------------------------------------
def _read_exactly(reader: RangeReader, start: int, length: int, path: str) -> bytes | bytearray:
    """``length`` bytes at ``start``: the reader's own bytes when one read returns them all (no copy),
    else assembled from several reads."""
    first = reader.read(start, length) if length else b""
    if len(first) == length:
        return first
    buf = bytearray(length)
    view = memoryview(buf)
    view[: len(first)] = first
    done = len(first)
    while done < length:
        data = reader.read(start + done, min(length - done, 64 * 1024 * 1024))
        if not data:
            raise ConversionError(f"{path} ended at byte {start + done} (expected {start + length})")
        view[done : done + len(data)] = data
        done += len(data)
    return buf


@dataclass(frozen=True)
class _Piece:
    """One ranged read of a shard's tensor: ``rows`` (FP8: a multiple of 128 rows) or ``elements``
    (casts, copies: a byte range) starting at ``first``."""

    tensor: TensorOut
    start: int
    length: int
    first: int
    count: int
    last: bool


class ShardWriter:
    """Converts shards; one per job. It owns a small thread pool: one thread reads the next piece while
    ``threads`` threads convert the current one (NumPy releases the GIL), each with its own buffers."""

    def __init__(self, threads: int = 2, piece_bytes: int | None = None) -> None:
        self.threads = max(1, threads)
        self.piece_bytes = piece_bytes or PIECE_BYTES
        self._readers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-read")
        self._workers = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="prepare")
        self._quantizers = [kernels.Fp8Quantizer() for _ in range(self.threads)]
        self._casters = [kernels.Caster() for _ in range(self.threads)]

    def close(self) -> None:
        self._readers.shutdown(wait=True)
        self._workers.shutdown(wait=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pieces(self, plan: ShardPlan) -> Iterator[_Piece]:
        for t in plan.tensors:
            src = t.source
            if t.action == "scale":
                continue
            itemsize = ITEMSIZE[src.dtype]
            if t.action == "fp8":
                rows, cols = src.shape
                row_bytes = max(1, cols * itemsize)
                step = max(kernels.BLOCK, self.piece_bytes // row_bytes // kernels.BLOCK * kernels.BLOCK)
                for r0 in range(0, rows, step):
                    n = min(step, rows - r0)
                    yield _Piece(t, src.start + r0 * row_bytes, n * row_bytes, r0, n, r0 + n >= rows)
                if rows == 0:
                    yield _Piece(t, src.start, 0, 0, 0, True)
                continue
            elements = max(1, math.prod(src.shape))
            step = max(1, self.piece_bytes // itemsize)
            for e0 in range(0, elements, step):
                n = min(step, elements - e0)
                yield _Piece(t, src.start + e0 * itemsize, n * itemsize, e0, n, e0 + n >= elements)

    def write_shard(
        self,
        plan: ShardPlan,
        reader: RangeReader,
        sink: Sink,
        progress: Callable[[int], None] = lambda n: None,
    ) -> None:
        """Write the shard of ``plan`` to ``sink``: its header, then every tensor, piece by piece (each
        piece read while the one before is converted and written). ``progress(n)`` is called with the
        parameters done after each tensor."""
        sink(memoryview(plan.header))
        pieces = self._pieces(plan)

        def submit(piece: _Piece | None) -> Future[bytes | bytearray] | None:
            if piece is None:
                return None
            return self._readers.submit(_read_exactly, reader, piece.start, piece.length, plan.path)

        current = next(pieces, None)
        pending = submit(current)
        scales: np.ndarray[Any, Any] | None = None
        while current is not None and pending is not None:
            data = pending.result()
            following = next(pieces, None)
            pending_next = submit(following)  # read ahead while this piece is converted and written
            t = current.tensor
            try:
                if t.action == "copy":
                    sink(memoryview(data))
                elif t.action == "cast":
                    sink(self._cast(t, data))
                else:
                    if current.first == 0:
                        scales = np.empty(kernels.scale_shape(*t.shape), dtype=np.float32)
                    assert scales is not None
                    sink(self._quantize(t, current, data, scales))
                    if current.last:
                        sink(_bytes_of(scales))
            except kernels.KernelError as e:
                raise ConversionError(f"{plan.path}: tensor {t.name!r}: {e}") from None
            if current.last:
                progress(math.prod(t.shape))
            current, pending = following, pending_next

    def _split(self, total: int, unit: int) -> list[tuple[int, int]]:
        """``[0, total)`` in up to ``threads`` ranges whose bounds are multiples of ``unit``."""
        if self.threads == 1 or total < SPLIT_MIN_ELEMENTS:
            return [(0, total)]
        per = -(-total // self.threads // unit) * unit
        return [(a, min(total, a + per)) for a in range(0, total, per)]

    def _cast(self, t: TensorOut, data: bytes | bytearray) -> memoryview:
        array = np.frombuffer(data, dtype=NUMPY[t.source.dtype])
        out = np.empty(array.size, dtype=TARGET[t.dtype])
        parts = self._split(array.size, kernels.CAST_CHUNK)
        jobs = [
            self._workers.submit(caster.cast, array[a:b], TARGET[t.dtype], out[a:b])
            for caster, (a, b) in zip(self._casters, parts, strict=False)
        ]
        for job in jobs:
            job.result()
        return _bytes_of(out)

    def _quantize(
        self, t: TensorOut, piece: _Piece, data: bytes | bytearray, scales: np.ndarray[Any, Any]
    ) -> memoryview:
        cols = t.shape[1]
        array = np.frombuffer(data, dtype=NUMPY[t.source.dtype]).reshape(piece.count, cols)
        q = np.empty((piece.count, cols), dtype=kernels.FP8)
        band0 = piece.first // kernels.BLOCK
        parts = (
            self._split(piece.count, kernels.BLOCK)
            if piece.count * cols >= SPLIT_MIN_ELEMENTS
            else [(0, piece.count)]
        )
        jobs = [
            self._workers.submit(
                quantizer.quantize,
                array[a:b],
                q[a:b],
                scales[band0 + a // kernels.BLOCK : band0 + -(-b // kernels.BLOCK)],
            )
            for quantizer, (a, b) in zip(self._quantizers, parts, strict=False)
        ]
        for job in jobs:
            job.result()
        return _bytes_of(q)


def _bytes_of(array: np.ndarray[Any, Any]) -> memoryview:
    flat: Any = array.reshape(-1).view(np.uint8)
    return memoryview(flat)


# -- a local folder ------------------------------------------------------------------------------------
@dataclass
class FileReader:
    """A ``RangeReader`` over a local file (``os.pread``)."""

    path: Path
    size: int

    def read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), length, offset)


def local_files(root: Path) -> dict[str, FileReader]:
    """Every file under ``root`` by relative path, as a RangeReader."""
    return {
        p.relative_to(root).as_posix(): FileReader(p, p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def convert_directory(
    source: Path, target: Path, precision: Precision, *, threads: int = 2, piece_bytes: int | None = None
) -> CheckpointPlan:
    """Prepare the checkpoint in folder ``source`` into folder ``target`` (created; carried files
    copied)."""
    files = local_files(source)
    plan = plan_checkpoint(files, precision)
    with ShardWriter(threads, piece_bytes) as writer:
        for shard in plan.shards:
            out_path = target / shard.path
            out_path.parent.mkdir(parents=True, exist_ok=True)
            with open(out_path, "wb") as f:
                writer.write_shard(shard, files[shard.path], f.write)
    for path, data in plan.rewritten.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
    for path in plan.carried:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes((source / path).read_bytes())
    return plan
