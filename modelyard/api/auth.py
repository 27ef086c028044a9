"""Who is calling, and what they may do: the one authorization rule every route applies, and the
request checks every resource router shares (the API key of a request, account ids).

``authenticate`` (on the event loop) and ``authenticate_sync`` (in a worker thread) turn the request's API
key into a :class:`Principal` (account, user, role, key id), apply the per-key rate limit, and tell the
request's audit entry who the caller is. ``require(principal, action, account)`` then decides: a principal
acts only in its own account, and only with an action its role grants.

Roles (``shared/spec/decisions.md``, "Identity"): ``admin`` everything; ``user`` reads and writes models
and files and manages its own keys; ``contributor`` as ``user`` but cannot delete models;
``inference-user`` reads and downloads, and manages its own keys.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import anyio.to_thread
import orjson
from fastapi import Request
from starlette.responses import Response

from modelyard.api.errors import ApiError, invalid
from modelyard.api.ratelimit import TokenBuckets
from modelyard.resources.codec import ResourceError, check_id
from modelyard.resources.identity import user_name
from modelyard.store import audit
from modelyard.store.keys import KeyOwner
from modelyard.store.repository import Store

#: Set in the request's scope when the key presented is not valid.
BAD_KEY = "modelyard.bad_api_key"


class Action(enum.Enum):
    READ_MODELS = "read models"
    WRITE_MODELS = "create and update models"
    DELETE_MODELS = "delete models"
    READ_FILES = "download model files"
    WRITE_FILES = "upload model files"
    READ_ACCOUNT = "read the account"
    OWN_KEYS = "manage its own API keys"
    MANAGE_USERS = "manage users"
    MANAGE_KEYS = "manage other users' API keys"
    READ_AUDIT = "read the audit log"


_READER = frozenset({Action.READ_MODELS, Action.READ_FILES, Action.READ_ACCOUNT, Action.OWN_KEYS})
_CONTRIBUTOR = _READER | {Action.WRITE_MODELS, Action.WRITE_FILES}

#: What each role may do.
PERMISSIONS: dict[str, frozenset[Action]] = {
    "admin": frozenset(Action),
    "user": _CONTRIBUTOR | {Action.DELETE_MODELS},
    "contributor": _CONTRIBUTOR,
    "inference-user": _READER,
}


@dataclass(frozen=True)
class Principal:
    account_id: str
    user_id: str
    role: str
    key_id: str
    email: str = ""

    @property
    def name(self) -> str:
        return user_name(self.account_id, self.user_id)

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS.get(self.role, frozenset())

    @staticmethod
    def of(owner: KeyOwner) -> Principal:
        return Principal(owner.account_id, owner.user_id, owner.role, owner.key_id, owner.email)


def require(principal: Principal, action: Action, account_id: str) -> None:
    """PERMISSION_DENIED unless ``principal`` may perform ``action`` in ``account_id``."""
    if principal.account_id != account_id:
        raise ApiError(
            "PERMISSION_DENIED",
            f"the API key of account {principal.account_id!r} cannot act in account {account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )
    if not principal.can(action):
        raise ApiError(
            "PERMISSION_DENIED",
            f"role {principal.role!r} of {principal.name} cannot {action.value} in account {account_id!r}",
            reason="ROLE_PERMISSION_DENIED",
            metadata={"account": account_id, "role": principal.role},
        )


class RateLimited(ApiError):
    """429 RESOURCE_EXHAUSTED with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            "RESOURCE_EXHAUSTED",
            f"too many requests with this API key; retry after {self.retry_after} s",
            reason="RATE_LIMIT_EXCEEDED",
            metadata={"retryAfterSeconds": str(self.retry_after)},
        )

    def response(self) -> Response:
        return Response(
            orjson.dumps(self.body()),
            status_code=429,
            media_type="application/json",
            headers={"Retry-After": str(self.retry_after)},
        )


def api_key(request: Request) -> str:
    """The request's key: ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                "UNAUTHENTICATED",
                "the Authorization header must be 'Bearer <API key>'",
                reason="INVALID_API_KEY",
            )
        return value.strip()
    key = request.headers.get("x-api-key")
    if not key:
        raise ApiError(
            "UNAUTHENTICATED",
            "missing API key: send 'Authorization: Bearer <API key>' (or 'X-Api-Key: <API key>')",
            reason="MISSING_API_KEY",
        )
    return key


def request_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def check_account(account_id: str, *, allow_all: bool = False) -> None:
    """INVALID_ARGUMENT unless ``account_id`` is a valid id (or ``-``, every account, with ``allow_all``)."""
    if allow_all and account_id == "-":
        return
    try:
        check_id(account_id, "account id")
    except ResourceError as e:
        raise invalid(e.message, field="account_id", reason="INVALID_ACCOUNT_ID") from None


def _admit(request: Request, owner: KeyOwner | None) -> Principal:
    if owner is None:
        request.scope[BAD_KEY] = True  # api/auditing.py delays the answer of a client that keeps guessing
        # The same answer for an unknown, deleted or expired key: nothing tells which.
        raise ApiError("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
    buckets: TokenBuckets | None = getattr(request.app.state, "rate_limits", None)
    if buckets is not None:
        wait = buckets.take(owner.key_id)
        if wait > 0:
            raise RateLimited(wait)
    ctx = audit.current.get()
    if ctx is not None:
        ctx.principal = owner.principal
        ctx.api_key_id = owner.key_id
    return Principal.of(owner)


async def authenticate(request: Request) -> Principal:
    """The caller, on the event loop: a key checked in the last seconds costs no read and no thread."""
    store, key = request_store(request), api_key(request)
    owner = store.keys.cached(key)
    if owner is None:
        owner = await anyio.to_thread.run_sync(store.keys.check, key)
    return _admit(request, owner)


def authenticate_sync(request: Request) -> Principal:
    """The caller, from a worker thread."""
    return _admit(request, request_store(request).keys.check(api_key(request)))


# -- the account-level rules of before roles, kept for routes that have not moved to require() yet --------


def caller_account(request: Request) -> str:
    """The account of the request's API key (``authenticate_sync``: expiry, revocation, rate limit)."""
    return authenticate_sync(request).account_id


async def acaller_account(request: Request) -> str:
    """``caller_account`` on the event loop."""
    return (await authenticate(request)).account_id


def check_writable(caller: str, account_id: str) -> None:
    """PERMISSION_DENIED unless the caller's key belongs to ``account_id`` (``require`` also checks the
    role: prefer it)."""
    if caller != account_id:
        raise ApiError(
            "PERMISSION_DENIED",
            f"the API key of account {caller!r} cannot write to account {account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )
