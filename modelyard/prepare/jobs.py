"""The ``prepare`` job: convert a model's ``main`` revision to a precision and commit it to the branch
named after it (``fp8``, ``bf16``, ``fp16``).

1. ``main``'s tree (``store.revisions``); every file is read through the storage layer by its blob
   (ranged reads: local files or S3), nothing is downloaded whole;
2. ``convert.plan_checkpoint`` computes the new shards' headers, ``config.json`` and index; a checkpoint
   that cannot be prepared fails the job with the reason (the model goes back to READY with ``status``
   saying why);
3. each converted shard and rewritten file is streamed into a new blob (``blobs.open_sink``: hashed as it
   is written, stored under its SHA-256); every other file is carried as the same blob;
4. one commit on the precision's branch, whose parent is ``main``'s head (the variant is linked to the
   original): the converted and rewritten files replace theirs, the rest is ``main``'s tree. The commit is
   the only write readers see: a job that fails, is cancelled (the model deleted) or loses its lease
   before it commits no revision, and its blobs, unreferenced, are collected by the sweep;
5. the model gets the precision in ``supportedPrecisions`` and is READY again (``service.prepared``),
   then the job is marked done. A worker dying between the commit and the end runs the job again: the
   same tree makes no new revision.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from modelyard.prepare import blobs
from modelyard.prepare.convert import CheckpointPlan, ConversionError, ShardWriter, plan_checkpoint
from modelyard.prepare.precisions import Precision
from modelyard.prepare.service import KIND, PrepareService
from modelyard.prepare.worker import Handler, JobContext
from modelyard.resources.revision import SYSTEM_AUTHOR
from modelyard.storage.base import FileRef, RangeReader, Storage
from modelyard.store.errors import NotFound
from modelyard.store.jobs import Job
from modelyard.store.repository import Store
from modelyard.store.revisions import CommitConflict, RevisionNotFound

log = logging.getLogger("modelyard.prepare")

#: Seconds between two progress messages in the model's status.
STATUS_EVERY = 5.0


class _LazyReader:
    """A RangeReader opened on first use (planning reads a few headers; most files are only carried)."""

    def __init__(self, open_reader: Callable[[], RangeReader], size: int) -> None:
        self._open = open_reader
        self._reader: RangeReader | None = None
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        if self._reader is None:
            self._reader = self._open()
        return self._reader.read(offset, length)


class PrepareJob:
    """The handler of ``prepare`` jobs (``worker.Handler``)."""

    def __init__(self, store: Store, storage: Storage, *, threads: int = 2) -> None:
        self.store = store
        self.storage = storage
        self.service = PrepareService(store)
        self.threads = threads

    def failed(self, job: Job, error: Exception) -> None:
        """The model's status names what is wrong with the checkpoint; other failures (storage, database)
        are only in the job row and the worker's log: a public model's status is no place for bucket
        names."""
        if isinstance(error, ConversionError | NotFound):
            self.service.failed(job, str(error))
        else:
            self.service.failed(job, "an internal error stopped it (the worker's log has the details)")

    def _reader(self, job: Job, path: str, sha256: str, size: int) -> RangeReader:
        ref = FileRef(job.account_id, job.model_id, path, size, "", f"sha256:{sha256}")
        return _LazyReader(lambda: self.storage.open_reader(ref), size)

    def run(self, ctx: JobContext) -> None:
        job = ctx.job
        precision = Precision(job.argument)
        revisions = self.store.revisions
        head = revisions.resolve(job.account_id, job.model_id, "main")
        tree = revisions.tree(head.commit_id)
        files = {e.path: self._reader(job, e.path, e.sha256, e.size) for e in tree}
        try:
            plan = plan_checkpoint(files, precision)
        except ConversionError as e:
            raise ConversionError(f"main ({head.commit_id[:12]}): {e}") from None
        changes = self._write(ctx, plan, files)
        ctx.check()
        self._commit(job, precision, head.commit_id, changes)
        self.service.prepared(job)
        self.store.jobs_call(lambda jobs: jobs.finish(job.id, ctx.worker_id))

    def _write(
        self, ctx: JobContext, plan: CheckpointPlan, files: dict[str, RangeReader]
    ) -> dict[str, tuple[str, int]]:
        job = ctx.job
        total = plan.parameters
        done = 0
        last_status = time.monotonic()
        changes: dict[str, tuple[str, int]] = {}

        def progress(n: int) -> None:
            nonlocal done, last_status
            done += n
            ctx.progress(f"{done} of {total} parameters")
            if time.monotonic() - last_status >= STATUS_EVERY:
                last_status = time.monotonic()
                self.service.progress(job, f"{done * 100 // max(total, 1)}% of {total} parameters")

        self.service.progress(job, f"converting {len(plan.shards)} safetensors files")
        with ShardWriter(self.threads) as writer:
            for shard in plan.shards:
                sink = blobs.open_sink(self.store, self.storage)
                try:
                    writer.write_shard(shard, files[shard.path], sink.write, progress)
                    ctx.check()
                    changes[shard.path] = sink.finish()
                except BaseException:
                    sink.abort()
                    raise
        for path, data in plan.rewritten.items():
            sink = blobs.open_sink(self.store, self.storage)
            try:
                sink.write(memoryview(data))
                changes[path] = sink.finish()
            except BaseException:
                sink.abort()
                raise
        return changes

    def _commit(self, job: Job, precision: Precision, main: str, changes: dict[str, tuple[str, int]]) -> None:
        """One commit on the precision's branch, whose parent is ``main``'s head."""
        revisions = self.store.revisions
        message = f"{precision.value} variant of main {main[:12]} (modelyard :prepare)"

        def commit() -> None:
            revisions.commit(
                job.account_id,
                job.model_id,
                branch=precision.branch,
                expected_parent=main,
                changes=changes,
                author=SYSTEM_AUTHOR,
                message=message,
                allow_create_branch=True,
            )

        try:
            commit()
        except CommitConflict:
            # The branch exists (prepared before, from an older main): start it again from main.
            with contextlib.suppress(RevisionNotFound):
                revisions.delete_branch(job.account_id, job.model_id, precision.branch)
            commit()


def handlers(store: Store, storage: Storage, *, threads: int = 2) -> dict[str, Handler]:
    """The job handlers of this build, by kind (what ``modelyard worker`` and the servers run)."""
    return {KIND: PrepareJob(store, storage, threads=threads)}
