"""Page tokens (AIP-158): opaque, URL-safe, authenticated, expiring.

A token is ``base64url(nonce || AES-GCM(key, json))``: tampering fails authentication, the content is
not readable, and the random nonce makes every token unique. The JSON holds the keyset position and
digests of what the token is bound to; the server checks those against the request.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelyard.aip.errors import AipError

TOKEN_VERSION = 1
DEFAULT_TTL_SECONDS = 3 * 24 * 3600
_AAD = b"modelyard.pagetoken.v1"


def digest(value: str) -> str:
    """A short stable digest of a request parameter, for binding a token to it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _invalid(message: str, reason: str = "INVALID_PAGE_TOKEN") -> AipError:
    return AipError(message, parameter="pageToken", reason=reason)


class PageTokenCodec:
    def __init__(self, key: bytes, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        if len(key) != 32:
            raise ValueError("page token keys are 32 bytes")
        self._aead = AESGCM(key)
        self.ttl_seconds = ttl_seconds

    def encode(self, payload: dict[str, Any], *, now: float | None = None) -> str:
        body = dict(payload, v=TOKEN_VERSION, t=int(now if now is not None else time.time()))
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps(body), _AAD)
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def decode(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The payload of a token this server family issued; AipError when it is not one, or expired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise _invalid("the page token is not valid: it is not one this server issued") from None
        if len(raw) < 12 + 16 + 2:
            raise _invalid("the page token is not valid: it is truncated")
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], _AAD)
            body = orjson.loads(plain)
        except (InvalidTag, orjson.JSONDecodeError):
            raise _invalid(
                "the page token is not valid: it was altered or issued by another server"
            ) from None
        if not isinstance(body, dict) or body.get("v") != TOKEN_VERSION:
            raise _invalid("the page token is not valid: unknown version")
        issued = body.get("t", 0)
        current = now if now is not None else time.time()
        if current - issued > self.ttl_seconds:
            hours = self.ttl_seconds // 3600
            raise _invalid(
                f"the page token has expired (tokens are valid for {hours} hours); start the listing again",
                reason="PAGE_TOKEN_EXPIRED",
            )
        return body


def check_binding(payload: dict[str, Any], **expected: tuple[str, str]) -> None:
    """Raise INVALID_ARGUMENT naming the first parameter whose digest differs from the token's.

    ``expected`` maps a payload key to ``(parameter name, digest)``."""
    for key, (parameter, value) in expected.items():
        if payload.get(key) != value:
            raise AipError(
                f"the page token was issued for a different {parameter}; send the same {parameter} as the "
                "request that returned the token, or start again without a pageToken",
                parameter="pageToken",
                reason="PAGE_TOKEN_REQUEST_MISMATCH",
                metadata={"changed": parameter},
            )


@dataclass(frozen=True)
class ListCursor:
    """What a List's page tokens are bound to (the account listed, the caller, the filter and the
    canonical ordering) and how wide their keyset position is (one value per ordering field)."""

    account: str
    caller: str
    filter: str
    order_by: str
    width: int

    def _binding(self) -> dict[str, tuple[str, str]]:
        return {
            "a": ("account", digest(self.account)),
            "u": ("caller", digest(self.caller)),
            "f": ("filter", digest(self.filter)),
            "o": ("orderBy", digest(self.order_by)),
        }

    def position(self, codec: PageTokenCodec, token: str) -> list[Any] | None:
        """The keyset position after which ``token`` continues (None without a token); AipError when the
        token is not valid or was issued for another request."""
        if not token:
            return None
        payload = codec.decode(token)
        check_binding(payload, **self._binding())
        key = payload.get("k")
        if not isinstance(key, list) or len(key) != self.width:
            raise _invalid("the page token is not valid")
        return key

    def next_token(self, codec: PageTokenCodec, last_key: list[Any]) -> str:
        """A token continuing after ``last_key``."""
        return codec.encode({"k": last_key, **{k: value for k, (_, value) in self._binding().items()}})
