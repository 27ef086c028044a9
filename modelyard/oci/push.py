"""The push side of the OCI door: blob uploads (monolithic, chunked, resumable, cross-repository mounts),
manifest ``PUT`` by tag or digest, and ``DELETE`` of tags and manifests.

A pushed manifest whose layers are files or archives (``oci/layers.py``) is committed as a revision of the
model (created when missing), validated like every commit; the pushed manifest is kept as that revision's
manifest, so pulling the tag gives back the very bytes and digest that were pushed. Any other manifest
(a signature, an SBOM, anything with a ``subject``) is kept as it is, served by digest and tag and listed
by the referrers API. Every blob a manifest names must have been pushed to (or mounted into) the repository.
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelyard import doorway
from modelyard.errors import RegistryError
from modelyard.oci import access, layers, modelpack
from modelyard.oci.errors import OciError, name_unknown
from modelyard.oci.pull import blob_size
from modelyard.oci.registry import (
    DIGEST,
    TAG,
    Registry,
    empty,
    is_digest,
    names,
    readable,
    registry,
    sha256_of_digest,
)
from modelyard.oci.uploads import Session, UploadError
from modelyard.oci.view import Repo
from modelyard.resources.model import is_valid_id
from modelyard.store.oci import StoredManifest

#: The largest manifest accepted (the distribution-spec asks registries to take at least 4 MiB).
MAX_MANIFEST = 4 << 20
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


async def _writable(request: Request) -> tuple[Registry, str, str, Repo | None, Any]:
    account_id, model_id = names(request)
    reg = registry(request)
    who = await access.caller(request, reg.tokens)
    repo = await anyio.to_thread.run_sync(reg.view.repo, account_id, model_id)
    other = who.principal is not None and who.principal.account_id != account_id
    if repo is not None and other and not repo.public:
        raise name_unknown(account_id, model_id)  # another account's private model is not found
    principal = access.require_write(request, who, account_id, model_id, create=repo is None)
    return reg, account_id, model_id, repo, principal


def _upload_headers(account_id: str, model_id: str, session_id: str, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{account_id}/{model_id}/blobs/uploads/{session_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": session_id,
    }


def _blob_created(account_id: str, model_id: str, digest: str) -> Response:
    return empty(
        201, {"Location": f"/v2/{account_id}/{model_id}/blobs/{digest}", "Docker-Content-Digest": digest}
    )


async def _append(reg: Registry, request: Request, session: Session, start: int | None) -> int:
    try:
        return await reg.uploads.append(session, request.stream(), start)
    except UploadError as e:
        headers = _upload_headers(session.account_id, session.model_id, session.id, e.offset)
        raise OciError("BLOB_UPLOAD_INVALID", e.message, status=416, headers=headers) from None
    except ClientDisconnect:
        raise OciError("BLOB_UPLOAD_INVALID", "the client went away; the chunk was not kept") from None


async def _complete(reg: Registry, session: Session, digest: str) -> Response:
    sha256 = sha256_of_digest(digest)
    got = await reg.uploads.digest(session)
    if got != sha256:
        reg.uploads.close(session)
        raise OciError(
            "DIGEST_INVALID",
            f"the uploaded bytes have digest sha256:{got}, not {digest}; nothing was kept",
            detail={"digest": digest, "received": f"sha256:{got}"},
        )
    size = session.part.stat().st_size
    try:
        await anyio.to_thread.run_sync(reg.view.put_blob, session.part, sha256, size)
        await anyio.to_thread.run_sync(
            reg.records.link_blob, session.account_id, session.model_id, sha256, size
        )
    finally:
        reg.uploads.close(session)
    return _blob_created(session.account_id, session.model_id, digest)


async def start_upload(request: Request) -> Response:
    reg, account_id, model_id, _, principal = await _writable(request)
    mount, source = request.query_params.get("mount"), request.query_params.get("from")
    mounted = mount and source and DIGEST.fullmatch(mount)
    if mounted and await _mount(reg, principal, account_id, model_id, str(mount), str(source)):
        return _blob_created(account_id, model_id, str(mount))
    digest = request.query_params.get("digest")
    session = await anyio.to_thread.run_sync(reg.uploads.start, account_id, model_id)
    if digest is not None:
        sha256_of_digest(digest)
        await _append(reg, request, session, 0)
        return await _complete(reg, session, digest)
    return empty(202, _upload_headers(account_id, model_id, session.id, 0))


async def _mount(
    reg: Registry, principal: Any, account_id: str, model_id: str, digest: str, source: str
) -> bool:
    """Link a blob of repository ``source`` that the caller may read; False when it cannot."""
    parts = source.split("/")
    if len(parts) != 2 or not all(is_valid_id(part) for part in parts):
        return False
    other = await anyio.to_thread.run_sync(reg.view.repo, parts[0], parts[1])
    if other is None or not access.Caller(principal).reads(parts[0], other.public):
        return False
    sha256 = sha256_of_digest(digest)
    size = await anyio.to_thread.run_sync(blob_size, reg, other, sha256)
    if size is None or not await anyio.to_thread.run_sync(reg.view.has_blob, sha256):
        return False
    await anyio.to_thread.run_sync(reg.records.link_blob, account_id, model_id, sha256, size)
    return True


async def _session(request: Request) -> tuple[Registry, Session]:
    reg, account_id, model_id, _, _ = await _writable(request)
    upload_id = request.path_params["upload"]
    session = await anyio.to_thread.run_sync(reg.uploads.session, upload_id, account_id, model_id)
    if session is None:
        raise OciError(
            "BLOB_UPLOAD_UNKNOWN",
            f"no upload {upload_id!r} in {account_id}/{model_id}",
            detail={"upload": upload_id},
        )
    return reg, session


async def patch_upload(request: Request) -> Response:
    reg, session = await _session(request)
    start: int | None = None
    header = request.headers.get("content-range")
    if header:
        match = _CONTENT_RANGE.fullmatch(header.strip())
        if match is None or int(match.group(2)) < int(match.group(1)):
            raise OciError(
                "BLOB_UPLOAD_INVALID",
                f"Content-Range {header!r} is not '<start>-<end>'",
                status=416,
                headers=_upload_headers(session.account_id, session.model_id, session.id, session.size),
            )
        start = int(match.group(1))
    size = await _append(reg, request, session, start)
    return empty(202, _upload_headers(session.account_id, session.model_id, session.id, size))


async def finish_upload(request: Request) -> Response:
    reg, session = await _session(request)
    digest = request.query_params.get("digest")
    if not digest:
        raise OciError("DIGEST_INVALID", "completing an upload needs ?digest=sha256:<hex>")
    sha256_of_digest(digest)
    header = request.headers.get("content-range")
    start = int(m.group(1)) if header and (m := _CONTENT_RANGE.fullmatch(header.strip())) else None
    if request.headers.get("content-length", "0") != "0" or "chunked" in request.headers.get(
        "transfer-encoding", ""
    ):
        await _append(reg, request, session, start)
    return await _complete(reg, session, digest)


async def upload_status(request: Request) -> Response:
    _, session = await _session(request)
    return empty(204, _upload_headers(session.account_id, session.model_id, session.id, session.size))


async def cancel_upload(request: Request) -> Response:
    reg, session = await _session(request)
    reg.uploads.close(session)
    return empty(204, {})


# -- manifests ---------------------------------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    try:
        return await doorway.read_body(request, MAX_MANIFEST)
    except RegistryError:
        raise OciError(
            "SIZE_INVALID", f"a manifest may have at most {MAX_MANIFEST} bytes", status=413
        ) from None


def _parse(body: bytes, content_type: str) -> dict[str, Any]:
    try:
        manifest = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise OciError("MANIFEST_INVALID", f"the manifest is not JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise OciError("MANIFEST_INVALID", "the manifest must be a JSON object with schemaVersion 2")
    media = manifest.get("mediaType") or content_type
    if media != content_type and content_type:
        raise OciError("MANIFEST_INVALID", f"mediaType {media!r} differs from Content-Type {content_type!r}")
    for item in [manifest.get("config"), *(manifest.get("layers") or []), *(manifest.get("manifests") or [])]:
        if item is None:
            continue
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("digest"), str)
            or not isinstance(item.get("size"), int)
        ):
            raise OciError("MANIFEST_INVALID", "every descriptor needs a digest and a size")
        if not DIGEST.fullmatch(item["digest"]):
            raise OciError("MANIFEST_INVALID", f"descriptor digest {item['digest']!r} is not sha256:<hex>")
    return manifest


def _check_blobs(
    reg: Registry, repo_names: tuple[str, str], repo: Repo | None, manifest: dict[str, Any]
) -> None:
    account_id, model_id = repo_names
    wanted = [manifest.get("config"), *(manifest.get("layers") or [])]
    for item in wanted:
        if item is None:
            continue
        sha256 = item["digest"].removeprefix("sha256:")
        size = reg.records.linked_size(account_id, model_id, sha256)
        if size is None and repo is not None:
            size = blob_size(reg, repo, sha256)
            if size is None and reg.records.config_blob(account_id, model_id, item["digest"]) is not None:
                continue
        if size is None:
            raise OciError(
                "MANIFEST_BLOB_UNKNOWN",
                f"blob {item['digest']} was not pushed to {account_id}/{model_id}",
                detail={"digest": item["digest"]},
            )
    for child in manifest.get("manifests") or []:
        if reg.records.manifest(account_id, model_id, child["digest"]) is None and repo is not None:
            from modelyard.oci.pull import find_manifest

            if find_manifest(reg, repo, child["digest"]) is None:
                raise OciError(
                    "MANIFEST_BLOB_UNKNOWN", f"manifest {child['digest']} is not in {account_id}/{model_id}"
                )


async def put_manifest(request: Request) -> Response:
    reg, account_id, model_id, repo, principal = await _writable(request)
    reference = request.path_params["reference"]
    body = await _body(request)
    digest = modelpack.digest_of(body)
    if is_digest(reference):
        sha256_of_digest(reference)
        if reference != digest:
            raise OciError("DIGEST_INVALID", f"the manifest's digest is {digest}, not {reference}")
        tag = None
    else:
        if not TAG.fullmatch(reference):
            raise OciError(
                "MANIFEST_INVALID", f"{reference!r} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})"
            )
        tag = reference
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    manifest = _parse(body, content_type)
    media = str(manifest.get("mediaType") or content_type or modelpack.MANIFEST_MEDIA_TYPE)
    await anyio.to_thread.run_sync(_check_blobs, reg, (account_id, model_id), repo, manifest)
    subject = manifest.get("subject")
    subject_digest = subject.get("digest") if isinstance(subject, dict) else None
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    artifact_type = manifest.get("artifactType") or (config or {}).get("mediaType")
    stored = StoredManifest(digest, media, artifact_type, subject_digest, None, body)
    if layers.is_model_push(manifest):
        from modelyard.oci.commit import commit_push

        await commit_push(reg, account_id, model_id, repo, principal, manifest, stored, tag)
    else:
        if repo is None:
            raise name_unknown(account_id, model_id)
        await anyio.to_thread.run_sync(reg.records.put_manifest, account_id, model_id, stored, tag)
    headers = {"Location": f"/v2/{account_id}/{model_id}/manifests/{digest}", "Docker-Content-Digest": digest}
    if subject_digest:
        headers["OCI-Subject"] = subject_digest
    return empty(201, headers)


async def delete_manifest(request: Request) -> Response:
    """``DELETE`` of a pushed artifact (by digest), of its tag, or of a revision tag (``v1``: the tag goes,
    the revision stays). Revisions themselves and branches are not deleted through OCI."""
    account_id, model_id = names(request)
    reg = registry(request)
    who, repo = await readable(request, scope="pull,push")
    access.require_delete(request, who, account_id, model_id)
    reference = request.path_params["reference"]

    def delete() -> bool | None:
        """True when something was deleted, None when the reference names a revision or a branch."""
        if is_digest(reference):
            sha256_of_digest(reference)
            if reg.records.delete_manifest(account_id, model_id, reference):
                return True
            from modelyard.oci.pull import find_manifest

            return None if find_manifest(reg, repo, reference) is not None else False
        if not TAG.fullmatch(reference):
            return False
        if reg.records.delete_tag(account_id, model_id, reference):
            return True
        if reg.view.delete_revision_tag(repo, reference):
            return True
        return None if reg.view.resolve(repo, reference) is not None else False

    deleted = await anyio.to_thread.run_sync(delete)
    if deleted:
        return empty(202, {})
    if deleted is None:
        raise OciError(
            "UNSUPPORTED",
            f"{reference} names a revision or a branch of {account_id}/{model_id}; revisions are immutable "
            "(delete the model, or push another revision)",
        )
    raise OciError("MANIFEST_UNKNOWN", f"{account_id}/{model_id} has no manifest {reference!r}")
