"""Reading a request and writing a JSON response: query parameters in camelCase or snake_case, JSON
bodies (an empty or malformed body is an INVALID_ARGUMENT naming ``body``), ``pageSize``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from modelyard.aip.schema import INT32_RANGE
from modelyard.api.errors import ApiError, invalid

JSON = "application/json"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def query_param(request: Request, camel: str, snake: str) -> str | None:
    params = request.query_params
    value = params.get(camel)
    if value is None:
        value = params.get(snake)
    return value


def body_limit(request: Request) -> int:
    """The most bytes a JSON request body may have (``Settings.max_body_bytes``)."""
    limit: int = request.app.state.settings.max_body_bytes
    return limit


def _too_large(limit: int, size: int | None) -> ApiError:
    got = f" ({size:,} bytes)" if size is not None else ""
    return ApiError(
        "INVALID_ARGUMENT",
        f"body: the request body is larger than the limit of {limit:,} bytes{got}",
        reason="REQUEST_TOO_LARGE",
        field="body",
        metadata={"limit": str(limit)},
        http_status=413,
    )


async def receive_body(request: Request) -> bytes:
    """The request body, read up to :func:`body_limit` bytes: a larger one (by its ``Content-Length``, or
    as it arrives) is a 413 INVALID_ARGUMENT naming the limit, and is not read further."""
    limit = body_limit(request)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, None)
        chunks.append(chunk)
    return b"".join(chunks)


def read_body(raw: bytes) -> Any:
    if not raw.strip():
        raise invalid("the request body is empty; send a JSON object", field="body", reason="INVALID_JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise invalid(
            f"the request body is not valid JSON: {e}", field="body", reason="INVALID_JSON"
        ) from None


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
