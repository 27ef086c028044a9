"""The JSON access log: one object per request on the ``modelyard.access`` logger (fields and defaults in
:mod:`modelyard.api.observability`); page tokens in query strings are cut to their first 8 characters."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO
from urllib.parse import unquote_plus

import orjson
from starlette.types import Scope

ACCESS_LOGGER = "modelyard.access"
PAGE_TOKEN_KEEP = 8

_owns_access_logger = False


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time (it may be replaced, e.g. by pytest's capture)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def access_logger() -> logging.Logger:
    """``modelyard.access``: unless the operator configured it, plain lines on stdout at the server's log
    level (``modelyard serve --log-level warning`` silences it, as it silences uvicorn's access log)."""
    global _owns_access_logger
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        _owns_access_logger = True
    if _owns_access_logger:
        server_level = logging.getLogger("uvicorn.error").level  # set from uvicorn's log_level
        logger.setLevel(server_level if server_level != logging.NOTSET else logging.INFO)
    return logger


_ts_second = -1
_ts_prefix = ""


def _rfc3339(t: float) -> str:
    """``2025-01-02T03:04:05.678Z`` (the second's text is reused: a request log line is hot code)."""
    global _ts_second, _ts_prefix
    second = int(t)
    if second != _ts_second:
        _ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _ts_second = second
    return f"{_ts_prefix}.{int((t - second) * 1000):03d}Z"


def redact_query(raw: bytes) -> str:
    """The query string with ``pageToken``/``page_token`` values (and the ``signature`` of signed file
    URLs) cut to their first 8 characters."""
    text = raw.decode("latin-1")
    lowered = text.lower()
    if "token" not in lowered and "%" not in lowered and "signature" not in lowered:
        return text
    parts = text.split("&")
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if not eq or len(value) <= PAGE_TOKEN_KEEP:
            continue
        key = unquote_plus(name) if "%" in name or "+" in name else name
        if key in ("pageToken", "page_token", "signature"):
            parts[i] = f"{name}={value[:PAGE_TOKEN_KEEP]}..."
    return "&".join(parts)


def write_entry(
    logger: logging.Logger,
    scope: Scope,
    request_id: bytes,
    route: str,
    status: int,
    elapsed: float,
    user_agent: bytes,
    sent: int,
) -> None:
    client = scope.get("client")
    query = scope.get("query_string", b"")
    entry = {
        "ts": _rfc3339(time.time() - elapsed),
        "request_id": request_id.decode("ascii"),
        "method": scope["method"],
        "path": scope["path"],
        "query": redact_query(query) if query else "",
        "route": route,
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "client": client[0] if client else None,
        "user_agent": user_agent[:512].decode("latin-1"),
        "bytes": sent,
    }
    # makeRecord + handle: Logger.info would also walk the stack for the caller's file and line.
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, orjson.dumps(entry).decode(), (), None))
