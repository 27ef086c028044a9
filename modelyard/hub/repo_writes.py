"""Repositories through the Hub door: ``HfApi.create_repo``, ``delete_repo`` and the README metadata check
``create_commit`` makes before uploading a ``README.md``.

* ``POST /hf/api/repos/create`` ``{"name", "organization", "visibility" | "private", "type"}`` creates
  the Model ``ORGANIZATION/NAME`` (the caller's account when ``organization`` is absent) in ``UPLOADING``,
  of kind ``HF_BASE_MODEL`` with a Hugging Face checkpoint; its first commit that validates makes it
  ``READY``. It is private unless ``visibility`` is ``public`` (or ``private`` is false), like every new
  modelyard model. An existing repository is a 409, which ``create_repo(exist_ok=True)`` accepts.
* ``DELETE /hf/api/repos/delete`` ``{"name", "organization"}`` deletes the model, its revisions and files
  (the ``user`` and ``admin`` roles; a ``contributor`` cannot).
* ``POST /hf/api/validate-yaml`` ``{"content"}``: the YAML front matter of a model card must parse to a
  mapping, else a 400 whose ``errors`` the client shows.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
import yaml
from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.access import Action
from modelyard.hub.errors import HubError
from modelyard.hub.names import repo_ids
from modelyard.hub.uploads import repo_not_found
from modelyard.hub.write_support import (
    PREFIX,
    caller,
    check_write,
    json_response,
    note_repo,
    read_json,
    uploads,
)
from modelyard.resources.model import model_name
from modelyard.store.errors import AlreadyExists, NotFound
from modelyard.store.revisions import MAIN

router = APIRouter()

_BODY_LIMIT = 64 * 1024


class RepoExists(HubError):
    """409: the repository exists; the body names its ``url``, which ``create_repo(exist_ok=True)``
    returns."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(409, message)
        self.url = url

    def response(self, *, head: bool = False) -> Response:
        response = super().response(head=head)
        if not head:
            response.body = orjson.dumps({"error": self.message, "url": self.url})
            response.headers["content-length"] = str(len(response.body))
        return response


def hub_endpoint(request: Request) -> str:
    """The Hub endpoint clients reach this server by (``HF_ENDPOINT``)."""
    public: str = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/") + PREFIX


def _repo_of(body: Any, request: Request) -> tuple[str, str, str]:
    if not isinstance(body, dict):
        raise HubError(400, "the request body must be a JSON object")
    name = body.get("name")
    organization = body.get("organization")
    if not isinstance(name, str) or not name:
        raise HubError(400, "'name' (the repository name) is required")
    if organization is not None and not isinstance(organization, str):
        raise HubError(400, "'organization' must be a string")
    repo_type = body.get("type")
    if repo_type not in (None, "model"):
        raise HubError(400, f"modelyard hosts models only; repo_type {repo_type!r} is not supported")
    return name, organization or "", repo_type or "model"


@router.post(PREFIX + "/api/repos/create", include_in_schema=False)
async def create_repo(request: Request) -> Response:
    body = await read_json(request, _BODY_LIMIT)
    name, organization, _ = _repo_of(body, request)
    principal = await caller(request)
    account_id, model_id = repo_ids(organization or principal.account_id, name)
    note_repo(account_id, model_id)
    if principal.account_id != account_id:
        raise HubError(
            403,
            f"the API key of account {principal.account_id!r} cannot create repositories in {account_id!r}",
        )
    await check_write(request, principal, account_id, model_id, Action.WRITE_MODELS)
    visibility = body.get("visibility")
    private = body.get("private")
    if visibility is not None and visibility not in ("public", "private"):
        raise HubError(400, f"visibility {visibility!r} is not supported; expected 'public' or 'private'")
    if private is not None and not isinstance(private, bool):
        raise HubError(400, "'private' must be true or false")
    public = visibility == "public" or (visibility is None and private is False)
    model: dict[str, Any] = {
        "displayName": name[:63],
        "kind": "HF_BASE_MODEL",
        "baseModelDetails": {"checkpointFormat": "HUGGINGFACE"},
        "state": "UPLOADING",
    }
    if public:
        model["public"] = True
    url = f"{hub_endpoint(request)}/{account_id}/{model_id}"
    try:
        await anyio.to_thread.run_sync(_create, request, principal.name, account_id, model_id, model)
    except AlreadyExists:
        raise RepoExists(f"You already created this model repo: {account_id}/{model_id}", url) from None
    return json_response({"url": url, "name": f"{account_id}/{model_id}", "id": f"{account_id}/{model_id}"})


def _create(request: Request, author: str, account_id: str, model_id: str, model: dict[str, Any]) -> None:
    """The model, and ``main`` at an empty first revision, as a new repository on the Hub has one (so a
    client reading ``README.md`` of a new repository hears "no such file", not "no such revision")."""
    request.app.state.store.create_model(account_id, model_id, model)
    uploads(request).files.revisions.commit(
        account_id, model_id, branch=MAIN, changes={}, author=author, message="initial commit",
        allow_create_branch=True,
    )  # fmt: skip


@router.delete(PREFIX + "/api/repos/delete", include_in_schema=False)
async def delete_repo(request: Request) -> Response:
    body = await read_json(request, _BODY_LIMIT)
    name, organization, _ = _repo_of(body, request)
    principal = await caller(request)
    account_id, model_id = repo_ids(organization or principal.account_id, name)
    note_repo(account_id, model_id)
    await check_write(request, principal, account_id, model_id, Action.DELETE_MODELS)
    await anyio.to_thread.run_sync(_delete, request, account_id, model_id)
    return json_response({})


def _delete(request: Request, account_id: str, model_id: str) -> None:
    files = uploads(request).files
    if files.files.model(account_id, model_id) is None:
        raise repo_not_found(account_id, model_id)
    committed = files.committed_blobs(account_id, model_id)
    try:
        request.app.state.store.delete_model(model_name(account_id, model_id))
    except NotFound:
        raise repo_not_found(account_id, model_id) from None
    files.model_deleted(account_id, model_id, committed)


@router.post(PREFIX + "/api/validate-yaml", include_in_schema=False)
async def validate_yaml(request: Request) -> Response:
    body = await read_json(request, 1 << 20)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        raise HubError(400, "'content' (the README.md text) is required")
    problem = card_metadata_problem(content)
    if problem:
        return json_response({"errors": [{"message": problem}], "warnings": []}, status=400)
    return json_response({"errors": [], "warnings": []})


def card_metadata_problem(content: str) -> str:
    """Why a model card's YAML front matter is not a mapping (empty when it is, or there is none)."""
    lines = content.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return ""
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return "the YAML front matter that starts with '---' has no closing '---' line"
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as e:
        return f"the YAML front matter does not parse: {e}"
    if data is not None and not isinstance(data, dict):
        return "the YAML front matter must be a mapping (key: value lines)"
    return ""
