"""Multipart uploads on S3 storage (a modelyard extension of the Fireworks file verbs).

A presigned S3 URL takes one PUT of at most 5 GiB and cannot resume, so on ``s3://`` storage
``:getUploadEndpoint`` also answers ``"multipartUpload": {...}`` (the limits below) and a client sends
large files in parts through three verbs of the model, each for one declared file of the current file
list:

* ``POST ...:startMultipartUpload`` ``{"filename", "partSize"}`` -> ``{"uploadId", "partSize",
  "partCount"}``: the server picks the part size (the client's wish, raised to S3's 5 MiB minimum and to
  what 10,000 parts need);
* ``POST ...:getUploadPartUrls`` ``{"filename", "uploadId", "partSize", "partNumbers": [...]}`` ->
  ``{"partUrls": {"1": url, ...}, "partsHeld": {"1": "5242880", ...}}``: presigned PUT URLs (valid an hour,
  each signing its part's length) and the parts the store already holds, so that a client resuming after
  an interruption sends only the others (``{"complete": true}`` when the upload was completed already,
  e.g. by a client that stopped before it noted so);
* ``POST ...:completeMultipartUpload`` ``{"filename", "uploadId", "partSize"}``: every part must be there
  with its length (else FAILED_PRECONDITION naming the missing ones); the store then assembles the object
  and ``:validateUpload`` finds it like any other.

Access is ``:getUploadEndpoint``'s: the owner's write permission, the model ``UPLOADING``. File storage
has no such verbs (its signed URLs speak the resumable protocol of Google Cloud Storage): they answer
FAILED_PRECONDITION there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelyard import access
from modelyard.access import Action, Principal
from modelyard.errors import not_found
from modelyard.files.errors import FileError
from modelyard.storage.base import URL_TTL_SECONDS, FileRef, Storage
from modelyard.storage.s3 import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT,
    MIN_PART_SIZE,
    S3Storage,
    part_length,
    part_plan,
)
from modelyard.store.files import FileStore

#: Part URLs handed out per call at most.
MAX_PART_URLS = 1000


def offer(storage: Storage) -> dict[str, Any] | None:
    """What ``:getUploadEndpoint`` adds to its answer on storage that takes multipart uploads."""
    if not isinstance(storage, S3Storage):
        return None
    return {
        "minPartSize": str(MIN_PART_SIZE),
        "maxPartSize": str(MAX_PART_SIZE),
        "maxParts": MAX_PARTS,
        "maxSinglePutSize": str(MAX_SINGLE_PUT),
        "maxObjectSize": str(MAX_OBJECT_SIZE),
    }


def _invalid(field: str, message: str) -> FileError:
    return FileError("INVALID_ARGUMENT", f"{field}: {message}", reason="INVALID_ARGUMENT", field=field)


def _string(body: dict[str, Any], field: str, limit: int = 1024) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise _invalid(field, "a non-empty string is required")
    if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _invalid(field, f"at most {limit} printable characters")
    return value


def _size(body: dict[str, Any], field: str) -> int:
    value = body.get(field)
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value > MAX_PART_SIZE:
        raise _invalid(field, f"a positive number of bytes up to {MAX_PART_SIZE} is required")
    return value


@dataclass
class MultipartUploads:
    files: FileStore
    storage: Storage

    def _file(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any]
    ) -> tuple[S3Storage, FileRef]:
        access.require(caller, Action.WRITE_FILES, account_id)
        unknown = sorted(set(body) - {"filename", "uploadId", "partSize", "partNumbers"})
        if unknown:
            raise _invalid(unknown[0], "unknown field; expected filename, uploadId, partSize, partNumbers")
        storage = self.storage
        if not isinstance(storage, S3Storage):
            raise FileError(
                "FAILED_PRECONDITION",
                "this server's storage takes no multipart uploads; use the signed URLs of getUploadEndpoint "
                "(with enableResumableUpload, they take the resumable protocol of Google Cloud Storage)",
                reason="MULTIPART_UNSUPPORTED",
            )
        filename = _string(body, "filename")
        model = self.files.model(account_id, model_id)
        if model is None:
            raise not_found("model", f"accounts/{account_id}/models/{model_id}")
        if model.state != "UPLOADING":
            raise FileError(
                "FAILED_PRECONDITION",
                f"model accounts/{account_id}/models/{model_id} is {model.state}; files can only be "
                "uploaded while it is UPLOADING",
                reason="MODEL_NOT_UPLOADING",
                metadata={"state": model.state},
            )
        declared = self.files.file(account_id, model_id, filename)
        if declared is None:
            raise FileError(
                "FAILED_PRECONDITION",
                f"{filename[:200]} is not in the model's declared file list; call getUploadEndpoint first",
                reason="FILE_NOT_DECLARED",
                field="filename",
            )
        if declared.complete:
            raise FileError(
                "FAILED_PRECONDITION",
                f"{filename}: the file is complete already",
                reason="FILE_COMPLETE",
                field="filename",
            )
        return storage, declared.ref

    def _plan(self, ref: FileRef, body: dict[str, Any]) -> tuple[int, int]:
        part_size = _size(body, "partSize")
        if part_size < MIN_PART_SIZE and part_size < ref.size:
            raise _invalid("partSize", f"parts are at least {MIN_PART_SIZE} bytes (S3's minimum)")
        count = max(1, -(-ref.size // part_size))
        if count > MAX_PARTS:
            raise _invalid("partSize", f"{ref.size} bytes in parts of {part_size} make more than {MAX_PARTS}")
        return part_size, count

    def start(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        storage, ref = self._file(caller, account_id, model_id, body)
        wanted = _size(body, "partSize") if "partSize" in body else MIN_PART_SIZE
        try:
            part_size, count = part_plan(ref.size, wanted)
        except ValueError as e:
            raise _invalid("filename", str(e)) from None
        upload_id = storage.start_multipart(ref, part_size)
        return {"uploadId": upload_id, "partSize": str(part_size), "partCount": count}

    def part_urls(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        storage, ref = self._file(caller, account_id, model_id, body)
        upload_id = _string(body, "uploadId")
        part_size, count = self._plan(ref, body)
        numbers = body.get("partNumbers", [])
        if (
            not isinstance(numbers, list)
            or len(numbers) > MAX_PART_URLS
            or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= count for n in numbers)
        ):
            raise _invalid("partNumbers", f"a list of at most {MAX_PART_URLS} part numbers from 1 to {count}")
        held = storage.held_parts(ref, upload_id)
        if held is None:
            if _stored(storage, ref):
                return {"complete": True, "partUrls": {}, "partsHeld": {}}
            raise _gone(ref.path)
        expires = int(time.time()) + URL_TTL_SECONDS
        urls = storage.part_urls(ref, upload_id, part_size, sorted(set(numbers)), expires)
        return {
            "partUrls": {str(n): url for n, url in urls.items()},
            "partsHeld": {str(n): str(size) for n, (_, size) in sorted(held.items())},
        }

    def complete(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        storage, ref = self._file(caller, account_id, model_id, body)
        upload_id = _string(body, "uploadId")
        part_size, count = self._plan(ref, body)
        held = storage.held_parts(ref, upload_id)
        if held is None:
            if _stored(storage, ref):  # completed by an earlier call whose answer was lost
                return {"filename": ref.path, "size": str(ref.size)}
            raise _gone(ref.path)
        missing = [
            n for n in range(1, count + 1) if held.get(n, ("", -1))[1] != part_length(ref.size, part_size, n)
        ]
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (
                f" and {len(missing) - 20} more" if len(missing) > 20 else ""
            )
            raise FileError(
                "FAILED_PRECONDITION",
                f"{ref.path}: {len(missing)} of {count} parts have not been uploaded: {shown}",
                reason="PARTS_MISSING",
                field="filename",
                metadata={"missingParts": ",".join(map(str, missing[:100]))},
            )
        extra = sorted(n for n in held if n > count)
        if extra:
            raise _invalid(
                "partSize", f"the store holds part {extra[0]}, beyond the {count} parts of {part_size} bytes"
            )
        storage.complete_multipart(ref, upload_id, [(n, held[n][0]) for n in range(1, count + 1)])
        return {"filename": ref.path, "size": str(ref.size)}


def _stored(storage: S3Storage, ref: FileRef) -> bool:
    """Whether the file's object is in the store with its declared size (its upload was completed)."""
    info = storage.stat(ref)
    return info is not None and info.size == ref.size


def _gone(path: str) -> FileError:
    return FileError(
        "NOT_FOUND",
        f"{path}: no such multipart upload (completed, aborted or replaced); start a new one",
        reason="MULTIPART_UPLOAD_NOT_FOUND",
        field="uploadId",
    )
