"""Garbage collection of model files: the periodic sweep of every server and ``modelyard storage gc``.

It removes, in this order:

1. declared files whose upload URLs expired without the bytes arriving (on S3 an object that did arrive
   with the declared size is recorded instead: only ``:validateUpload`` notices S3 uploads);
2. files of models that no longer exist (a delete interrupted before its files were released);
3. revisions of models that no longer exist;
4. on both backends, content-addressed blobs that neither a declared file nor any revision of any model
   refers to (locked against a concurrent PUT or commit of the same content, and only past a grace
   period: a blob may be waiting for the commit that refers to it, or be unknown to the database between
   placing its bytes and committing); on file storage temporary or partial files untouched since longer
   than the URL lifetime (a PUT cut off by a crash, an abandoned resumable upload); on S3, upload objects
   of file lists that were replaced, deleted or committed.

Safe to run on several replicas at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from modelyard.files.service import FileService
from modelyard.storage.base import URL_TTL_SECONDS
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage

#: Blobs and objects younger than this are never collected when the database does not know them (a PUT
#: may be between placing its bytes and committing).
GRACE_SECONDS = URL_TTL_SECONDS


@dataclass
class GcReport:
    expired_files: int = 0
    orphaned_files: int = 0
    blobs: int = 0
    temp_files: int = 0
    bytes_freed: int = 0

    def summary(self) -> str:
        return (
            f"{self.expired_files} expired uploads, {self.orphaned_files} files of deleted models, "
            f"{self.blobs} unreferenced blobs/objects and {self.temp_files} temporary files removed; "
            f"{self.bytes_freed} bytes freed"
        )


def collect(service: FileService, *, now: float | None = None, grace: float = GRACE_SECONDS) -> GcReport:
    now = time.time() if now is None else now
    report = GcReport()
    files, storage = service.files, service.storage

    expired = files.expired_incomplete(int(now))
    gone = []
    for f in expired:
        if isinstance(storage, S3Storage):
            info = storage.stat(f.ref)
            if info is not None and info.size == f.ref.size:
                files.set_location(f.ref, info.location)
                continue
        gone.append(f)
    files.forget(gone)
    report.expired_files = len(gone)
    report.bytes_freed += service.release(gone)

    orphans = files.orphaned()
    files.forget(orphans)
    report.orphaned_files = len(orphans)
    report.bytes_freed += service.release(orphans)

    service.revisions.delete_orphans()
    if service.oci is not None:
        service.oci.forget_orphans(int(grace * 1e9))  # rows of the OCI door's deleted models

    if isinstance(storage, LocalStorage | S3Storage):
        cutoff = int((now - grace) * 1e9)
        locations = files.all_locations()
        for blob in storage.list_blobs():
            if f"sha256:{blob.sha256}" in locations:
                continue
            if files.blob_known(blob.sha256):
                freed = files.release_blob(blob.sha256, storage.delete_blob, created_before=cutoff)
            elif blob.mtime < now - grace:
                freed = storage.delete_blob(blob.sha256)
            else:
                continue
            if freed:
                report.blobs += 1
                report.bytes_freed += freed
    if isinstance(storage, LocalStorage):
        # A resumable upload's partial file may be continued while its URLs live (an hour after they were
        # issued): whatever the grace, partial files are kept that long since last written.
        count, freed = storage.sweep_stale(grace, partial_older_than=max(grace, URL_TTL_SECONDS))
        report.temp_files += count
        report.bytes_freed += freed
    elif isinstance(storage, S3Storage):
        objects = list(storage.list_objects())  # before the file lists: see the module docstring
        uploads = files.all_upload_keys()
        for obj in objects:
            parts = obj.key[len(storage.prefix) :].split("/", 5)
            # accounts/<a>/models/<m>/<upload id>/<path>
            if len(parts) == 6 and (parts[1], parts[3], parts[4]) in uploads:
                continue
            if len(parts) != 6 and obj.mtime > now - grace:
                continue
            storage.delete_key(obj.key)
            report.blobs += 1
            report.bytes_freed += obj.size
    return report
