"""The raw file endpoints of ``file://`` storage: the targets of the signed URLs modelyard hands out.

``PUT /v1/files/accounts/{a}/models/{m}/{path}?upload&size&expires&signature``
    The body (exactly ``size`` bytes) is streamed to a temporary file, hashed on the way, fsync'd and
    renamed into the content-addressed blob store before the 200. A body of another length, an
    interrupted one, an expired or tampered URL, or a file list replaced meanwhile keep nothing.
    With ``Content-Range`` the Google Cloud Storage resumable protocol applies: each chunk is appended
    and fsync'd, ``308`` with ``Range: bytes=0-N`` acknowledges it, the last chunk completes the file;
    ``Content-Range: bytes */SIZE`` with an empty body asks how far the upload got.
``GET`` (or ``HEAD``) the same path (a signed download URL): the file, ``Range`` honoured. A committed
file's URL names its blob (``upload=sha256:<hex>``) and works while a revision of the model holds that
file; once the files are committed, the upload URLs of the file list stop working (a committed file is
immutable).

No API key: the signature is the credential.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, Response

from modelyard.api.errors import ApiError
from modelyard.files.service import FileService
from modelyard.storage.base import FileRef
from modelyard.storage.blobreader import ReadAhead
from modelyard.storage.blobwriter import BlobWriter
from modelyard.storage.local import SHA_PREFIX, LocalStorage
from modelyard.storage.signing import FILES_PREFIX, SignatureError
from modelyard.store.files import DeclaredFile

router = APIRouter()

FILE_ROUTE = FILES_PREFIX + "/accounts/{account_id}/models/{model_id}/{path:path}"
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


class _BlobResponse(FileResponse):
    """Starlette's file response (Range, HEAD, ETag) reading through ``ReadAhead``: the next chunks
    come off the disk while the current one is sent."""

    chunk_size = 1024 * 1024

    @contextlib.asynccontextmanager
    async def _open_file(self) -> AsyncIterator[ReadAhead]:  # type: ignore[override]
        async with ReadAhead.open(self.path) as reader:
            yield reader


def _local(service: FileService) -> LocalStorage:
    storage = service.storage
    if not isinstance(storage, LocalStorage):
        raise ApiError(
            "NOT_FOUND",
            "this server keeps model files in object storage; use the URLs getUploadEndpoint returns",
            reason="NO_SUCH_ENDPOINT",
        )
    return storage


async def _verified(request: Request, method: str, account_id: str, model_id: str, path: str) -> DeclaredFile:
    """The declared file a signed URL names (same upload), or an error."""
    service: FileService = request.app.state.files
    storage = _local(service)
    assert storage.signer is not None
    query = dict(request.query_params)
    try:
        signed = storage.signer.verify(method, account_id, model_id, path, query)
    except SignatureError as e:
        raise ApiError(
            "PERMISSION_DENIED", f"{path}: {e.message}", reason=e.reason, metadata={"file": path}
        ) from None
    if method == "GET" and signed.upload_id.startswith(SHA_PREFIX):
        sha = signed.upload_id[len(SHA_PREFIX) :]
        if await anyio.to_thread.run_sync(service.serves, account_id, model_id, path, sha):
            committed = FileRef(account_id, model_id, path, signed.size, "", signed.upload_id)
            return DeclaredFile(committed, signed.expires, True)
        raise ApiError(
            "NOT_FOUND",
            f"{path}: no revision of this model holds this file any more",
            reason="FILE_NOT_FOUND",
        )
    declared = await anyio.to_thread.run_sync(service.files.file, account_id, model_id, path)
    if declared is None or declared.ref.upload_id != signed.upload_id:
        raise ApiError(
            "FAILED_PRECONDITION" if method == "PUT" else "NOT_FOUND",
            f"{path}: this URL belongs to a file list that was replaced, deleted or committed (a committed "
            "file cannot be changed); ask for new URLs",
            reason="UPLOAD_REPLACED",
            metadata={"file": path},
        )
    if declared.ref.size != signed.size:  # pragma: no cover - the signature binds the declared size
        raise ApiError("FAILED_PRECONDITION", f"{path}: the declared size changed", reason="UPLOAD_REPLACED")
    return declared


def _length_error(path: str, got: int | str, size: int) -> ApiError:
    return ApiError(
        "INVALID_ARGUMENT",
        f"{path}: the PUT sent {got} bytes but {size} were declared; nothing was stored",
        reason="WRONG_LENGTH",
        field=path,
        metadata={"file": path, "declared": str(size), "received": str(got)},
    )


@router.put(FILE_ROUTE, include_in_schema=False)
async def put_file(account_id: str, model_id: str, path: str, request: Request) -> Response:
    declared = await _verified(request, "PUT", account_id, model_id, path)
    ref = declared.ref
    service: FileService = request.app.state.files
    storage = _local(service)
    content_range = request.headers.get("content-range")
    if content_range is not None:
        return await _resumable_put(request, service, storage, declared, content_range)
    declared_length = request.headers.get("content-length")
    if declared_length is not None and declared_length.strip() != str(ref.size):
        raise _length_error(path, declared_length, ref.size)
    temp = storage.begin_put()
    try:
        await _receive(request, temp, ref)
        sha = await temp.finish()
        placed = await anyio.to_thread.run_sync(
            service.files.complete_blob, ref, sha, ref.size, lambda: storage.place(temp.path, sha)
        )
    finally:
        temp.abort()  # a no-op once the file was renamed into place
    if not placed:
        raise ApiError(
            "FAILED_PRECONDITION",
            f"{path}: the file list was replaced while this file was being uploaded; nothing was stored",
            reason="UPLOAD_REPLACED",
        )
    return Response(status_code=200, headers={"ETag": f'"{sha}"', "x-modelyard-sha256": sha})


async def _receive(request: Request, temp: BlobWriter, ref: FileRef) -> None:
    """Stream the body into ``temp``, refusing a byte more than the declared size."""
    try:
        async for chunk in request.stream():
            if temp.received + len(chunk) > ref.size:
                raise _length_error(ref.path, f"more than {ref.size}", ref.size)
            await temp.write(chunk)
    except ClientDisconnect:
        raise ApiError(
            "CANCELLED",
            f"{ref.path}: the client went away mid-upload; nothing was stored",
            reason="CANCELLED",
        ) from None
    if temp.received != ref.size:
        raise _length_error(ref.path, temp.received, ref.size)


async def _resumable_put(
    request: Request, service: FileService, storage: LocalStorage, declared: DeclaredFile, header: str
) -> Response:
    ref = declared.ref
    match = _CONTENT_RANGE.fullmatch(header.strip())
    bad = ApiError(
        "INVALID_ARGUMENT",
        f"{ref.path}: Content-Range {header!r} is not 'bytes FIRST-LAST/TOTAL', 'bytes FIRST-LAST/*' or "
        "'bytes */TOTAL'",
        reason="INVALID_CONTENT_RANGE",
        field="Content-Range",
    )
    if match is None:
        raise bad
    first, last, total = match.groups()
    if total != "*" and int(total) != ref.size:
        raise ApiError(
            "INVALID_ARGUMENT",
            f"{ref.path}: Content-Range says the file has {total} bytes but {ref.size} were declared",
            reason="WRONG_LENGTH",
            field="Content-Range",
        )
    partial = storage.partial_path(ref)
    if declared.complete:
        return Response(status_code=200)
    have = partial.stat().st_size if partial.exists() else 0
    if first is None:  # a status query
        return _incomplete(have)
    start, end = int(first), int(last)
    if end < start or end >= ref.size:
        raise bad
    if start != have:
        raise ApiError(
            "FAILED_PRECONDITION",
            f"{ref.path}: this chunk starts at byte {start} but {have} bytes are stored; resume from {have}",
            reason="WRONG_OFFSET",
            metadata={"persisted": str(have)},
        )
    have = await _append(request, storage, partial, ref, start, end - start + 1)
    if have < ref.size:
        return _incomplete(have)
    state = storage.hash_states.get(partial, have)
    storage.hash_states.drop(partial)
    sha = state.hexdigest() if state is not None else await anyio.to_thread.run_sync(_sha256_of, partial)
    placed = await anyio.to_thread.run_sync(
        service.files.complete_blob, ref, sha, ref.size, lambda: storage.place(partial, sha)
    )
    if not placed:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise ApiError(
            "FAILED_PRECONDITION", f"{ref.path}: the file list was replaced", reason="UPLOAD_REPLACED"
        )
    return Response(status_code=200, headers={"ETag": f'"{sha}"', "x-modelyard-sha256": sha})


def _incomplete(have: int) -> Response:
    headers = {"Range": f"bytes=0-{have - 1}"} if have else {}
    return Response(status_code=308, headers=headers)


async def _append(
    request: Request, storage: LocalStorage, partial: Path, ref: FileRef, start: int, length: int
) -> int:
    """Stream one chunk onto the partial file (locked, at the expected offset) and fsync it; a short,
    long or interrupted chunk is cut off again. Returns the bytes stored.

    The chunk goes through a ``BlobWriter`` like a whole PUT (aligned slabs, hashed and written on two
    threads, ``O_DIRECT`` where the file system takes it); when the SHA-256 of the bytes before it is
    known (``storage/hashstates.py``), the digest goes on from there and the finished file is not read
    again."""
    f = await anyio.to_thread.run_sync(_open_locked, partial)
    try:
        size = os.fstat(f.fileno()).st_size
        if size != start:
            message = f"{ref.path}: another chunk arrived first; resume from {size}"
            metadata = {"persisted": str(size)}
            raise ApiError("FAILED_PRECONDITION", message, reason="WRONG_OFFSET", metadata=metadata)
        continues = storage.hash_states.get(partial, start)
        writer = await anyio.to_thread.run_sync(lambda: BlobWriter(partial, append=True, continues=continues))
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > length:
                    raise _length_error(ref.path, f"more than {length}", length)
                await writer.write(chunk)
            if received != length:
                raise _length_error(ref.path, received, length)
            await writer.finish()
        except BaseException as e:
            writer.abort()
            f.truncate(start)
            if isinstance(e, ClientDisconnect):
                raise ApiError("CANCELLED", f"{ref.path}: the client went away; the chunk was not stored",
                               reason="CANCELLED") from None  # fmt: skip
            raise
        if continues is not None:
            storage.hash_states.put(partial, start + length, writer.digest)
        return start + length
    finally:
        f.close()


def _open_locked(path: Path) -> BinaryIO:
    f = open(path, "ab")  # noqa: SIM115 - closed by the caller
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    return f


def _sha256_of(path: os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@router.post(FILE_ROUTE, include_in_schema=False)
async def start_resumable(account_id: str, model_id: str, path: str, request: Request) -> Response:
    """``POST`` with ``x-goog-resumable: start`` to an upload URL: the session URI is the URL itself."""
    if request.headers.get("x-goog-resumable", "").lower() != "start":
        raise ApiError("INVALID_ARGUMENT", "POST to an upload URL needs 'x-goog-resumable: start'",
                       reason="INVALID_ARGUMENT", field="x-goog-resumable")  # fmt: skip
    # The upload URL is signed for PUT: the session it starts is that same URL.
    await _verified(request, "PUT", account_id, model_id, path)
    return Response(status_code=201, headers={"Location": str(request.url)})


@router.api_route(FILE_ROUTE, methods=["GET", "HEAD"], include_in_schema=False)
async def get_file(account_id: str, model_id: str, path: str, request: Request) -> Response:
    """A signed download URL (GET, and HEAD with the same signature)."""
    declared = await _verified(request, "GET", account_id, model_id, path)
    ref = declared.ref
    location = ref.location
    if location is None or not location.startswith(SHA_PREFIX):
        raise ApiError("NOT_FOUND", f"{path} has not been uploaded", reason="FILE_NOT_FOUND")
    storage = _local(request.app.state.files)
    blob = storage.blob_path(location[len(SHA_PREFIX) :])
    if not blob.exists():
        raise ApiError("NOT_FOUND", f"{path}: its bytes are gone from storage", reason="FILE_NOT_FOUND")
    return _BlobResponse(
        blob,
        media_type="application/octet-stream",
        headers={"ETag": f'"{location[len(SHA_PREFIX) :]}"'},
        filename=ref.path.rsplit("/", 1)[-1],
        content_disposition_type="attachment",
    )


#: How much request body uvicorn buffers before it stops reading the socket (its default is 64 KiB). File
#: PUTs stream megabytes: at 64 KiB every socket read pauses and resumes reading and wakes the handler.
#: Measured with BlobWriter's 8 MiB slabs (1 GiB PUTs from curl): 64-512 KiB ~1,000 MiB/s, 4 MiB 810-850
#: (the handler then gets many pieces at once, which uvicorn joins into one bytes: a copy more).
BODY_BUFFER = 512 * 1024


def larger_body_buffer() -> None:
    """Raise uvicorn's body high-water mark (a module constant of its HTTP protocols) to BODY_BUFFER."""
    import importlib

    for name in ("httptools_impl", "h11_impl"):
        try:
            module = importlib.import_module(f"uvicorn.protocols.http.{name}")
        except ImportError:  # pragma: no cover - httptools is optional in uvicorn
            continue
        if getattr(module, "HIGH_WATER_LIMIT", BODY_BUFFER) < BODY_BUFFER:
            module.HIGH_WATER_LIMIT = BODY_BUFFER  # type: ignore[attr-defined]
