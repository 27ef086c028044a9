"""API keys of a user: create (the plaintext only in this response), list (never a secret),
``POST .../apiKeys:delete`` ``{"keyId"}``, as the ``fireworks-ai`` SDK calls them.

Everyone manages their own keys; admins manage every key of their account. Another account's users and
keys are NOT_FOUND, and so is a key id that is not the user's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action
from modelyard.aip.timestamps import parse_rfc3339
from modelyard.api.auditing import note_resource
from modelyard.api.errors import invalid
from modelyard.api.identity_common import json_object, list_response, string_field
from modelyard.api.params import json_response
from modelyard.doorway import Permission, admit, request_store
from modelyard.errors import not_found
from modelyard.resources.identity import (
    API_KEY,
    API_KEY_FILTER_SCHEMA,
    MAX_DISPLAY_NAME,
    api_key_json,
    user_name,
)
from modelyard.store import keys as apikeys

router = APIRouter()

KEYS = "/v1/accounts/{account_id}/users/{user_id}/apiKeys"


async def _admit(request: Request, account_id: str, user_id: str, *, body: bool = False) -> bytes:
    """The preamble: one's own keys (OWN_KEYS) or another user's (MANAGE_KEYS); another account's users
    are NOT_FOUND. The body, with ``body``."""
    permission = Permission(
        lambda p: Action.OWN_KEYS if p.user_id == user_id else Action.MANAGE_KEYS,
        account_id,
        not_found("user", user_name(account_id, user_id)),
    )
    ids = {"account_id": account_id, "user_id": user_id}
    return (await admit(request, ids, permission, body=body)).body


def _expire_time(raw: Any) -> int:
    if raw is None or raw == "":
        return 0
    nanos = parse_rfc3339(raw) if isinstance(raw, str) else None
    if nanos is None:
        raise invalid(
            f"apiKey.expireTime {raw!r} is not an RFC 3339 timestamp (e.g. 2030-01-01T00:00:00Z)",
            field="apiKey.expireTime",
            reason="INVALID_EXPIRE_TIME",
        )
    if nanos <= time.time_ns():
        raise invalid(
            f"apiKey.expireTime {raw!r} is in the past",
            field="apiKey.expireTime",
            reason="INVALID_EXPIRE_TIME",
        )
    return nanos


@router.post(KEYS, include_in_schema=False)
async def create_api_key(account_id: str, user_id: str, request: Request) -> Response:
    raw = await _admit(request, account_id, user_id, body=True)
    return await run_in_threadpool(_create, account_id, user_id, request, raw)


def _create(account_id: str, user_id: str, request: Request, raw: bytes) -> Response:
    body = json_object(raw, required=False)
    spec = body.get("apiKey", body.get("api_key", {}))
    if not isinstance(spec, dict):
        raise invalid("apiKey must be a JSON object", field="apiKey")
    unknown = set(spec) - {"displayName", "display_name", "expireTime", "expire_time"}
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(
            f"unknown field apiKey.{name}; expected displayName, expireTime", field=f"apiKey.{name}"
        )
    display_name = string_field(spec, "displayName", "display_name", limit=MAX_DISPLAY_NAME) or ""
    expire = _expire_time(spec.get("expireTime", spec.get("expire_time")))
    store = request_store(request)
    key_id = apikeys.new_key_id()
    note_resource(f"{user_name(account_id, user_id)}/apiKeys/{key_id}")
    values, key = store.users.create_key(  # NoSuchUser: 404, from the app's error boundary
        account_id, user_id, display_name=display_name, expire_time=expire, key_id=key_id
    )
    row = store.users.get_user(account_id, user_id)
    email = row.email if row is not None else ""
    return json_response(api_key_json(SimpleNamespace(**values), email, plaintext=key))


def _key_search(resource: dict[str, Any]) -> Iterator[str]:
    yield resource.get("displayName", "")


@router.get(KEYS, include_in_schema=False)
async def list_api_keys(account_id: str, user_id: str, request: Request) -> Response:
    await _admit(request, account_id, user_id)
    return await run_in_threadpool(_list, account_id, user_id, request)


def _list(account_id: str, user_id: str, request: Request) -> Response:
    store = request_store(request)
    if store.users.get_user(account_id, user_id) is None:
        raise not_found("user", user_name(account_id, user_id))
    key_id = API_KEY.field("key_id")
    assert key_id is not None
    return list_response(
        request,
        collection="apiKeys",
        scope=f"keys:{account_id}/{user_id}",
        resources=[api_key_json(r, r.email) for r in store.list_keys(account_id, user_id)],
        schema=API_KEY_FILTER_SCHEMA,
        tiebreaker=key_id,
        search_fields=_key_search,
        default_order="create_time",
    )


@router.post(KEYS + ":delete", include_in_schema=False)
async def delete_api_key(account_id: str, user_id: str, request: Request) -> Response:
    raw = await _admit(request, account_id, user_id, body=True)
    return await run_in_threadpool(_delete, account_id, user_id, request, raw)


def _delete(account_id: str, user_id: str, request: Request, raw: bytes) -> Response:
    body = json_object(raw)
    key_id = body.get("keyId", body.get("key_id"))
    if not isinstance(key_id, str) or not key_id:
        raise invalid("keyId is required (a string)", field="keyId")
    name = f"{user_name(account_id, user_id)}/apiKeys/{key_id}"
    note_resource(name)
    if not request_store(request).users.delete_key(key_id, account_id=account_id, user_id=user_id):
        raise not_found("API key", name)
    return json_response({})
