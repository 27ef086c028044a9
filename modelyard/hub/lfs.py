"""The Git LFS batch API of the Hub door, as huggingface_hub uploads large files through it
(``HF_HUB_DISABLE_XET=1``): ``POST /hf/{namespace}/{repo}.git/info/lfs/objects/batch`` answers, per
object ``{"oid", "size"}``, where to send its bytes; an object the storage already holds is answered
without ``actions``, so it is not sent again.

* **basic** (files up to ``Settings.hf_multipart_threshold``): one ``PUT`` of the whole file. On file
  storage the URL is modelyard's own (``/hf/api/lfs/objects/...``, signed): the body is streamed to disk,
  hashed on the way, fsync'd, and kept as blob ``oid`` only if it hashes to ``oid``. On S3 it is a
  presigned ``PUT`` of the object store (the bytes never pass through modelyard); the ``verify`` call
  that follows hashes the object once and keeps it only if it hashes to ``oid``.
* **multipart** (larger files, when the client offers it): ``header`` holds ``chunk_size`` and one URL per
  part (``"00001"``, ...), ``href`` the completion URL the client POSTs the parts' ETags to. On file
  storage the parts go to modelyard's signed part URLs, each written in place into one temporary file
  and hashed as it arrives (in order), and the completion checks the hash and keeps the file;
  on S3 they are presigned ``UploadPart`` URLs and the completion is ``CompleteMultipartUpload``.
* **verify** (``POST /hf/api/lfs/verify/...``, authenticated): the object is now a verified blob, or a
  400 says why not.

Signed URLs carry their expiry (1 hour) and an HMAC (a secret held in the database, so any replica
takes any replica's URLs) over what they allow: the repository, the oid, the size, the part.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from modelyard.access import Action
from modelyard.hub.errors import HubError
from modelyard.hub.names import repo_ids
from modelyard.hub.operations import check_oid
from modelyard.hub.uploads import HubUploads, repo_not_found
from modelyard.hub.write_support import PREFIX, json_response, read_json, uploads, writer
from modelyard.storage.base import URL_TTL_SECONDS, FileRef
from modelyard.storage.blobwriter import BlobWriter
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage

router = APIRouter()

#: Most objects one batch request may name.
MAX_OBJECTS = 1000
#: S3 takes at most 10,000 parts per upload.
MAX_PARTS = 10_000
_LFS_JSON = "application/vnd.git-lfs+json"


@dataclass(frozen=True)
class LfsSettings:
    #: Files larger than this go through the multipart transfer (``MODELYARD_HF_MULTIPART_THRESHOLD``).
    multipart_threshold: int
    #: The size of each part (``MODELYARD_HF_PART_SIZE``; S3 wants at least 5 MiB but the last part).
    part_size: int


class Signer:
    """HMAC-signed query strings of the LFS URLs modelyard serves itself."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, fields: dict[str, str]) -> str:
        message = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def sign(self, fields: dict[str, str]) -> str:
        return urlencode({**fields, "signature": self._mac(fields)})

    def verify(self, fields: dict[str, str], query: dict[str, str]) -> dict[str, str]:
        """The signed fields (those of ``fields`` filled from ``query``); 403 when the signature does not
        match or the URL expired."""
        signed = {k: query.get(k, "") for k in fields}
        signed.update({k: v for k, v in fields.items() if v})
        if not hmac.compare_digest(self._mac(signed), query.get("signature", "")):
            raise HubError(403, "this upload URL is not valid (its signature does not match)")
        expires = signed.get("expires", "")
        if not expires.isdigit() or int(expires) < time.time():
            raise HubError(403, "this upload URL has expired; start the upload again")
        return signed


def _signer(request: Request) -> Signer:
    found: Signer = request.app.state.hub_lfs_signer
    return found


def _settings(request: Request) -> LfsSettings:
    found: LfsSettings = request.app.state.hub_lfs_settings
    return found


def _base(request: Request) -> str:
    public: str = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def _staging(account_id: str, model_id: str, oid: str, size: int, upload: str) -> FileRef:
    """Where an S3 upload lands before it is hashed (``accounts/a/models/m/<upload>/hf-lfs/<oid>``)."""
    return FileRef(account_id, model_id, f"hf-lfs/{oid}", size, upload)


# -- the batch API ---------------------------------------------------------------------------------------


@router.post(PREFIX + "/{namespace}/{repo_git}/info/lfs/objects/batch", include_in_schema=False)
async def batch(namespace: str, repo_git: str, request: Request) -> Response:
    if not repo_git.endswith(".git"):
        raise HubError(404, f"no such endpoint: {request.url.path}")
    account_id, model_id = repo_ids(namespace, repo_git.removesuffix(".git"))
    body = await read_json(request, 4 << 20)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    if not isinstance(body, dict):
        raise HubError(400, "the batch request must be a JSON object")
    if body.get("operation") != "upload":
        raise HubError(400, "only the 'upload' operation is served here; download through /resolve")
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_OBJECTS:
        raise HubError(400, f"'objects' must be a list of at most {MAX_OBJECTS} objects")
    algo = body.get("hash_algo", "sha256")
    if algo != "sha256":
        raise HubError(400, f"hash_algo {algo!r} is not supported; use sha256")
    transfers = body.get("transfers") or ["basic"]
    multipart_ok = isinstance(transfers, list) and "multipart" in transfers
    hub = uploads(request)
    answer = await anyio.to_thread.run_sync(
        _answer, request, hub, account_id, model_id, objects, multipart_ok
    )
    chosen = "multipart" if any("chunk_size" in str(o.get("actions", "")) for o in answer) else "basic"
    return Response(
        orjson.dumps({"transfer": chosen, "objects": answer, "hash_algo": "sha256"}),
        media_type=_LFS_JSON,
    )


def _answer(
    request: Request,
    hub: HubUploads,
    account_id: str,
    model_id: str,
    objects: list[Any],
    multipart_ok: bool,
) -> list[dict[str, Any]]:
    if hub.files.files.model(account_id, model_id) is None:
        raise repo_not_found(account_id, model_id)
    settings = _settings(request)
    oids = [
        str(item["oid"]) for item in objects if isinstance(item, dict) and isinstance(item.get("oid"), str)
    ]
    present = hub.present(account_id, model_id, oids)
    out: list[dict[str, Any]] = []
    for item in objects:
        if not isinstance(item, dict):
            raise HubError(400, "each object must be {'oid': ..., 'size': ...}")
        oid = check_oid(item.get("oid"))
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise HubError(400, f"{oid}: 'size' must be a non-negative integer")
        if oid in present:
            known = hub.blob_size(oid)
            if known == size:
                out.append({"oid": oid, "size": size})
            else:
                message = f"{oid} has {known} bytes, not {size}"
                out.append({"oid": oid, "size": size, "error": {"code": 422, "message": message}})
            continue
        upload = secrets.token_hex(16)
        parts = math.ceil(size / settings.part_size) if size else 0
        if multipart_ok and size > settings.multipart_threshold and parts <= MAX_PARTS:
            action = _multipart(request, hub, account_id, model_id, oid, size, upload, settings.part_size)
        else:
            action = _basic(request, hub, account_id, model_id, oid, size, upload)
        verify = {
            "href": f"{_base(request)}{PREFIX}/api/lfs/verify/{account_id}/{model_id}/{upload}",
            "expires_in": URL_TTL_SECONDS,
        }
        out.append(
            {"oid": oid, "size": size, "authenticated": True, "actions": {"upload": action, "verify": verify}}
        )
    return out


def _expires() -> str:
    return str(int(time.time()) + URL_TTL_SECONDS)


def _basic(
    request: Request, hub: HubUploads, account_id: str, model_id: str, oid: str, size: int, upload: str
) -> dict[str, Any]:
    storage = hub.storage
    expires = _expires()
    if isinstance(storage, LocalStorage):
        query = _signer(request).sign(
            {"kind": "put", "account": account_id, "model": model_id, "oid": oid, "size": str(size),
             "upload": upload, "expires": expires}
        )  # fmt: skip
        href = f"{_base(request)}{PREFIX}/api/lfs/objects/{account_id}/{model_id}/{oid}?{query}"
    else:
        href = storage.upload_url(
            _staging(account_id, model_id, oid, size, upload), _base(request), int(expires)
        )
    return {"href": href, "expires_in": URL_TTL_SECONDS}


def _multipart(
    request: Request,
    hub: HubUploads,
    account_id: str,
    model_id: str,
    oid: str,
    size: int,
    upload: str,
    part_size: int,
) -> dict[str, Any]:
    storage = hub.storage
    count = math.ceil(size / part_size)
    expires = _expires()
    signer = _signer(request)
    base = _base(request)
    header: dict[str, str] = {"chunk_size": str(part_size)}
    s3_upload = ""
    if isinstance(storage, S3Storage):
        ref = _staging(account_id, model_id, oid, size, upload)
        key = storage.key(ref)
        s3_upload = storage.client.create_multipart_upload(Bucket=storage.bucket, Key=key)["UploadId"]
        for n in range(1, count + 1):
            header[f"{n:05d}"] = storage.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": storage.bucket, "Key": key, "UploadId": s3_upload, "PartNumber": n},
                ExpiresIn=URL_TTL_SECONDS,
                HttpMethod="PUT",
            )
    else:
        for n in range(1, count + 1):
            length = min(part_size, size - (n - 1) * part_size)
            query = signer.sign(
                {"kind": "part", "account": account_id, "model": model_id, "oid": oid, "size": str(length),
                 "upload": upload, "part": str(n), "offset": str((n - 1) * part_size), "expires": expires}
            )  # fmt: skip
            header[f"{n:05d}"] = f"{base}{PREFIX}/api/lfs/parts/{account_id}/{model_id}/{oid}/{n}?{query}"
    query = signer.sign(
        {"kind": "complete", "account": account_id, "model": model_id, "oid": oid, "size": str(size),
         "upload": upload, "parts": str(count), "s3upload": s3_upload, "expires": expires}
    )  # fmt: skip
    href = f"{base}{PREFIX}/api/lfs/complete/{account_id}/{model_id}/{oid}?{query}"
    return {"href": href, "header": header, "expires_in": URL_TTL_SECONDS}


# -- file storage: the bytes ------------------------------------------------------------------------------


def _local(hub: HubUploads) -> LocalStorage:
    storage = hub.storage
    if not isinstance(storage, LocalStorage):
        raise HubError(404, "this server keeps files in object storage; use the URLs the batch API returns")
    return storage


async def _receive(request: Request, writer_: BlobWriter, size: int, what: str) -> str:
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip() != str(size):
        raise HubError(400, f"{what}: the PUT sends {declared} bytes but {size} were announced")
    try:
        async for chunk in request.stream():
            if writer_.received + len(chunk) > size:
                raise HubError(400, f"{what}: more than the {size} announced bytes were sent")
            await writer_.write(chunk)
    except ClientDisconnect:
        raise HubError(400, f"{what}: the client went away mid-upload; nothing was kept") from None
    if writer_.received != size:
        raise HubError(400, f"{what}: {writer_.received} bytes arrived but {size} were announced")
    return await writer_.finish()


@router.put(PREFIX + "/api/lfs/objects/{account_id}/{model_id}/{oid}", include_in_schema=False)
async def put_object(account_id: str, model_id: str, oid: str, request: Request) -> Response:
    signed = _signer(request).verify(
        {"kind": "put", "account": account_id, "model": model_id, "oid": oid, "size": "", "upload": "",
         "expires": ""},
        dict(request.query_params),
    )  # fmt: skip
    hub = uploads(request)
    storage = _local(hub)
    size = int(signed["size"])
    temp = storage.begin_put()
    try:
        sha = await _receive(request, temp, size, oid)
        if sha != oid:
            raise HubError(
                400, f"the bytes sent hash to SHA-256 {sha}, not to the LFS oid {oid}; nothing was kept"
            )
        await anyio.to_thread.run_sync(
            hub.files.files.add_blob, oid, size, lambda: storage.place(temp.path, sha)
        )
        await anyio.to_thread.run_sync(hub.received, account_id, model_id, oid, size)
    finally:
        temp.abort()
    return Response(status_code=200, headers={"ETag": f'"{oid}"'})


@router.put(PREFIX + "/api/lfs/parts/{account_id}/{model_id}/{oid}/{part}", include_in_schema=False)
async def put_part(account_id: str, model_id: str, oid: str, part: str, request: Request) -> Response:
    """A part goes straight to its place in the upload's one temporary file (``tmp/hf-<upload>.whole``);
    parts that arrive in order are hashed on the way (``LocalStorage.hash_states``), so the completion
    reads nothing again; a part sent again or out of order only costs the completion one read."""
    signed = _signer(request).verify(
        {"kind": "part", "account": account_id, "model": model_id, "oid": oid, "size": "", "upload": "",
         "part": part, "offset": "", "expires": ""},
        dict(request.query_params),
    )  # fmt: skip
    storage = _local(uploads(request))
    whole = _whole_path(storage, signed["upload"])
    offset, length = int(signed["offset"]), int(signed["size"])
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip() != str(length):
        raise HubError(400, f"{oid} part {part}: the PUT sends {declared} bytes but {length} were announced")
    digest = storage.hash_states.get(whole, offset)
    if digest is None:  # not the next part in order: the completion hashes the whole file instead
        storage.hash_states.drop(whole)
    fd = await anyio.to_thread.run_sync(lambda: os.open(whole, os.O_WRONLY | os.O_CREAT, 0o600))
    at = offset
    try:
        buffer = bytearray()
        async for chunk in request.stream():
            if at - offset + len(buffer) + len(chunk) > length:
                raise HubError(400, f"{oid} part {part}: more than the {length} announced bytes were sent")
            buffer.extend(chunk)
            if len(buffer) >= 8 << 20:
                at += await anyio.to_thread.run_sync(_write_at, fd, bytes(buffer), at, digest)
                buffer.clear()
        if buffer:
            at += await anyio.to_thread.run_sync(_write_at, fd, bytes(buffer), at, digest)
    except ClientDisconnect:
        raise HubError(400, f"{oid} part {part}: the client went away mid-upload; send it again") from None
    finally:
        os.close(fd)
    if at - offset != length:
        raise HubError(400, f"{oid} part {part}: {at - offset} bytes arrived but {length} were announced")
    if digest is not None:
        storage.hash_states.put(whole, offset + length, digest)
    return Response(status_code=200, headers={"ETag": f'"{signed["upload"]}-{part}-{length}"'})


def _write_at(fd: int, data: bytes, offset: int, digest: Any) -> int:
    view = memoryview(data)
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)
    if digest is not None:
        digest.update(data)
    return done


def _whole_path(storage: LocalStorage, upload: str) -> Path:
    return storage.tmp / f"hf-{upload}.whole"


@router.post(PREFIX + "/api/lfs/complete/{account_id}/{model_id}/{oid}", include_in_schema=False)
async def complete(account_id: str, model_id: str, oid: str, request: Request) -> Response:
    signed = _signer(request).verify(
        {"kind": "complete", "account": account_id, "model": model_id, "oid": oid, "size": "",
         "upload": "", "parts": "", "s3upload": "", "expires": ""},
        dict(request.query_params),
    )  # fmt: skip
    body = await read_json(request, 4 << 20)
    parts = body.get("parts") if isinstance(body, dict) else None
    count = int(signed["parts"])
    if not isinstance(parts, list) or len(parts) != count:
        raise HubError(400, f"the completion must list the {count} parts with their ETags")
    etags: list[str] = []
    for n, item in enumerate(parts, start=1):
        if not isinstance(item, dict) or item.get("partNumber") != n or not isinstance(item.get("etag"), str):
            raise HubError(400, f"part {n} of the completion must be {{'partNumber': {n}, 'etag': ...}}")
        etags.append(item["etag"])
    hub = uploads(request)
    size = int(signed["size"])
    if isinstance(hub.storage, S3Storage):
        await anyio.to_thread.run_sync(
            _complete_s3, hub.storage, account_id, model_id, oid, size, signed, etags
        )
    else:
        await anyio.to_thread.run_sync(_complete_local, hub, signed["upload"], oid, size, etags)
        await anyio.to_thread.run_sync(hub.received, account_id, model_id, oid, size)
    return json_response({})


def _complete_s3(
    storage: S3Storage, account_id: str, model_id: str, oid: str, size: int, signed: dict[str, str],
    etags: list[str],
) -> None:  # fmt: skip
    key = storage.key(_staging(account_id, model_id, oid, size, signed["upload"]))
    try:
        storage.client.complete_multipart_upload(
            Bucket=storage.bucket,
            Key=key,
            UploadId=signed["s3upload"],
            MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, start=1)]},
        )
    except Exception as e:
        with contextlib.suppress(Exception):  # nothing half-uploaded is left behind in the bucket
            storage.client.abort_multipart_upload(Bucket=storage.bucket, Key=key, UploadId=signed["s3upload"])
        raise HubError(400, f"the object store refused to complete the upload of {oid}: {e}") from None


def _complete_local(hub: HubUploads, upload: str, oid: str, size: int, etags: list[str]) -> None:
    """The parts are in place in one file: make it durable and keep it as blob ``oid`` if it hashes to
    ``oid`` (a part that never arrived leaves zeros, which do not)."""
    storage = _local(hub)
    whole = _whole_path(storage, upload)
    try:
        try:
            got = whole.stat().st_size
        except FileNotFoundError:
            raise HubError(400, f"no part of {oid} has been uploaded") from None
        digest = storage.hash_states.get(whole, size) if got == size else None
        with open(whole, "rb+") as f:
            if digest is None:
                digest = hashlib.sha256()
                while chunk := f.read(8 << 20):
                    digest.update(chunk)
            os.fsync(f.fileno())
        sha = digest.hexdigest()
        if got != size or sha != oid:
            raise HubError(
                400,
                f"the parts hash to SHA-256 {sha} ({got} bytes), not to the LFS oid {oid}; nothing was kept",
            )
        hub.files.files.add_blob(oid, size, lambda: storage.place(whole, sha))
    finally:
        storage.hash_states.drop(whole)
        with contextlib.suppress(FileNotFoundError):
            whole.unlink()


# -- verify -----------------------------------------------------------------------------------------------


@router.post(PREFIX + "/api/lfs/verify/{account_id}/{model_id}/{upload}", include_in_schema=False)
async def verify(account_id: str, model_id: str, upload: str, request: Request) -> Response:
    body = await read_json(request, 64 * 1024)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    if not isinstance(body, dict):
        raise HubError(400, "the verify request must be {'oid': ..., 'size': ...}")
    oid = check_oid(body.get("oid"))
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise HubError(400, "'size' must be a non-negative integer")
    if not all(c in "0123456789abcdef" for c in upload) or len(upload) != 32:
        raise HubError(404, "no such upload")
    hub = uploads(request)
    await anyio.to_thread.run_sync(_verify, hub, account_id, model_id, oid, size, upload)
    return json_response({}, status=200)


def _verify(hub: HubUploads, account_id: str, model_id: str, oid: str, size: int, upload: str) -> None:
    if oid in hub.present(account_id, model_id, [oid]) and hub.blob_size(oid) == size:
        return
    if isinstance(hub.storage, S3Storage):
        hub.adopt_s3_object(_staging(account_id, model_id, oid, size, upload), oid, size)
        return
    raise HubError(400, f"the object {oid} ({size} bytes) has not been uploaded")
