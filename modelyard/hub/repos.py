"""What the Hub routes share: finding the repo a request names (through the store's read path, with the
caller as reader), resolving a revision, the Hub's JSON shapes of files and commits, and the error
boundary of every route (``hub_route``).

Every file is presented as a Git LFS file: its ``lfs.oid``/``lfs.sha256`` and the ``ETag`` of ``resolve``
are its SHA-256 (what modelyard verified when it was stored); its git ``oid`` is the id of its LFS
pointer, as on the Hub.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.aip.timestamps import format_rfc3339
from modelyard.files.service import FileService
from modelyard.hub.card import MAX_CARD_BYTES, card_data
from modelyard.hub.errors import HubError, repo_not_found, revision_not_found
from modelyard.hub.identity import Caller, caller
from modelyard.hub.names import repo_id, repo_ids
from modelyard.resources.model import model_name
from modelyard.storage.base import FileRef, StorageError
from modelyard.store.errors import Unavailable
from modelyard.store.repository import Store
from modelyard.store.revisions import MAIN, Revision, RevisionNotFound, TreeEntry

log = logging.getLogger("modelyard")


@dataclass(frozen=True)
class Repo:
    """A model the caller may read, as a Hub repo."""

    account_id: str
    model_id: str
    resource: dict[str, Any]
    public: bool
    caller: Caller

    @property
    def id(self) -> str:
        return repo_id(self.account_id, self.model_id)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def files_of(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


async def find_repo(request: Request) -> Repo:
    """The repo of the path's ``namespace/name``; a missing model and another account's private model
    both answer ``RepoNotFound`` (the store's visibility rule decides, reading as the caller)."""
    namespace, name = request.path_params["namespace"], request.path_params["name"]
    account_id, model_id = repo_ids(namespace, name)
    who = await caller(request)
    store = store_of(request)
    found = await anyio.to_thread.run_sync(
        functools.partial(store.get_model, model_name(account_id, model_id), reader=who.reader)
    )
    if found is None or not who.may_download():
        raise repo_not_found(f"{namespace}/{name}")
    return Repo(account_id, model_id, found[0], found[1], who)


def _resolve_sync(files: FileService, repo: Repo, revision: str) -> Revision:
    try:
        return files.revisions.resolve(repo.account_id, repo.model_id, revision)
    except RevisionNotFound:
        if revision == MAIN:  # a READY model from before revisions (S3) gets its first revision now
            head = files.ensure_main(repo.account_id, repo.model_id)
            if head is not None:
                return head
        raise revision_not_found(repo.id, revision) from None


async def resolve(request: Request, repo: Repo, revision: str) -> Revision:
    """A branch, tag or commit id of the repo; ``RevisionNotFound`` otherwise."""
    return await anyio.to_thread.run_sync(_resolve_sync, files_of(request), repo, revision)


async def tree(request: Request, commit_id: str) -> list[TreeEntry]:
    return await anyio.to_thread.run_sync(files_of(request).revisions.tree, commit_id)


def raw_tail(request: Request, skip: int) -> list[str]:
    """The percent-decoded segments of the raw path after the mount and ``skip`` more segments (a
    revision sent as ``refs%2Fpr%2F1`` stays one segment)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    segments = raw.decode("latin-1").split("?", 1)[0].split("/")
    root = request.scope.get("root_path", "")
    start = (len(root.rstrip("/").split("/")) if root.strip("/") else 1) + skip
    try:
        tail = [unquote(s, errors="strict") for s in segments[start:]]
    except UnicodeDecodeError:
        raise HubError(400, "the URL's path is not percent-encoded UTF-8") from None
    if any("\x00" in s for s in tail):
        raise HubError(400, "the URL's path holds a NUL character")
    return tail


def revision_and_path(request: Request, skip: int) -> tuple[str, str]:
    """``{revision}[/{path}]`` after ``skip`` segments of the path."""
    tail = raw_tail(request, skip)
    if not tail or not tail[0]:
        raise HubError(400, "a revision is needed in the URL")
    return tail[0], "/".join(tail[1:]).strip("/")


# -- JSON shapes ----------------------------------------------------------------------------------------


def iso(nanos: int) -> str:
    """A time as the Hub writes it (RFC 3339, milliseconds, ``Z``)."""
    text = format_rfc3339(nanos - nanos % 1_000_000)
    return text if "." in text else text.replace("Z", ".000Z")


def lfs_pointer(entry: TreeEntry) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{entry.sha256}\nsize {entry.size}\n".encode()
    )


def git_oid(entry: TreeEntry) -> str:
    """The git blob id of the file's LFS pointer (what the Hub reports as an LFS file's ``oid``)."""
    pointer = lfs_pointer(entry)
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer, usedforsecurity=False).hexdigest()


def tree_file(entry: TreeEntry) -> dict[str, Any]:
    """A file of ``/tree`` (``RepoFile``)."""
    pointer = lfs_pointer(entry)
    return {
        "type": "file",
        "oid": git_oid(entry),
        "size": entry.size,
        "path": entry.path,
        "lfs": {"oid": entry.sha256, "size": entry.size, "pointerSize": len(pointer)},
    }


def sibling(entry: TreeEntry, *, blobs: bool) -> dict[str, Any]:
    """A file of ``model_info``'s ``siblings`` (sizes and hashes with ``blobs=True``)."""
    if not blobs:
        return {"rfilename": entry.path}
    pointer = lfs_pointer(entry)
    return {
        "rfilename": entry.path,
        "size": entry.size,
        "blobId": git_oid(entry),
        "lfs": {"sha256": entry.sha256, "size": entry.size, "pointerSize": len(pointer)},
    }


def commit_json(revision: Revision) -> dict[str, Any]:
    """A commit of ``/commits`` (``GitCommitInfo``): the message's first line is its title."""
    title, _, body = revision.message.partition("\n")
    return {
        "id": revision.commit_id,
        "title": title,
        "message": body.strip("\n"),
        "authors": [{"user": revision.author}],
        "date": iso(revision.create_time),
    }


def json_response(payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


# -- the model card -------------------------------------------------------------------------------------

_CARDS: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
_CARD_CACHE_SIZE = 1024


def _read_card(files: FileService, repo: Repo, entry: TreeEntry) -> dict[str, Any] | None:
    if entry.sha256 in _CARDS:
        _CARDS.move_to_end(entry.sha256)
        return _CARDS[entry.sha256]
    ref = FileRef(repo.account_id, repo.model_id, entry.path, entry.size, "", f"sha256:{entry.sha256}")
    data = files.storage.open_reader(ref).read(0, min(entry.size, MAX_CARD_BYTES))
    card = card_data(data)
    _CARDS[entry.sha256] = card  # content-addressed: a README's card never changes
    while len(_CARDS) > _CARD_CACHE_SIZE:
        _CARDS.popitem(last=False)
    return card


async def card(request: Request, repo: Repo, entries: list[TreeEntry]) -> dict[str, Any] | None:
    """``cardData`` of a revision (its ``README.md``'s front matter), or None."""
    readme = next((e for e in entries if e.path == "README.md"), None)
    if readme is None:
        return None
    return await anyio.to_thread.run_sync(_read_card, files_of(request), repo, readme)


# -- the error boundary ---------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def hub_route(handler: Handler) -> Handler:
    """Answer the Hub's way: ``HubError`` as the Hub sends errors; a database or storage that does not
    answer as 503."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        head = request.method == "HEAD"
        try:
            return await handler(request)
        except HubError as e:
            return e.response(head=head)
        except (Unavailable, StorageError) as e:
            log.warning(
                "%s %s: %s", request.method, request.url.path, str(e).splitlines()[0] if str(e) else e
            )
            return HubError(503, "the registry's database or storage is unavailable; retry").response(
                head=head
            )

    return wrapped
