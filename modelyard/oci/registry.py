"""What every OCI handler shares: the :class:`Registry` (view, rows, uploads, tokens), request helpers
(names, digests, the caller and the repository it may read) and the response headers."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from modelyard.oci import access
from modelyard.oci.access import Caller, Tokens
from modelyard.oci.errors import OciError, digest_invalid, name_unknown
from modelyard.oci.uploads import Uploads
from modelyard.oci.view import Repo, View
from modelyard.resources.codec import ResourceError, check_id
from modelyard.store.oci import OciRecords, StoredManifest

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
#: A tag (distribution-spec): at most 128 characters.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class Remembered:
    """The manifests of revisions this process has served (a revision's manifest never changes), the
    least recently used forgotten past ``limit``."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, str, str], StoredManifest] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str]) -> StoredManifest | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, str, str], value: StoredManifest) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)


@dataclass
class Registry:
    view: View
    records: OciRecords
    uploads: Uploads
    tokens: Tokens
    generated: Remembered = field(default_factory=Remembered)


def registry(request: Request) -> Registry:
    found: Registry = request.app.state.oci
    return found


def names(request: Request) -> tuple[str, str]:
    """The account and model of the request's repository name (``NAME_INVALID`` when not ids)."""
    account_id, model_id = request.path_params["account"], request.path_params["model"]
    for value, what in ((account_id, "account id"), (model_id, "model id")):
        try:
            check_id(value, what)
        except ResourceError as e:
            raise OciError(
                "NAME_INVALID",
                f"repository {account_id}/{model_id}: {e.message} (a repository is ACCOUNT/MODEL)",
                detail={"name": f"{account_id}/{model_id}"},
            ) from None
    return account_id, model_id


def sha256_of_digest(digest: str) -> str:
    """The hex of a ``sha256:<hex>`` digest (``DIGEST_INVALID`` otherwise)."""
    match = DIGEST.fullmatch(digest)
    if match is None:
        raise digest_invalid(digest)
    return match.group(1)


def is_digest(reference: str) -> bool:
    return ":" in reference


async def readable(request: Request, *, scope: str = "pull") -> tuple[Caller, Repo]:
    """The caller and the repository of the request, which the caller may read; else 401 (anonymous:
    log in, then try again) or ``NAME_UNKNOWN`` (missing, or another account's private model)."""
    account_id, model_id = names(request)
    reg = registry(request)
    who = await access.caller(request, reg.tokens)
    repo = await anyio.to_thread.run_sync(reg.view.repo, account_id, model_id)
    if repo is None or not who.reads(account_id, repo.public):
        if who.anonymous:
            raise access.unauthorized(
                request,
                f"authentication required to pull {account_id}/{model_id}",
                f"repository:{account_id}/{model_id}:{scope}",
            )
        raise name_unknown(account_id, model_id)
    return who, repo


def respond(
    body: bytes, media_type: str, *, head: bool, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    all_headers = {**API_VERSION, **(headers or {})}
    if head:
        all_headers["Content-Length"] = str(len(body))
        return Response(status_code=status, headers=all_headers, media_type=media_type)
    return Response(body, status_code=status, headers=all_headers, media_type=media_type)


def empty(status: int, headers: dict[str, str]) -> Response:
    return Response(status_code=status, headers={**API_VERSION, **headers, "Content-Length": "0"})
