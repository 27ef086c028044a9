"""``GET /v1/accounts/{account}/auditLogs`` (admins only): the account's audit entries, newest first,
``pageSize``/``pageToken`` (the signed tokens of List), ``startTime`` (inclusive) and ``endTime``
(exclusive) in RFC 3339."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action
from modelyard.aip.pagetoken import PageTokenCodec, check_binding, digest
from modelyard.aip.timestamps import parse_rfc3339
from modelyard.api.errors import invalid
from modelyard.api.params import json_response, page_size, query_param
from modelyard.doorway import Permission, admit
from modelyard.errors import not_found
from modelyard.resources.identity import audit_json
from modelyard.store.repository import Store

router = APIRouter()


def _time(request: Request, camel: str, snake: str) -> int | None:
    raw = query_param(request, camel, snake)
    if raw is None or raw == "":
        return None
    nanos = parse_rfc3339(raw)
    if nanos is None:
        raise invalid(
            f"{camel} {raw!r} is not an RFC 3339 timestamp (e.g. 2026-11-30T00:00:00Z; send + as %2B)",
            field=camel,
            reason="INVALID_TIME",
        )
    return nanos


@router.get("/v1/accounts/{account_id}/auditLogs", include_in_schema=False)
async def list_audit_logs(account_id: str, request: Request) -> Response:
    hidden = not_found("account", f"accounts/{account_id}")
    await admit(request, {"account_id": account_id}, Permission(Action.READ_AUDIT, account_id, hidden))
    return await run_in_threadpool(_list, account_id, request)


def _list(account_id: str, request: Request) -> Response:
    size = page_size(query_param(request, "pageSize", "page_size"))
    start = _time(request, "startTime", "start_time")
    end = _time(request, "endTime", "end_time")
    codec: PageTokenCodec = request.app.state.token_codec
    binding = {
        "a": ("account", digest(f"audit:{account_id}")),
        "s": ("startTime", digest(str(start))),
        "e": ("endTime", digest(str(end))),
    }
    after = None
    token = query_param(request, "pageToken", "page_token") or ""
    if token:
        payload = codec.decode(token)  # AipError: the app renders it (INVALID_ARGUMENT)
        check_binding(payload, **binding)
        key = payload.get("k")
        if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, int) for k in key)):
            raise invalid(
                "pageToken: the page token is not valid", field="pageToken", reason="INVALID_PAGE_TOKEN"
            )
        after = (key[0], key[1])
    store: Store = request.app.state.store
    page = store.audit_entries(account_id, start=start, end=end, after=after, limit=size)
    out: dict[str, Any] = {"auditLogs": [audit_json(r) for r in page.rows]}
    if page.last is not None:
        out["nextPageToken"] = codec.encode({"k": list(page.last), **{k: v[1] for k, v in binding.items()}})
    return json_response(out)
