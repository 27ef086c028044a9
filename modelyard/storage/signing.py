"""Signed URLs of modelyard's own file endpoints (``file://`` storage).

A URL carries ``upload`` (the file list it belongs to), ``size`` (PUT: the declared length), ``expires``
(Unix seconds) and ``signature``: HMAC-SHA256 over the method, the path (account, model, file), the
upload id, the size and the expiry, keyed by a secret held in the database (``server_secrets``), so every
replica on the same database accepts every other replica's URLs. Nothing else in the URL matters: the
host may be whatever reaches a replica.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

#: The raw file endpoints: ``/v1/files/accounts/{account}/models/{model}/{path}``.
FILES_PREFIX = "/v1/files"


class SignatureError(Exception):
    """A URL whose signature does not match or that has expired; ``reason`` says which."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    method: str
    account_id: str
    model_id: str
    path: str
    upload_id: str
    size: int
    expires: int


def file_path(account_id: str, model_id: str, path: str) -> str:
    return f"{FILES_PREFIX}/accounts/{account_id}/models/{model_id}/{quote(path)}"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, req: SignedRequest) -> str:
        message = "\n".join(
            (
                req.method,
                req.account_id,
                req.model_id,
                req.path,
                req.upload_id,
                str(req.size),
                str(req.expires),
            )
        )
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    def sign(self, base_url: str, req: SignedRequest) -> str:
        query = urlencode(
            {"upload": req.upload_id, "size": req.size, "expires": req.expires, "signature": self._mac(req)}
        )
        return f"{base_url.rstrip('/')}{file_path(req.account_id, req.model_id, req.path)}?{query}"

    def verify(
        self, method: str, account_id: str, model_id: str, path: str, query: dict[str, str]
    ) -> SignedRequest:
        """The request a URL signs; raises SignatureError when it was not signed here or has expired."""
        try:
            upload_id = query["upload"]
            size = int(query["size"])
            expires = int(query["expires"])
            signature = query["signature"]
        except (KeyError, ValueError):
            raise SignatureError(
                "the URL is not a signed modelyard file URL (upload, size, expires and signature are needed)",
                "INVALID_SIGNATURE",
            ) from None
        req = SignedRequest(method, account_id, model_id, path, upload_id, size, expires)
        if not hmac.compare_digest(self._mac(req), signature):
            raise SignatureError(
                f"the signature of this {method} URL does not match (tampered, or signed for another method)",
                "INVALID_SIGNATURE",
            )
        if expires < time.time():
            raise SignatureError(
                f"the signed URL expired at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expires))}; "
                "ask for a new one",
                "SIGNED_URL_EXPIRED",
            )
        return req
