"""What the Hub door's write routes share: the caller and its role, repository ids, errors in the Hub's
convention, request bodies, and the audit entry of each write.

Errors are ``{"error": message}`` with ``X-Error-Code`` / ``X-Error-Message`` headers, which is what
``huggingface_hub.utils.hf_raise_for_status`` reads: ``RepoNotFound`` -> ``RepositoryNotFoundError``,
``RevisionNotFound`` -> ``RevisionNotFoundError``, ``EntryNotFound`` -> ``EntryNotFoundError``, a 400 ->
``BadRequestError`` (its text is the message), a 403 -> ``HfHubHTTPError`` saying "403 Forbidden: ...".

Access (decisions.md, "Hugging Face Hub protocol"): a caller writes only repositories of its own account
and only with a role that writes models (``inference-user`` cannot: 403); deleting a repository takes the
delete role (``contributor`` cannot: 403); another account's private repository answers as a missing
one (404 ``RepoNotFound``), another account's public one is a 403.

Every write request under ``/hf`` (creating or deleting a repository, a commit, a tag or branch, an LFS
batch or verification) gets an audit entry through ``api/auditing.py``'s middleware, like the Fireworks
API's writes: :func:`audit_context` names it from the path; routes whose account is in the body fill it
in (:func:`note_repo`).
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
import orjson
from fastapi import Request
from starlette.responses import Response
from starlette.types import Scope

from modelyard import access, doorway
from modelyard.access import Action, Principal
from modelyard.errors import RegistryError
from modelyard.hub.errors import HubError
from modelyard.hub.identity import authenticated
from modelyard.hub.names import hub_id
from modelyard.hub.uploads import HubUploads, repo_not_found
from modelyard.store import audit

#: Where the Hub door lives (decisions.md).
PREFIX = "/hf"


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body (at most ``limit`` bytes), or a 400/413 in the Hub's shape."""
    body = await read_bytes(request, limit)
    try:
        return orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as e:
        raise HubError(400, f"the request body is not valid JSON: {e}") from None


async def read_bytes(request: Request, limit: int) -> bytes:
    try:
        return await doorway.read_body(request, limit)
    except RegistryError as e:
        raise HubError(413, f"the request body is larger than the limit of {limit:,} bytes") from e


def uploads(request: Request) -> HubUploads:
    found: HubUploads = request.app.state.hub_uploads
    return found


async def caller(request: Request) -> Principal:
    """The request's principal, who must present a valid key (writes are never anonymous)."""
    principal = await authenticated(request)
    note_caller(principal)
    return principal


async def writer(request: Request, account_id: str, model_id: str, action: Action) -> Principal:
    """The caller, allowed ``action`` on repository ``account_id/model_id`` (which need not exist)."""
    principal = await caller(request)
    await check_write(request, principal, account_id, model_id, action)
    return principal


async def check_write(
    request: Request, principal: Principal, account_id: str, model_id: str, action: Action
) -> None:
    """403 unless ``principal`` may perform ``action`` on ``account_id/model_id``; another account's
    private (or missing) repository is a 404, as the Hub answers."""
    files = uploads(request).files.files
    found = await anyio.to_thread.run_sync(files.model, account_id, model_id)
    if found is not None and not access.may_read(principal, account_id, found.public):
        raise repo_not_found(account_id, model_id)
    if found is None and principal.account_id != account_id:
        raise repo_not_found(account_id, model_id)
    try:
        access.require(principal, action, account_id)
    except RegistryError as e:
        raise HubError(403, e.message) from None


def note_caller(principal: Principal) -> None:
    ctx = audit.current.get()
    if ctx is not None:
        ctx.principal = ctx.principal or principal.name
        ctx.api_key_id = ctx.api_key_id or principal.key_id


def note_repo(account_id: str, model_id: str) -> None:
    """Name the repository of the current write in its audit entry (routes whose account is in the body)."""
    ctx = audit.current.get()
    if ctx is not None:
        ctx.account_id = account_id
        ctx.resource = f"accounts/{account_id}/models/{model_id}"


# -- audit entries -----------------------------------------------------------------------------------------

_REPO = r"/api/models/([^/]+)/([^/]+)"
_AUDITED: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(PREFIX + r"/api/repos/create"), "HubCreateRepo"),
    ("DELETE", re.compile(PREFIX + r"/api/repos/delete"), "HubDeleteRepo"),
    ("POST", re.compile(PREFIX + _REPO + r"/commit/.+"), "HubCommit"),
    ("POST", re.compile(PREFIX + _REPO + r"/tag/.+"), "HubCreateTag"),
    ("DELETE", re.compile(PREFIX + _REPO + r"/tag/.+"), "HubDeleteTag"),
    ("POST", re.compile(PREFIX + _REPO + r"/branch/.+"), "HubCreateBranch"),
    ("DELETE", re.compile(PREFIX + _REPO + r"/branch/.+"), "HubDeleteBranch"),
    ("POST", re.compile(PREFIX + r"/([^/]+)/([^/]+)\.git/info/lfs/objects/batch"), "HubLfsBatch"),
    ("POST", re.compile(PREFIX + r"/api/lfs/verify/([^/]+)/([^/]+)/[^/]+"), "HubLfsVerify"),
]


def audit_context(scope: Scope) -> audit.AuditContext | None:
    """The audit entry of a Hub write request (``api/auditing.py`` calls this for every request)."""
    path: str = scope["path"]
    if not path.startswith(PREFIX + "/"):
        return None
    method = scope["method"]
    for verb, pattern, name in _AUDITED:
        if verb != method:
            continue
        match = pattern.fullmatch(path)
        if match is None:
            continue
        account_id = model_id = ""
        if match.groups():
            account_id, model_id = hub_id(match.group(1)), hub_id(match.group(2))
        request_id = scope.get("modelyard.request_id", b"")
        return audit.AuditContext(
            account_id=account_id,
            method=name,
            resource=f"accounts/{account_id}/models/{model_id}" if account_id else "",
            request_id=request_id.decode("ascii") if isinstance(request_id, bytes) else str(request_id),
        )
    return None
