"""The Hub's read endpoints, as huggingface_hub (0.x to 2.x), ``hf``, transformers and the serving engines
call them (paths relative to the ``/hf`` mount):

``GET /api/models/{repo}`` and ``GET /api/models/{repo}/revision/{rev}``
    ``model_info``: ``id``, ``sha`` (the revision's commit id), ``siblings`` (with ``blobs=true``: sizes
    and LFS SHA-256), ``private``, ``lastModified``, ``createdAt``, ``cardData`` (``README.md``'s front
    matter), ``tags``, ``pipeline_tag``, ``library_name``, ``usedStorage``.
``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=&cursor=``
    ``list_repo_tree``/``list_repo_files``: files (as LFS files) and directories, 1,000 per page (50 with
    ``expand``), the next page named by a ``Link: <...>; rel="next"`` header, as the Hub pages.
``POST /api/models/{repo}/paths-info/{rev}``
    ``get_paths_info``, ``HfFileSystem.info``/``exists``: the files and folders among the form's ``paths``.
``GET /api/models/{repo}/refs``
    ``list_repo_refs``: branches and tags (``converts`` and ``pullRequests`` are empty).
``GET /api/models/{repo}/commits/{rev}?cursor=``
    ``list_repo_commits``: newest first from ``rev``, 50 per page, paged by ``Link``.
``HEAD``/``GET /{repo}/resolve/{rev}/{path}``
    ``hf_hub_download``, ``file_exists``, ``snapshot_download``: ``X-Repo-Commit``, ``ETag`` and
    ``X-Linked-Etag`` (the quoted SHA-256), ``X-Linked-Size``, ``Content-Length``. ``HEAD`` answers 200 with
    the metadata (a same-host redirect would be followed by huggingface_hub 1.x+ and lose it); ``GET``
    redirects (302) to the file's signed download URL, which honours ``Range`` (file storage: the
    registry's own file endpoint; S3: a presigned URL of the bucket).
``GET /api/whoami-v2``
    ``whoami`` (``hf auth whoami``): the key's account as ``name``, the principal, the role.

A repo id is ``ACCOUNT/MODEL`` (``hub/names.py``). A revision is a branch, a tag or a commit id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from modelyard import doorway
from modelyard.errors import RegistryError
from modelyard.files.service import FileService
from modelyard.hub.errors import HubError, entry_not_found
from modelyard.hub.identity import authenticated, can_write
from modelyard.hub.repos import (
    Repo,
    card,
    commit_json,
    files_of,
    find_repo,
    hub_route,
    iso,
    json_response,
    raw_tail,
    resolve,
    revision_and_path,
    sibling,
    tree,
    tree_file,
)
from modelyard.settings import Settings
from modelyard.storage.base import URL_TTL_SECONDS
from modelyard.store.revisions import MAIN, Revision, RevisionNotFound, TreeEntry

T = TypeVar("T")

#: Entries per page of ``/tree`` (the Hub's 1,000; 50 with ``expand``) and commits per page of ``/commits``.
#: The most a ``paths-info`` form may hold.
MAX_FORM_BYTES = 1024 * 1024
TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
COMMITS_PAGE = 50


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


# -- model_info -----------------------------------------------------------------------------------------


@hub_route
async def model_info(request: Request) -> Response:
    repo = await find_repo(request)
    tail = raw_tail(request, 4)  # api models NAMESPACE NAME [revision REV]
    if tail and tail[0] == "revision":
        if len(tail) < 2 or not tail[1]:
            raise HubError(400, "a revision is needed after /revision/")
        revision = await resolve(request, repo, "/".join(tail[1:]))
    else:
        try:
            revision = await resolve(request, repo, MAIN)
        except HubError:  # a model with no revision yet: an empty repo
            revision = None
    entries = await tree(request, revision.commit_id) if revision is not None else []
    card_data = await card(request, repo, entries)
    blobs = _flag(request, "blobs")
    info: dict[str, object] = {
        "_id": repo.id,
        "id": repo.id,
        "modelId": repo.id,
        "author": repo.account_id,
        "private": not repo.public,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": _tags(card_data),
        "siblings": [sibling(e, blobs=blobs) for e in entries],
        "usedStorage": sum(e.size for e in entries),
        "createdAt": str(repo.resource.get("createTime", "")) or None,
    }
    if revision is not None:
        info["sha"] = revision.commit_id
        info["lastModified"] = iso(revision.create_time)
    if card_data is not None:
        info["cardData"] = card_data
        for key in ("pipeline_tag", "library_name"):
            if isinstance(card_data.get(key), str):
                info[key] = card_data[key]
    return json_response(info)


def _tags(card_data: dict[str, object] | None) -> list[str]:
    if card_data is None:
        return []
    tags = card_data.get("tags")
    found = [str(t) for t in tags] if isinstance(tags, list) else [str(tags)] if isinstance(tags, str) else []
    for key in ("library_name", "license"):
        value = card_data.get(key)
        if isinstance(value, str):
            found.append(value if key == "library_name" else f"license:{value}")
    return list(dict.fromkeys(found))


# -- tree -----------------------------------------------------------------------------------------------


def _cursor(request: Request) -> str:
    raw = request.query_params.get("cursor", "")
    if not raw:
        return ""
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise HubError(400, "cursor: not a cursor this server issued") from None


def _next_link(request: Request, last: str) -> dict[str, str]:
    token = base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")
    return {"Link": f'<{request.url.include_query_params(cursor=token)}>; rel="next"'}


def _directory(path: str) -> dict[str, object]:
    """A folder of ``/tree`` and ``/paths-info`` (``RepoFolder``)."""
    oid = hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def _listing(entries: list[TreeEntry], prefix: str, recursive: bool) -> list[dict[str, object]]:
    """The files and directories under ``prefix`` (all of them, or only its direct children)."""
    items: dict[str, dict[str, object]] = {}
    base = prefix + "/" if prefix else ""
    for entry in entries:
        if not entry.path.startswith(base):
            continue
        rest = entry.path[len(base) :]
        parts = rest.split("/")
        for depth in range(1, len(parts)):
            if depth > 1 and not recursive:
                break
            directory = base + "/".join(parts[:depth])
            if directory not in items:
                items[directory] = _directory(directory)
        if recursive or len(parts) == 1:
            items[entry.path] = tree_file(entry)
    return [items[k] for k in sorted(items)]


@hub_route
async def list_tree(request: Request) -> Response:
    repo = await find_repo(request)
    rev, path = revision_and_path(request, 5)  # api models NAMESPACE NAME tree
    revision = await resolve(request, repo, rev)
    entries = await tree(request, revision.commit_id)
    items = _listing(entries, path, _flag(request, "recursive"))
    if path and not items:
        raise entry_not_found(repo.id, rev, path)
    after = _cursor(request)
    if after:
        items = [i for i in items if str(i["path"]) > after]
    size = TREE_PAGE_EXPANDED if _flag(request, "expand") else TREE_PAGE
    page, more = items[:size], len(items) > size
    return json_response(page, _next_link(request, str(page[-1]["path"])) if more else None)


@hub_route
async def paths_info(request: Request) -> Response:
    """``POST .../paths-info/{rev}`` (form ``paths=...&expand=...``): the files and folders among
    ``paths`` (others are left out, as on the Hub); ``get_paths_info``, ``HfFileSystem.info``."""
    repo = await find_repo(request)
    rev, _ = revision_and_path(request, 5)  # api models NAMESPACE NAME paths-info
    try:
        body = await doorway.read_body(request, MAX_FORM_BYTES)
    except RegistryError:
        raise HubError(413, f"the request body is over {MAX_FORM_BYTES} bytes") from None
    form = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10_000)
    wanted = [p.strip("/") for p in form.get("paths", [])]
    revision = await resolve(request, repo, rev)
    entries = {e.path: e for e in await tree(request, revision.commit_id)}
    folders = {"/".join(p.split("/")[:i]) for p in entries for i in range(1, p.count("/") + 1)}
    found = [
        tree_file(entries[p]) if p in entries else _directory(p)
        for p in dict.fromkeys(wanted)
        if p in entries or p in folders
    ]
    return json_response(found)


# -- refs and commits -------------------------------------------------------------------------------------


@hub_route
async def list_refs(request: Request) -> Response:
    repo = await find_repo(request)
    found = await _run(request, lambda f: f.revisions.refs(repo.account_id, repo.model_id))
    out: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
    for ref in found:
        kind = "heads" if ref.kind == "branch" else "tags"
        item = {"name": ref.name, "ref": f"refs/{kind}/{ref.name}", "targetCommit": ref.commit_id}
        out["branches" if ref.kind == "branch" else "tags"].append(item)
    return json_response(out)


@hub_route
async def list_commits(request: Request) -> Response:
    repo = await find_repo(request)
    rev, _ = revision_and_path(request, 5)  # api models NAMESPACE NAME commits
    revision = await resolve(request, repo, rev)
    after = request.query_params.get("cursor") or None

    def walk(files: FileService) -> list[Revision]:
        try:
            return files.revisions.log(
                repo.account_id, repo.model_id, revision.commit_id, limit=COMMITS_PAGE + 1, after=after
            )
        except RevisionNotFound:
            raise HubError(400, "cursor: not a commit of this repo") from None

    log = await _run(request, walk)
    page = log[:COMMITS_PAGE]
    headers = None
    if len(log) > COMMITS_PAGE:
        headers = {"Link": f'<{request.url.include_query_params(cursor=page[-1].commit_id)}>; rel="next"'}
    return json_response([commit_json(r) for r in page], headers)


async def _run(request: Request, work: Callable[[FileService], T]) -> T:
    """``work(the file service)`` in a worker thread (the store and the storage block)."""
    return await anyio.to_thread.run_sync(work, files_of(request))


# -- resolve --------------------------------------------------------------------------------------------


def _base_url(request: Request) -> str:
    """The base of signed file URLs: ``Settings.public_url`` (a proxy in front), else the server's own
    (without the ``/hf`` mount)."""
    settings: Settings = request.app.state.settings
    return settings.public_url or str(request.url.replace(path="/", query="", fragment=""))


@hub_route
async def resolve_file(request: Request) -> Response:
    repo = await find_repo(request)
    rev, path = revision_and_path(request, 3)  # NAMESPACE NAME resolve
    if not path:
        raise entry_not_found(repo.id, rev, path)
    revision = await resolve(request, repo, rev)
    entry = await _run(request, lambda f: f.revisions.entry(revision.commit_id, path))
    if entry is None:
        raise entry_not_found(repo.id, rev, path)
    etag = f'"{entry.sha256}"'
    headers = {
        "X-Repo-Commit": revision.commit_id,
        "ETag": etag,
        "X-Linked-Etag": etag,
        "X-Linked-Size": str(entry.size),
        "Accept-Ranges": "bytes",
        "Access-Control-Expose-Headers": "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, ETag, Content-Length",
    }
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(entry.size)})
    expires = int(time.time()) + URL_TTL_SECONDS
    base = _base_url(request)
    url = await _run(request, lambda f: f.download_url(repo.account_id, repo.model_id, entry, base, expires))
    return RedirectResponse(url, status_code=302, headers=headers)


# -- whoami ---------------------------------------------------------------------------------------------


@hub_route
async def whoami(request: Request) -> Response:
    principal = await authenticated(request)
    return json_response(
        {
            "type": "user",
            "id": principal.name,
            "name": principal.account_id,
            "fullname": principal.name,
            "email": principal.email or None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [],
            "auth": {
                "type": "access_token",
                "accessToken": {
                    "displayName": principal.key_id,
                    "role": "write" if can_write(principal) else "read",
                },
            },
        }
    )


__all__ = [
    "Repo",
    "list_commits",
    "list_refs",
    "list_tree",
    "model_info",
    "paths_info",
    "resolve_file",
    "whoami",
]
