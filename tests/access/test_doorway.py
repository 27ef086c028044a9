"""``modelyard.doorway.request_key``: the header conventions a door can accept (Bearer, X-Api-Key, and for
the OCI door the password of HTTP Basic), each refusal a 401 naming the expected form."""

from __future__ import annotations

import base64

import pytest
from starlette.requests import Request

from modelyard.doorway import request_key
from modelyard.errors import RegistryError


def _request(*headers: tuple[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": b""})


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_bearer_and_x_api_key() -> None:
    assert request_key(_request(("Authorization", "Bearer my_k"))) == "my_k"
    assert request_key(_request(("X-Api-Key", "my_x"))) == "my_x"
    assert request_key(_request()) is None
    with pytest.raises(RegistryError) as basic_refused:
        request_key(_request(("Authorization", _basic("u:my_k"))))
    assert basic_refused.value.status == "UNAUTHENTICATED" and "Bearer" in basic_refused.value.message


def test_basic_passwords_where_the_door_accepts_them() -> None:
    assert request_key(_request(("Authorization", _basic("anyone:my_k"))), basic=True) == "my_k"
    assert request_key(_request(("Authorization", _basic("u:my:k"))), basic=True) == "my:k"
    assert request_key(_request(("Authorization", "Bearer my_k")), basic=True) == "my_k"
    for bad in (_basic("no-password"), _basic("u:"), "Basic !!!", "Token my_k"):
        with pytest.raises(RegistryError) as refused:
            request_key(_request(("Authorization", bad)), basic=True)
        assert refused.value.http == 401 and refused.value.reason == "INVALID_API_KEY", bad
