"""``modelyard import FILE.jsonl``: Model resources, one JSON object per line, into the store.

Lines are validated by the admin path (``importers.records.admin_model``: output-only fields allowed), in
batches; with worker processes each reads and decodes its own chunks of the file while this process
writes the previous batches. Into an empty catalog the whole file can be one bulk load
(``Store.bulk_load``).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import orjson

from modelyard.importers.records import admin_model
from modelyard.importers.workers import decoding_pool
from modelyard.resources.codec import ResourceError
from modelyard.resources.limits import DEFAULT_MAX_BODY_BYTES
from modelyard.store.bulk import ROW_NAME, Row
from modelyard.store.errors import AlreadyExists, CatalogNotEmpty
from modelyard.store.repository import Store


@dataclass
class ImportReport:
    created: int = 0
    replaced: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    #: (line number, model name) of each model that already existed (not replaced: no ``upsert``).
    existing: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No line was rejected (models already there are not a failure: a re-run finds them)."""
        return not self.rejected


@dataclass
class DecodedBatch:
    """One batch of an import file, decoded (in a worker process when the import runs several)."""

    size: int  # lines read, blank ones included
    lines: list[int]  # the line number of each row
    rows: list[Row]
    rejected: list[tuple[int, str]]


@dataclass(frozen=True)
class FileChunk:
    """Consecutive lines of an import file, read by whoever decodes them (a worker process reads its
    own chunks: the importing process does not copy the text to it)."""

    path: str
    offset: int
    size: int
    first_line: int

    def read(self) -> list[tuple[int, bytes]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        return list(enumerate(lines, start=self.first_line))


#: A batch of an import: numbered lines (text or UTF-8), or where to read them.
Chunk = list[tuple[int, str]] | list[tuple[int, bytes]] | FileChunk


def file_chunks(path: str, lines_per_chunk: int) -> Iterator[FileChunk]:
    """``path`` in chunks of ``lines_per_chunk`` lines (only the line breaks are looked at here)."""
    offset, line = 0, 1
    with open(path, "rb") as f:
        while True:
            block = list(itertools.islice(f, lines_per_chunk))
            if not block:
                return
            size = sum(map(len, block))
            yield FileChunk(path, offset, size, line)
            offset += size
            line += len(block)


def decode_batch(account: str, chunk: Chunk) -> DecodedBatch:
    """Validate numbered JSON lines and build their rows (no database access). A model id given twice
    in one batch is rejected on its second line; across batches the database finds it."""
    lines = chunk.read() if isinstance(chunk, FileChunk) else chunk
    rejected: list[tuple[int, str]] = []
    numbers: list[int] = []
    items: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for lineno, line in lines:
        if not line.strip():
            continue
        size = _record_bytes(line)
        if size > DEFAULT_MAX_BODY_BYTES:
            rejected.append(
                (
                    lineno,
                    f"the Model record is {size:,} bytes long; "
                    f"at most {DEFAULT_MAX_BODY_BYTES:,} are allowed",
                )
            )
            continue
        try:
            model_id, resource = admin_model(orjson.loads(line), account=account)
        except orjson.JSONDecodeError as e:
            rejected.append((lineno, f"not valid JSON: {e}"))
            continue
        except ResourceError as e:
            rejected.append((lineno, str(e)))
            continue
        if model_id in seen:
            rejected.append((lineno, f"model id {model_id!r} already appears on line {seen[model_id]}"))
            continue
        seen[model_id] = lineno
        numbers.append(lineno)
        items.append((model_id, resource))
    return DecodedBatch(len(lines), numbers, Store.prepare_rows(account, items), rejected)


def _record_bytes(line: str | bytes) -> int:
    """The UTF-8 length of a line (encoded only when its characters alone do not settle the limit)."""
    if isinstance(line, bytes) or len(line) * 4 <= DEFAULT_MAX_BODY_BYTES:
        return len(line)
    return len(line.encode())


class _RowWriter(Protocol):
    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]: ...


def import_lines(
    store: Store,
    lines: Iterable[tuple[int, str]] | Iterator[FileChunk],
    *,
    account: str,
    upsert: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    bulk: bool | None = False,
    status: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import numbered JSON lines. Each batch is one transaction; a bad line is reported with its line
    number and skipped, and never costs the good lines around it. Writing a batch overlaps with decoding
    the next ones: ``jobs`` > 1 decodes in that many worker processes (a large file), else in this one.

    With ``bulk`` the whole import is one ``Store.bulk_load`` (an empty catalog only; raises
    CatalogNotEmpty before writing anything otherwise): batches are savepoints, indexes are built once at
    the end, and nothing is visible, or kept if the import fails, before it commits. ``bulk=None``: a bulk
    load if the catalog is empty, else batch by batch."""
    report = ImportReport()
    say = status or (lambda _message: None)

    def write(sink: _RowWriter, batch: DecodedBatch, *, in_bulk_load: bool) -> None:
        try:
            created, replaced = sink.write_rows(account, batch.rows, upsert=upsert)
            report.created += created
            report.replaced += replaced
        except AlreadyExists:
            # Models of the batch already exist (typically: a re-run of an interrupted import). Find them
            # in one query, set them aside and write the rest in one transaction. Not in a bulk load: the
            # catalog was empty (only an id repeated in the file can exist, uncommitted), and another
            # connection would wait for the load's lock on the table.
            names = [] if in_bulk_load else [row[ROW_NAME] for row in batch.rows]
            taken = store.existing_names(names) if names else set()
            keep = [
                (n, row) for n, row in zip(batch.lines, batch.rows, strict=True) if row[ROW_NAME] not in taken
            ]
            report.existing += [
                (n, row[ROW_NAME])
                for n, row in zip(batch.lines, batch.rows, strict=True)
                if row[ROW_NAME] in taken
            ]
            try:
                created, replaced = sink.write_rows(account, [row for _n, row in keep], upsert=upsert)
                report.created += created
                report.replaced += replaced
            except AlreadyExists:
                # Not committed yet (an id twice in one bulk load) or written meanwhile: one by one.
                for lineno, row in keep:
                    try:
                        c, r = sink.write_rows(account, [row], upsert=upsert)
                        report.created += c
                        report.replaced += r
                    except AlreadyExists:
                        report.existing.append((lineno, row[ROW_NAME]))
        if progress is not None:
            progress(batch.size)

    with contextlib.ExitStack() as stack:
        decoded: Iterator[DecodedBatch]
        if jobs > 1:
            # importers/workers.py: workers that import the installed package and die with this process
            pool = stack.enter_context(decoding_pool(jobs))
            decoded = _in_order(pool, account, _batches(lines, batch_size), ahead=2 * jobs)
        else:
            decoded = (decode_batch(account, chunk) for chunk in _batches(lines, batch_size))
        sink: _RowWriter = store
        bulk_load = False
        if bulk is not False:
            try:
                sink = stack.enter_context(store.bulk_load())
                bulk_load = True
                say("bulk load into the empty catalog: one transaction, indexes built once at the end")
            except CatalogNotEmpty:
                if bulk:
                    raise
        writer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-import"))
        pending: Future[None] | None = None
        for batch in decoded:
            report.rejected += batch.rejected
            if pending is not None:
                pending.result()
            pending = writer.submit(write, sink, batch, in_bulk_load=bulk_load)
        if pending is not None:
            pending.result()
        if bulk_load:
            say(f"loaded {report.created + report.replaced:,} models; building the indexes and committing")
    report.rejected.sort()
    report.existing.sort()
    return report


def _batches(lines: Iterable[tuple[int, str]] | Iterator[FileChunk], size: int) -> Iterator[Chunk]:
    chunk: list[tuple[int, str]] = []
    for numbered in lines:
        if isinstance(numbered, FileChunk):
            yield numbered
            continue
        chunk.append(numbered)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decode_in_worker(account: str, chunk: Chunk) -> DecodedBatch:
    try:
        return decode_batch(account, chunk)
    finally:
        gc.collect()


def _in_order(pool: Executor, account: str, chunks: Iterator[Chunk], *, ahead: int) -> Iterator[DecodedBatch]:
    """``decode_batch`` of every chunk in ``pool``, in order, with at most ``ahead`` chunks in flight."""
    inflight: collections.deque[Future[DecodedBatch]] = collections.deque()
    for chunk in chunks:
        inflight.append(pool.submit(_decode_in_worker, account, chunk))
        if len(inflight) >= ahead:
            yield inflight.popleft().result()
    while inflight:
        yield inflight.popleft().result()


def numbered_lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    yield from enumerate(handle, start=1)
