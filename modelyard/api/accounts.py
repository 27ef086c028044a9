"""Accounts: ``GET /v1/accounts`` (the accounts the caller belongs to: its key's) and
``GET /v1/accounts/{account}``, with ``readMask``. Another account is NOT_FOUND, whether it exists or not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action, require
from modelyard.aip.fieldmask import apply_read_mask
from modelyard.api.identity_common import list_response, read_mask
from modelyard.api.params import json_response
from modelyard.doorway import Permission, admit, authenticate, request_store
from modelyard.errors import not_found
from modelyard.resources.identity import ACCOUNT, ACCOUNT_FILTER_SCHEMA, account_json

router = APIRouter()


def _account_search(resource: dict[str, Any]) -> Iterator[str]:
    yield resource.get("name", "").rpartition("/")[2]
    yield resource.get("displayName", "")
    yield resource.get("email", "")


@router.get("/v1/accounts", include_in_schema=False)
async def list_accounts(request: Request) -> Response:
    principal = await authenticate(request)  # no path ids, no body: the preamble's first step only
    account_id = principal.account_id
    require(principal, Action.READ_ACCOUNT, account_id)
    return await run_in_threadpool(_list_accounts, account_id, request)


def _list_accounts(account_id: str, request: Request) -> Response:
    row = request_store(request).users.get_account(account_id)
    name = ACCOUNT.field("name")
    assert name is not None
    return list_response(
        request,
        collection="accounts",
        scope=f"accounts:{account_id}",
        resources=[account_json(row)] if row is not None else [],
        schema=ACCOUNT_FILTER_SCHEMA,
        tiebreaker=name,
        search_fields=_account_search,
    )


@router.get("/v1/accounts/{account_id}", include_in_schema=False)
async def get_account(account_id: str, request: Request) -> Response:
    hidden = not_found("account", f"accounts/{account_id}")
    await admit(request, {"account_id": account_id}, Permission(Action.READ_ACCOUNT, account_id, hidden))
    return await run_in_threadpool(_get_account, account_id, request)


def _get_account(account_id: str, request: Request) -> Response:
    mask = read_mask(request, ACCOUNT)
    row = request_store(request).users.get_account(account_id)
    if row is None:
        raise not_found("account", f"accounts/{account_id}")
    return json_response(apply_read_mask(account_json(row), mask))
