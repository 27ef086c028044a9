"""What every HTTP door of the app shares (the Fireworks API, the catalog, and the Hub and OCI doors):
the API key a request carries, authentication with the app's abuse limits, and the one request preamble.
The rules themselves (principal, roles, visibility, rate limit, bad-key delay, the audit entry's caller)
live in ``modelyard.access``; nothing here decides, and no door imports another door.

Authentication:

* :func:`request_key`: ``Authorization: Bearer <key>``, ``X-Api-Key: <key>``, and with ``basic=True``
  the password of ``Authorization: Basic`` (what ``docker login``/``oras`` send; the user name is
  ignored). None without a key; 401 for an ``Authorization`` header of another form.
* :func:`authenticate` (on the event loop) and :func:`authenticate_sync` (in a worker thread): the
  caller's :class:`~modelyard.access.Principal` (``anonymous=True``: :data:`~modelyard.access.ANONYMOUS`
  without a key), through ``modelyard.access.authenticate`` with ``app.state.access_limits``. A bad
  key's answer is held back (``BAD_KEY_DELAY`` in the scope, honoured by ``api/auditing.py``'s
  middleware on the event loop, for every door of the app).

The preamble, ``admitted = await admit(request, ids, permission, body=True)``, in this order, so no route
can forget a step:

1. the caller (:func:`authenticate`);
2. each path id checked (``account_id``, ``model_id``, ``user_id``: 400 ``INVALID_<FIELD>``; an account
   may be ``-`` with ``any_account``);
3. the permission (``modelyard.access.require``; ``Permission.hidden`` answers NOT_FOUND instead of a
   refusal in another account whose resources the door does not reveal);
4. with ``body=True``, the body: a ``Content-Length`` over ``Settings.max_body_bytes`` is 413
   ``REQUEST_TOO_LARGE`` before a byte is read, and a body that grows past it while arriving stops being
   read at the limit.

This module is the only reader of JSON request bodies (``tests/test_architecture.py`` checks), the raw
model-file uploads of ``api/blobs.py`` aside (not JSON, not limited by ``max_body_bytes``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request

from modelyard import access
from modelyard.access import Action, Principal, require
from modelyard.errors import RegistryError, invalid, too_large
from modelyard.resources.codec import ResourceError, check_id
from modelyard.store.repository import Store

#: Set in the request's scope (seconds) when the key presented is not valid: the 401 waits that long.
BAD_KEY_DELAY = "modelyard.bad_key_delay"


def _malformed(expected: str) -> RegistryError:
    return RegistryError(
        "UNAUTHENTICATED", f"the Authorization header must be {expected}", reason="INVALID_API_KEY"
    )


def request_key(request: HTTPConnection, *, basic: bool = False) -> str | None:
    """The request's API key, or None without one (see the module doc)."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return value
        if basic and scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _malformed("'Basic <base64 of user:API key>'") from None
            _, sep, password = decoded.partition(":")
            if sep and password:
                return password
            raise _malformed("'Basic <base64 of user:API key>'")
        raise _malformed("'Bearer <API key>'" + (" or 'Basic <user:API key>'" if basic else ""))
    return request.headers.get("x-api-key") or None


def request_store(request: HTTPConnection) -> Store:
    store: Store = request.app.state.store
    return store


def _limits(request: HTTPConnection) -> access.Limits:
    limits: access.Limits = getattr(request.app.state, "access_limits", None) or access.Limits()
    return limits


def _client(request: HTTPConnection) -> str:
    return request.client.host if request.client else ""


async def authenticate(request: HTTPConnection, *, anonymous: bool = False, basic: bool = False) -> Principal:
    """The caller, on the event loop: a key checked in the last seconds costs no read and no thread."""
    key = request_key(request, basic=basic)
    try:
        return await access.aauthenticate(
            request_store(request), key, limits=_limits(request), client=_client(request), anonymous=anonymous
        )
    except access.InvalidKey as e:
        request.scope[BAD_KEY_DELAY] = e.delay
        raise


async def authenticate_key(request: HTTPConnection, key: str | None, *, anonymous: bool = False) -> Principal:
    """:func:`authenticate` with a key the door found in its own credential form (e.g. OCI tokens)."""
    try:
        return await access.aauthenticate(
            request_store(request), key, limits=_limits(request), client=_client(request), anonymous=anonymous
        )
    except access.InvalidKey as e:
        request.scope[BAD_KEY_DELAY] = e.delay
        raise


def authenticate_sync(request: HTTPConnection, *, anonymous: bool = False, basic: bool = False) -> Principal:
    """The caller, from a worker thread."""
    key = request_key(request, basic=basic)
    try:
        return access.authenticate(
            request_store(request), key, limits=_limits(request), client=_client(request), anonymous=anonymous
        )
    except access.InvalidKey as e:
        request.scope[BAD_KEY_DELAY] = e.delay
        raise


# -- the preamble --------------------------------------------------------------------------------------

#: Marks an ``account_id`` that may be ``-`` (every account the caller can read).
ANY_ACCOUNT = "-"


@dataclass(frozen=True)
class Admitted:
    principal: Principal
    body: bytes = b""


@dataclass(frozen=True)
class Permission:
    """What the route needs: ``action`` (or a function of the caller choosing it, e.g. managing one's
    own keys or another user's) in ``account``; ``hidden``: the NOT_FOUND answered instead of a refusal
    in another account."""

    action: Action | Callable[[Principal], Action]
    account: str
    hidden: RegistryError | None = None


def check_id_value(value: str, what: str, field: str, reason: str | None = None) -> None:
    """INVALID_ARGUMENT naming ``field`` (reason ``INVALID_<FIELD>`` unless given) unless ``value``
    follows the resource id rules; ``what`` names it in the message (``user id``)."""
    try:
        check_id(value, what)
    except ResourceError as e:
        raise invalid(e.message, field=field, reason=reason or f"INVALID_{field.upper()}") from None


def check_ids(ids: Mapping[str, str], *, any_account: bool = False) -> None:
    """INVALID_ARGUMENT naming the first path id that does not follow the resource id rules."""
    for field, value in ids.items():
        if any_account and field == "account_id" and value == ANY_ACCOUNT:
            continue
        check_id_value(value, field.replace("_", " "), field)


def body_limit(request: Request) -> int:
    """The most bytes a JSON request body may have (``Settings.max_body_bytes``)."""
    limit: int = request.app.state.settings.max_body_bytes
    return limit


async def _receive_body(request: Request) -> bytes:
    return await read_body(request, body_limit(request))


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body of a request, refused (413 ``REQUEST_TOO_LARGE``) before more than ``limit`` bytes
    are read: the one reader of request bodies that are not file uploads, for every door (a door renders
    the refusal in its own convention)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, None)
        chunks.append(chunk)
    return b"".join(chunks)


async def admit(
    request: Request,
    ids: Mapping[str, str],
    permission: Permission,
    *,
    body: bool = False,
    any_account: bool = False,
    anonymous: bool = False,
    basic: bool = False,
) -> Admitted:
    """The preamble (see the module doc): the caller and, with ``body``, the body it sent. ``ids`` are
    checked against the resource id rules (a door whose names follow other rules checks them itself and
    passes none); ``anonymous`` and ``basic`` as for :func:`authenticate`."""
    principal = await authenticate(request, anonymous=anonymous, basic=basic)
    check_ids(ids, any_account=any_account)
    action = permission.action if isinstance(permission.action, Action) else permission.action(principal)
    require(principal, action, permission.account, hidden=permission.hidden)
    return Admitted(principal, await _receive_body(request) if body else b"")
