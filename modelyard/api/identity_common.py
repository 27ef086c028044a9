"""What the identity routes (accounts, users, API keys, audit logs) share: id checks, JSON bodies, read
masks and in-memory List paging with the same signed page tokens as Models. Who may do what, and hiding
other accounts (NOT_FOUND), is ``modelyard.access``'s, applied by ``api/preamble.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.aip import filtering
from modelyard.aip.fieldmask import FieldMask, apply_read_mask, parse_field_mask
from modelyard.aip.inmemory import list_page
from modelyard.aip.ordering import OrderBy, parse_order_by
from modelyard.aip.pagetoken import ListCursor, PageTokenCodec
from modelyard.aip.schema import FieldDecl, MessageDecl, Schema
from modelyard.api.errors import invalid
from modelyard.api.params import json_response, page_size, query_param, read_body


def json_object(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}`` unless ``required``)."""
    if not required and not raw.strip():
        return {}
    body = read_body(raw)
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", field="body", reason="INVALID_JSON")
    return body


def field(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body[camel] if camel in body else body.get(snake)


def string_field(body: dict[str, Any], camel: str, snake: str, *, limit: int) -> str | None:
    """A string field (camelCase or snake_case), at most ``limit`` characters, without NUL."""
    value = field(body, camel, snake)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{camel} must be a string", field=camel)
    if len(value) > limit:
        raise invalid(f"{camel} is {len(value)} characters long; at most {limit} are allowed", field=camel)
    if "\x00" in value:
        raise invalid(f"{camel} must not contain NUL characters", field=camel)
    return value


def read_mask(request: Request, message: MessageDecl) -> FieldMask:
    return parse_field_mask(query_param(request, "readMask", "read_mask") or "", message)


def list_response(
    request: Request,
    *,
    collection: str,
    scope: str,
    resources: Iterable[dict[str, Any]],
    schema: Schema,
    tiebreaker: FieldDecl,
    search_fields: Callable[[dict[str, Any]], Iterable[str]],
    default_order: str = "",
) -> Response:
    """A List answer over an in-memory collection: ``filter``, ``orderBy``, ``pageSize``, ``pageToken``
    (signed, bound to the scope, filter and order), ``readMask``; ``{collection: [...], nextPageToken,
    totalSize}``."""
    size = page_size(query_param(request, "pageSize", "page_size"))
    filter_text = query_param(request, "filter", "filter") or ""
    order_text = query_param(request, "orderBy", "order_by") or default_order
    token = query_param(request, "pageToken", "page_token") or ""
    checked = filtering.compile_filter(filter_text, schema)  # AipError: the app's handlers answer
    order: OrderBy = parse_order_by(order_text, schema.root).with_tiebreaker(tiebreaker)
    mask = read_mask(request, schema.root)
    codec: PageTokenCodec = request.app.state.token_codec
    cursor = ListCursor(scope, scope, filter_text, order.canonical, len(order.fields))
    after = cursor.position(codec, token)
    page, total = list_page(resources, checked, order, search_fields=search_fields, after=after, limit=size)
    out: dict[str, Any] = {collection: [apply_read_mask(r, mask) for r in page.items]}
    if page.last_key is not None:
        out["nextPageToken"] = cursor.next_token(codec, page.last_key)
    out["totalSize"] = total
    return json_response(out)
