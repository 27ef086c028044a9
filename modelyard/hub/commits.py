"""Commits, tags and branches through the Hub door, as ``HfApi.create_commit`` (and ``upload_file``,
``upload_folder``, ``delete_file``, ``push_to_hub``), ``create_tag``/``delete_tag`` and
``create_branch``/``delete_branch`` call them:

* ``POST /hf/api/models/{repo}/preupload/{rev}`` ``{"files": [{"path", "size", "sample"}], "gitIgnore"}``
  answers each file's ``uploadMode`` (``lfs`` or ``regular``, :func:`modelyard.hub.operations.upload_mode`),
  ``shouldIgnore`` (the ``.gitignore`` sent along) and, when the revision holds the path, its ``oid``
  (SHA-256 for LFS files, git's blob SHA-1 for regular ones), so unchanged files are not sent again.
* ``POST /hf/api/models/{repo}/commit/{branch}`` (NDJSON: a ``header`` line, then ``file`` (inline,
  base64), ``lfsFile``, ``deletedFile``, ``deletedFolder`` lines) commits a revision
  (``HubUploads.commit``) and answers ``{"commitOid", "commitUrl", "pullRequestUrl"}``. Pull requests
  (``create_pr=True``) are refused with a 400.
* ``POST /hf/api/models/{repo}/tag/{rev}`` ``{"tag", "message"}``, ``DELETE .../tag/{tag}``,
  ``POST .../branch/{branch}`` ``{"startingPoint"}``, ``DELETE .../branch/{branch}``: refs
  (``store/revisions.py``); a ref that exists is a 409 (``exist_ok=True`` accepts it). Tag messages are
  not kept.
* ``GET /hf/api/models/{repo}/xet-write-token/{rev}``: modelyard does not speak Xet yet. hf_xet prints
  only the status and the URL of a failed request, so the answer redirects to a URL that says to set
  ``HF_HUB_DISABLE_XET=1`` (which huggingface_hub >= 1.0 needs for uploads) and fails there; ``preupload``
  also sends an ``X-HF-Warning`` the client logs before any LFS upload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import anyio.to_thread
import orjson
import pathspec
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from modelyard.access import Action
from modelyard.hub.errors import REVISION_NOT_FOUND, HubError
from modelyard.hub.names import repo_ids
from modelyard.hub.operations import check_file_path, parse_operations, upload_mode
from modelyard.hub.repo_writes import hub_endpoint
from modelyard.hub.uploads import HubUploads, repo_not_found
from modelyard.hub.write_support import (
    PREFIX,
    json_response,
    read_bytes,
    read_json,
    uploads,
    writer,
)
from modelyard.storage.base import FileRef, StorageError
from modelyard.store.revisions import MAIN, InvalidRef, RefExists, RevisionNotFound

router = APIRouter()

REPO = PREFIX + "/api/models/{namespace}/{name}"
#: The largest commit body (inline files travel in it, each at most ``REGULAR_MAX_BYTES``).
COMMIT_BODY_LIMIT = 256 << 20
#: How many files one preupload call may ask about.
MAX_PREUPLOAD_FILES = 1000

XET_WARNING = (
    "modelyard takes large files through Git LFS: with huggingface_hub >= 1.0, set HF_HUB_DISABLE_XET=1 "
    "(else the upload fails at 'xet-write-token')"
)
XET_REFUSAL = (
    "modelyard does not speak the Xet protocol yet: set HF_HUB_DISABLE_XET=1 in the environment of the "
    "client (huggingface_hub >= 1.0 uploads through Xet otherwise) and run the upload again"
)


def _pr_refused(request: Request) -> None:
    if request.query_params.get("create_pr") in ("1", "true", "True"):
        raise HubError(400, "modelyard does not support pull requests; commit to a branch instead")


# -- preupload --------------------------------------------------------------------------------------------


@router.post(REPO + "/preupload/{revision:path}", include_in_schema=False)
async def preupload(namespace: str, name: str, revision: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    body = await read_json(request, 8 << 20)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    _pr_refused(request)
    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        raise HubError(400, "the preupload request must be {'files': [{'path', 'size', 'sample'}, ...]}")
    files = body["files"]
    if len(files) > MAX_PREUPLOAD_FILES:
        raise HubError(400, f"at most {MAX_PREUPLOAD_FILES} files per preupload request")
    gitignore = body.get("gitIgnore")
    if gitignore is not None and not isinstance(gitignore, str):
        raise HubError(400, "'gitIgnore' must be a string")
    hub = uploads(request)
    answer = await anyio.to_thread.run_sync(_preupload, hub, account_id, model_id, revision, files, gitignore)
    response = json_response({"files": answer, "commitOid": None})
    if any(f["uploadMode"] == "lfs" for f in answer):
        # huggingface_hub logs this once per process: the hint for a client that uploads through Xet.
        response.headers["X-HF-Warning"] = f"modelyard-xet; {XET_WARNING}"
    return response


def _preupload(
    hub: HubUploads, account_id: str, model_id: str, revision: str, files: list[Any], gitignore: str | None
) -> list[dict[str, Any]]:
    if hub.files.files.model(account_id, model_id) is None:
        raise repo_not_found(account_id, model_id)
    tree: dict[str, tuple[str, int]] = {}
    try:
        head = hub.files.revisions.resolve(account_id, model_id, revision)
        tree = {e.path: (e.sha256, e.size) for e in hub.files.revisions.tree(head.commit_id)}
    except RevisionNotFound:
        if revision != MAIN:
            raise HubError(404, f"Invalid rev id: {revision}", code=REVISION_NOT_FOUND) from None
    ignore = pathspec.PathSpec.from_lines("gitwildmatch", gitignore.splitlines()) if gitignore else None
    out: list[dict[str, Any]] = []
    for item in files:
        if not isinstance(item, dict):
            raise HubError(400, "each file must be {'path', 'size', 'sample'}")
        path = check_file_path(item.get("path"))
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise HubError(400, f"{path}: 'size' must be a non-negative integer")
        try:
            sample = base64.b64decode(item.get("sample") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise HubError(400, f"{path}: 'sample' is not valid base64") from None
        mode = upload_mode(path, size, sample[:512])
        entry: dict[str, Any] = {
            "path": path,
            "uploadMode": mode,
            "shouldIgnore": bool(ignore is not None and ignore.match_file(path)),
        }
        existing = tree.get(path)
        if existing is not None:
            entry["oid"] = (
                existing[0] if mode == "lfs" else _git_oid(hub, account_id, model_id, path, existing)
            )
        out.append(entry)
    return out


def _git_oid(
    hub: HubUploads, account_id: str, model_id: str, path: str, entry: tuple[str, int]
) -> str | None:
    """git's blob id of a small committed file (what huggingface_hub compares regular files by)."""
    sha, size = entry
    if size > 8 << 20:
        return None
    ref = FileRef(account_id, model_id, path, size, "", f"sha256:{sha}")
    try:
        data = hub.storage.open_reader(ref).read(0, size)
    except StorageError:
        return None
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


# -- commit -----------------------------------------------------------------------------------------------


@router.post(REPO + "/commit/{revision:path}", include_in_schema=False)
async def commit(namespace: str, name: str, revision: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    principal = await writer(request, account_id, model_id, Action.WRITE_FILES)
    _pr_refused(request)
    raw = await read_bytes(request, COMMIT_BODY_LIMIT)
    lines: list[dict[str, Any]] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise HubError(400, f"commit line {number} is not valid JSON: {e}") from None
        if not isinstance(item, dict):
            raise HubError(400, f"commit line {number} must be a JSON object")
        lines.append(item)
    ops = parse_operations(lines)
    hub = uploads(request)
    result = await anyio.to_thread.run_sync(
        hub.commit, principal, principal.name, account_id, model_id, revision, ops
    )
    oid = result.revision.commit_id
    return json_response(
        {
            "success": True,
            "commitOid": oid,
            "commitUrl": f"{hub_endpoint(request)}/{account_id}/{model_id}/commit/{oid}",
            "pullRequestUrl": None,
            "hookOutput": result.problem or None,
        }
    )


# -- tags and branches ------------------------------------------------------------------------------------


@router.post(REPO + "/tag/{revision:path}", include_in_schema=False)
async def create_tag(namespace: str, name: str, revision: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    body = await read_json(request, 64 * 1024)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    tag = body.get("tag") if isinstance(body, dict) else None
    if not isinstance(tag, str) or not tag:
        raise HubError(400, "'tag' (the new tag's name) is required")
    hub = uploads(request)
    await anyio.to_thread.run_sync(_ref_write, hub, account_id, model_id, "create_tag", tag, revision)
    return json_response({})


@router.delete(REPO + "/tag/{tag:path}", include_in_schema=False)
async def delete_tag(namespace: str, name: str, tag: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    hub = uploads(request)
    await anyio.to_thread.run_sync(_ref_write, hub, account_id, model_id, "delete_tag", tag, None)
    return json_response({})


@router.post(REPO + "/branch/{branch:path}", include_in_schema=False)
async def create_branch(namespace: str, name: str, branch: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    body = await read_json(request, 64 * 1024)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    start = body.get("startingPoint") if isinstance(body, dict) else None
    if start is not None and not isinstance(start, str):
        raise HubError(400, "'startingPoint' must be a revision (a branch, a tag or a commit id)")
    hub = uploads(request)
    await anyio.to_thread.run_sync(
        _ref_write, hub, account_id, model_id, "create_branch", branch, start or MAIN
    )
    return json_response({})


@router.delete(REPO + "/branch/{branch:path}", include_in_schema=False)
async def delete_branch(namespace: str, name: str, branch: str, request: Request) -> Response:
    account_id, model_id = repo_ids(namespace, name)
    await writer(request, account_id, model_id, Action.WRITE_FILES)
    hub = uploads(request)
    await anyio.to_thread.run_sync(_ref_write, hub, account_id, model_id, "delete_branch", branch, None)
    return json_response({})


def _ref_write(
    hub: HubUploads, account_id: str, model_id: str, verb: str, name: str, revision: str | None
) -> None:
    if hub.files.files.model(account_id, model_id) is None:
        raise repo_not_found(account_id, model_id)
    revisions = hub.files.revisions
    try:
        if verb == "create_tag":
            assert revision is not None
            revisions.create_tag(account_id, model_id, name, revision=revision)
        elif verb == "create_branch":
            assert revision is not None
            revisions.create_branch(account_id, model_id, name, revision=revision)
        elif verb == "delete_tag":
            revisions.delete_tag(account_id, model_id, name)
        else:
            revisions.delete_branch(account_id, model_id, name)
    except RefExists:
        raise HubError(409, f"Reference already exists: {name}") from None
    except RevisionNotFound:
        missing = revision if verb.startswith("create") else name
        raise HubError(404, f"Invalid rev id: {missing}", code=REVISION_NOT_FOUND) from None
    except InvalidRef as e:
        raise HubError(400, str(e)) from None


# -- Xet --------------------------------------------------------------------------------------------------


#: Where a Xet token request is sent on: hf_xet prints only the status and the URL of a failed request,
#: so the URL itself says what to do.
XET_HINT_PATH = PREFIX + "/api/xet-is-not-supported--set-HF_HUB_DISABLE_XET=1-and-upload-again"


@router.get(REPO + "/xet-write-token/{revision:path}", include_in_schema=False)
async def xet_write_token(namespace: str, name: str, revision: str, request: Request) -> Response:
    return RedirectResponse(XET_HINT_PATH, status_code=307, headers={"X-Error-Message": XET_REFUSAL})


@router.get(XET_HINT_PATH, include_in_schema=False)
async def xet_hint(request: Request) -> Response:
    raise HubError(400, XET_REFUSAL)
