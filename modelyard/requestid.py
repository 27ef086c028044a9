"""``X-Request-Id``: an incoming id is kept when it is 1-128 printable ASCII characters, otherwise a uuid4
hex is generated (the observability middleware puts it on every response and in the access log)."""

from __future__ import annotations

import uuid

MAX_REQUEST_ID = 128


def valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= MAX_REQUEST_ID and value.isascii() and value.decode("ascii").isprintable()


def request_id_or_new(incoming: bytes | None) -> bytes:
    """``incoming`` when it is a valid request id, else a new uuid4 hex."""
    if incoming is not None and valid_request_id(incoming):
        return incoming
    return uuid.uuid4().hex.encode()
