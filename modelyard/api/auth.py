"""Who is calling and what they may touch: the API key of a request (``Authorization: Bearer`` or
``X-Api-Key``) resolved to its account, account id checks, and the write rule (a key writes only to its
own account). Every resource router uses these."""

from __future__ import annotations

import anyio.to_thread
from fastapi import Request

from modelyard.api.errors import ApiError, invalid
from modelyard.resources.codec import ResourceError, check_id
from modelyard.store.repository import Store


def request_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def caller_account(request: Request) -> str:
    """The account of the request's API key (``Authorization: Bearer`` or ``X-Api-Key``)."""
    account = request_store(request).authenticate(api_key(request))
    if account is None:
        raise ApiError("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
    return account


async def acaller_account(request: Request) -> str:
    """``caller_account`` on the event loop: a recently seen key costs no database read or thread."""
    store, key = request_store(request), api_key(request)
    account = store.cached_account(key)
    if account is None:
        account = await anyio.to_thread.run_sync(store.authenticate, key)
    if account is None:
        raise ApiError("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
    return account


def api_key(request: Request) -> str:
    key = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                "UNAUTHENTICATED",
                "the Authorization header must be 'Bearer <API key>'",
                reason="INVALID_API_KEY",
            )
        key = value.strip()
    else:
        key = request.headers.get("x-api-key")
    if not key:
        raise ApiError(
            "UNAUTHENTICATED",
            "missing API key: send 'Authorization: Bearer <API key>' (or 'X-Api-Key: <API key>')",
            reason="MISSING_API_KEY",
        )
    return key


def check_account(account_id: str, *, allow_all: bool = False) -> None:
    """INVALID_ARGUMENT unless ``account_id`` is a valid id (or ``-``, every account, with ``allow_all``)."""
    if allow_all and account_id == "-":
        return
    try:
        check_id(account_id, "account id")
    except ResourceError as e:
        raise invalid(e.message, field="account_id", reason="INVALID_ACCOUNT_ID") from None


def check_writable(caller: str, account_id: str) -> None:
    """PERMISSION_DENIED unless the caller's key belongs to ``account_id``."""
    if caller != account_id:
        raise ApiError(
            "PERMISSION_DENIED",
            f"the API key of account {caller!r} cannot write to account {account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )
