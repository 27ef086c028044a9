"""OCI Distribution errors: ``{"errors": [{"code", "message", "detail"}]}`` with the spec's statuses.

The codes are the distribution-spec's error codes; a door handler raises :class:`OciError` and the door's
one handler (``oci/app.py``) turns it into the response. ``UNAUTHORIZED`` carries the
``WWW-Authenticate`` challenge that starts the token flow.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

#: code -> HTTP status.
STATUSES: dict[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 404,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "PAGINATION_NUMBER_INVALID": 400,
    "RANGE_INVALID": 416,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class OciError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status or STATUSES[code]
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        return {"errors": [error]}

    def response(self, *, head: bool = False) -> Response:
        body = orjson.dumps(self.body())
        headers = {**self.headers, "Docker-Distribution-API-Version": "registry/2.0"}
        if head:
            headers["Content-Length"] = str(len(body))
            return Response(status_code=self.status, headers=headers, media_type="application/json")
        return Response(body, status_code=self.status, headers=headers, media_type="application/json")


def name_unknown(account_id: str, model_id: str) -> OciError:
    return OciError(
        "NAME_UNKNOWN",
        f"repository {account_id}/{model_id} is not known to this registry",
        detail={"name": f"{account_id}/{model_id}"},
    )


def digest_invalid(digest: str, why: str = "") -> OciError:
    return OciError(
        "DIGEST_INVALID",
        f"{digest!r} is not a sha256 digest (sha256:<64 lower-case hex>){': ' + why if why else ''}",
        detail={"digest": digest},
    )
