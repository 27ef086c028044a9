"""Reading a request and writing a JSON response: query parameters in camelCase or snake_case, JSON
bodies (an empty or malformed body is an INVALID_ARGUMENT naming ``body``; the bytes come from the
preamble, ``modelyard.doorway.admit``), ``pageSize``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from modelyard.aip.schema import INT32_RANGE
from modelyard.api.errors import invalid

JSON = "application/json"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def query_param(request: Request, camel: str, snake: str) -> str | None:
    params = request.query_params
    value = params.get(camel)
    if value is None:
        value = params.get(snake)
    return value


def read_body(raw: bytes) -> Any:
    if not raw.strip():
        raise invalid("the request body is empty; send a JSON object", field="body", reason="INVALID_JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise invalid(
            f"the request body is not valid JSON: {e}", field="body", reason="INVALID_JSON"
        ) from None


def json_object(raw: bytes) -> dict[str, Any]:
    """An optional JSON object body (empty: ``{}``), as the file verbs and ``:prepare`` take it."""
    if not raw.strip():
        return {}
    body = read_body(raw)
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", field="body", reason="INVALID_JSON")
    return body


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


def page_size(raw: str | None) -> int:
    """``pageSize``: absent or 0 is the default (50), above 200 is 200, anything else not an int32 >= 0
    is an INVALID_ARGUMENT."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        if not raw.lstrip("-").isascii() or not raw.lstrip("-").isdigit() or raw.count("-") > 1:
            raise ValueError(raw)
        size = int(raw)
    except ValueError:
        raise invalid(
            f"pageSize: {raw!r} is not an integer", field="pageSize", reason="INVALID_PAGE_SIZE", pageSize=raw
        ) from None
    if size < 0:
        raise invalid(
            f"pageSize: must not be negative (got {size})",
            field="pageSize",
            reason="INVALID_PAGE_SIZE",
            pageSize=raw,
        )
    if size > INT32_RANGE[1]:  # page_size is an int32: a larger number is not coerced, it is refused
        raise invalid(
            f"pageSize: {raw} is out of range (an int32, at most {INT32_RANGE[1]}; above 200 means 200)",
            field="pageSize",
            reason="INVALID_PAGE_SIZE",
            pageSize=raw,
        )
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)
