"""The pull side of the OCI door: ``/v2/``, the token endpoint, manifests, blobs, tags and referrers.

Manifests of revisions are generated (``oci/modelpack.py``) at their first pull and kept
(``store/oci.py``), so their digest never changes; pushed manifests are served as they were pushed.
Blobs on ``file://`` storage are sent by the server (``Range`` honoured, ``sendfile``); on ``s3://``
the answer is a ``307`` to a presigned URL of the object store, so the bytes never pass through modelyard.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from modelyard import doorway
from modelyard.errors import RegistryError
from modelyard.oci import access, modelpack
from modelyard.oci.errors import OciError
from modelyard.oci.registry import (
    API_VERSION,
    TAG,
    Registry,
    is_digest,
    readable,
    registry,
    respond,
    sha256_of_digest,
)
from modelyard.oci.view import Head, Repo
from modelyard.store.oci import StoredManifest

#: config.json files larger than this are not read for the ModelPack config.
MAX_CONFIG_JSON = 1 << 20


async def base(request: Request) -> Response:
    """``GET /v2/``: 200 for a caller with credentials (or an anonymous token), else the challenge."""
    reg = registry(request)
    if access.credentials(request) is None:
        raise access.unauthorized(request, "authentication required (an anonymous token is enough to pull)")
    await access.caller(request, reg.tokens)
    return JSONResponse({}, headers=API_VERSION)


#: The largest OAuth2 token form (``grant_type=password&username=...&password=<API key>``).
TOKEN_FORM_BYTES = 64 * 1024


async def token(request: Request) -> Response:
    """The Docker token endpoint: Basic (any user, an API key as password) gets a token for that key;
    no credentials get a short-lived anonymous token (pulls of public models)."""
    reg = registry(request)
    key: str | None = None
    if request.method == "POST":  # the OAuth2 form (grant_type=password) some clients use
        try:
            raw = await doorway.read_body(request, TOKEN_FORM_BYTES)
        except RegistryError:
            raise OciError("SIZE_INVALID", f"the token form is over {TOKEN_FORM_BYTES} bytes") from None
        passwords = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=16).get("password", [])
        key = passwords[0] if passwords and passwords[0] else None
    if key is None:
        found = access.credentials(request)
        if found is not None and found[0] == "key":
            key = found[1]
    if key is not None:
        await access.principal_of(request, key)
        value, ttl = key, 3600
    else:
        value, ttl = reg.tokens.anonymous(), access.ANONYMOUS_TTL
    issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = {"token": value, "access_token": value, "expires_in": ttl, "issued_at": issued}
    return JSONResponse(body, headers={"Cache-Control": "no-store", **API_VERSION})


# -- manifests ---------------------------------------------------------------------------------------------


def _hf_config(reg: Registry, revision: modelpack.Revision) -> dict[str, Any]:
    for f in revision.files:
        if f.path == "config.json" and f.size <= MAX_CONFIG_JSON:
            try:
                data = json.loads(reg.view.reader(f.sha256, f.size).read(0, f.size))
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def revision_manifest(reg: Registry, repo: Repo, head: Head) -> StoredManifest:
    """The manifest of a revision: the one kept for it (remembered in this process: it never changes),
    else built now and kept."""
    key = (repo.account_id, repo.model_id, head.commit_id)
    kept = reg.generated.get(key)
    if kept is None:
        kept = reg.records.generated(*key)
    if kept is None:
        revision = reg.view.revision(head)
        manifest, config = modelpack.build(
            repo.account_id, repo.model_id, repo.model, revision, _hf_config(reg, revision)
        )
        kept = reg.records.save_generated(*key, manifest, config)
    reg.generated.put(key, kept)
    return kept


def find_manifest(reg: Registry, repo: Repo, reference: str) -> StoredManifest | None:
    """The manifest a tag or digest names in ``repo`` (sync: run it in a thread)."""
    if is_digest(reference):
        sha256_of_digest(reference)
        stored = reg.records.manifest(repo.account_id, repo.model_id, reference)
        if stored is not None:
            return stored
        for name in reg.view.ref_names(repo):  # a revision not pulled yet
            head = reg.view.resolve(repo, name)
            if head is not None:
                made = revision_manifest(reg, repo, head)
                if made.digest == reference:
                    return made
        return None
    if not TAG.fullmatch(reference):  # not a tag the registry could hold (the distribution-spec's rule)
        return None
    head = reg.view.resolve(repo, reference)
    if head is not None:
        return revision_manifest(reg, repo, head)
    tagged = reg.records.tag(repo.account_id, repo.model_id, reference)
    if tagged is not None:
        return reg.records.manifest(repo.account_id, repo.model_id, tagged)
    return None


async def get_manifest(request: Request) -> Response:
    _, repo = await readable(request)
    reg = registry(request)
    reference = request.path_params["reference"]
    found = await anyio.to_thread.run_sync(find_manifest, reg, repo, reference)
    if found is None:
        raise OciError(
            "MANIFEST_UNKNOWN",
            f"{repo.account_id}/{repo.model_id} has no manifest {reference!r}",
            detail={"reference": reference},
        )
    headers = {"Docker-Content-Digest": found.digest, "ETag": f'"{found.digest}"'}
    return respond(found.content, found.media_type, head=request.method == "HEAD", headers=headers)


# -- blobs -------------------------------------------------------------------------------------------------


def blob_size(reg: Registry, repo: Repo, sha256: str) -> int | None:
    """The size of a blob ``repo`` holds (a file of one of its revisions, or pushed to it)."""
    size = reg.view.file_blob(repo, sha256)
    if size is None:
        size = reg.records.linked_size(repo.account_id, repo.model_id, sha256)
    return size


async def get_blob(request: Request) -> Response:
    _, repo = await readable(request)
    reg = registry(request)
    digest = request.path_params["digest"]
    sha256 = sha256_of_digest(digest)
    head = request.method == "HEAD"
    headers = {"Docker-Content-Digest": digest, "ETag": f'"{digest}"'}
    config = await anyio.to_thread.run_sync(reg.records.config_blob, repo.account_id, repo.model_id, digest)
    if config is not None:
        return respond(config, modelpack.CONFIG_MEDIA_TYPE, head=head, headers=headers)
    size = await anyio.to_thread.run_sync(blob_size, reg, repo, sha256)
    if size is not None:
        path = reg.view.local_blob(sha256)
        if path is None:
            if head:  # a HEAD answers itself: clients ask whether the blob exists and how large it is
                headers["Content-Length"] = str(size)
                return Response(
                    status_code=200, headers={**API_VERSION, **headers}, media_type="application/octet-stream"
                )
            url = await anyio.to_thread.run_sync(reg.view.download_url, sha256, size)
            return RedirectResponse(url, status_code=307, headers={**API_VERSION, **headers})
        if path.exists():
            return FileResponse(
                path, media_type="application/octet-stream", headers={**API_VERSION, **headers}
            )
    raise OciError(
        "BLOB_UNKNOWN", f"{repo.account_id}/{repo.model_id} has no blob {digest}", detail={"digest": digest}
    )


# -- tags and referrers ------------------------------------------------------------------------------------


async def tags_list(request: Request) -> Response:
    _, repo = await readable(request)
    reg = registry(request)
    raw_n = request.query_params.get("n")
    last = request.query_params.get("last")
    n: int | None = None
    if raw_n is not None:
        if not raw_n.isdigit() or len(raw_n) > 9:
            raise OciError("PAGINATION_NUMBER_INVALID", f"n must be a non-negative integer, not {raw_n!r}")
        n = int(raw_n)

    def collect() -> list[str]:
        revision_tags = reg.view.ref_names(repo)
        return sorted(set(revision_tags) | set(reg.records.tags(repo.account_id, repo.model_id)))

    tags = await anyio.to_thread.run_sync(collect)
    if last is not None:
        tags = [t for t in tags if t > last]
    headers = dict(API_VERSION)
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            name = f"{repo.account_id}/{repo.model_id}"
            headers["Link"] = f'</v2/{name}/tags/list?n={n}&last={tags[-1]}>; rel="next"'
    return JSONResponse({"name": f"{repo.account_id}/{repo.model_id}", "tags": tags}, headers=headers)


def _descriptor(m: StoredManifest) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": m.media_type, "digest": m.digest, "size": len(m.content)}
    try:
        parsed = orjson.loads(m.content)
    except orjson.JSONDecodeError:
        parsed = {}
    artifact_type = m.artifact_type
    if isinstance(parsed, dict) and isinstance(parsed.get("annotations"), dict) and parsed["annotations"]:
        out["annotations"] = parsed["annotations"]
    if artifact_type:
        out["artifactType"] = artifact_type
    return out


async def referrers(request: Request) -> Response:
    _, repo = await readable(request)
    reg = registry(request)
    digest = request.path_params["digest"]
    sha256_of_digest(digest)
    found = await anyio.to_thread.run_sync(reg.records.referrers, repo.account_id, repo.model_id, digest)
    wanted = request.query_params.get("artifactType")
    headers = dict(API_VERSION)
    if wanted:
        found = [m for m in found if m.artifact_type == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {
        "schemaVersion": 2,
        "mediaType": modelpack.INDEX_MEDIA_TYPE,
        "manifests": [_descriptor(m) for m in found],
    }
    body = modelpack.canonical(index)
    return Response(body, media_type=modelpack.INDEX_MEDIA_TYPE, headers=headers)
