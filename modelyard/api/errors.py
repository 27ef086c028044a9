"""google.rpc errors in the grpc-gateway JSON shape: ``{"code": <int>, "message": str, "details": [...]}``.

The HTTP status comes from the standard gRPC-to-HTTP mapping. Every error carries exactly one
``google.rpc.ErrorInfo``; invalid arguments also carry a ``google.rpc.BadRequest`` field violation.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from modelyard.aip.errors import AipError
from modelyard.resources.codec import ResourceError
from modelyard.store.errors import SchemaMissing, Unavailable

DOMAIN = "modelyard"

#: name -> (gRPC code, HTTP status)
CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}


class ApiError(Exception):
    def __init__(
        self,
        status: str,
        message: str,
        *,
        reason: str | None = None,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or status
        self.field = field
        self.metadata = metadata or {}
        self.http_status = http_status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        code, _ = CODES[self.status]
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": self.reason,
                "domain": DOMAIN,
                "metadata": dict(self.metadata),
            }
        ]
        if self.field is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {"field": self.field, "description": self.message, "reason": self.reason}
                    ],
                }
            )
        return {"code": code, "message": self.message, "details": details}

    def response(self) -> Response:
        _, http = CODES[self.status]
        headers = dict(self.headers)
        if self.status == "UNAUTHENTICATED":
            headers["WWW-Authenticate"] = 'Bearer realm="modelyard"'
        if self.status in ("ALREADY_EXISTS", "INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED"):
            # Retrying cannot help: tell the official SDK (which retries 409 by default) not to.
            headers["x-should-retry"] = "false"
        return Response(
            orjson.dumps(self.body()),
            status_code=self.http_status or http,
            media_type="application/json",
            headers=headers,
        )


def invalid(message: str, *, field: str, reason: str = "INVALID_ARGUMENT", **metadata: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message, reason=reason, field=field, metadata=metadata)


def as_api_error(exc: BaseException) -> ApiError | None:
    """The google.rpc error for an exception the API knows how to report, else None."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AipError):
        return ApiError(
            "INVALID_ARGUMENT", str(exc), reason=exc.reason, field=exc.parameter, metadata=exc.metadata
        )
    if isinstance(exc, SchemaMissing):
        return ApiError(
            "UNAVAILABLE",
            "the database has no modelyard schema (recreated or never migrated); run the migrations "
            "(any modelyard command does, e.g. 'modelyard keys create')",
            reason="SCHEMA_NOT_CURRENT",
        )
    if isinstance(exc, Unavailable):
        return ApiError(
            "UNAVAILABLE", "the database does not answer; retry later", reason="DATABASE_UNAVAILABLE"
        )
    if isinstance(exc, ResourceError):
        return ApiError("INVALID_ARGUMENT", str(exc), reason="INVALID_MODEL", field=exc.field or "body")
    return None


def internal_error() -> ApiError:
    return ApiError("INTERNAL", "internal error; the server log has the details")
