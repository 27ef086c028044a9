"""The registry's refusals, free of any web framework: one error type every layer raises and every door
renders in its own convention.

A :class:`RegistryError` carries a google.rpc code name (``NOT_FOUND``, ``PERMISSION_DENIED``, ...), a
message for people, an ErrorInfo ``reason`` for programs, the request ``field`` at fault (if any),
``metadata`` and extra response ``headers`` (``Retry-After``). :data:`CODES` maps a code name to its gRPC
number and HTTP status (the standard gRPC-to-HTTP mapping); :attr:`RegistryError.http` is the status a
door answers with.

:func:`known_error` is the one place where the other errors the registry knows how to report become a
``RegistryError``: the query language's (``AipError``), a resource's (``ResourceError``), the store's
(``Unavailable``, ``SchemaMissing``: 503 on every door) and storage's (``StorageError``). Doors render
``known_error(exc)`` (the store's NotFound, AlreadyExists and Refused too: routes never catch and re-wrap
them); anything it returns None for is an internal error (500, logged with its traceback).

The Fireworks door renders google.rpc JSON (``modelyard.api.errors``); the model-file lifecycle raises
``FileError`` (``modelyard.files.errors``), a ``RegistryError`` too.
"""

from __future__ import annotations

from typing import Any

from modelyard.aip.errors import AipError
from modelyard.resources.codec import ResourceError
from modelyard.storage.base import StorageError
from modelyard.store.errors import AlreadyExists, NotFound, Refused, SchemaMissing, Unavailable

#: The ErrorInfo domain of every refusal.
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


class RegistryError(Exception):
    """A refusal: ``status`` is a google.rpc code name (a key of :data:`CODES`); ``http_status``
    overrides the HTTP status of the code (413 for a body over the limit)."""

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
        if status not in CODES:
            raise ValueError(f"unknown status {status!r}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or status
        self.field = field
        self.metadata = dict(metadata or {})
        self.http_status = http_status
        self.headers = dict(headers or {})

    @property
    def code(self) -> int:
        """The gRPC code number."""
        return CODES[self.status][0]

    @property
    def http(self) -> int:
        """The HTTP status a door answers with."""
        return self.http_status or CODES[self.status][1]

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (doors tell SDKs that retry by default)."""
        return self.status not in ("ALREADY_EXISTS", "INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED")


def rpc_body(error: RegistryError) -> dict[str, Any]:
    """``error`` as google.rpc JSON (grpc-gateway's shape): ``{"code", "message", "details"}`` with one
    ``ErrorInfo`` and, when a field is at fault, a ``BadRequest`` field violation."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": error.reason,
            "domain": DOMAIN,
            "metadata": dict(error.metadata),
        }
    ]
    if error.field is not None:
        violation = {"field": error.field, "description": error.message, "reason": error.reason}
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]})
    return {"code": error.code, "message": error.message, "details": details}


def invalid(message: str, *, field: str, reason: str = "INVALID_ARGUMENT", **metadata: str) -> RegistryError:
    return RegistryError("INVALID_ARGUMENT", message, reason=reason, field=field, metadata=metadata)


def not_found(what: str, name: str, *, reason: str | None = None) -> RegistryError:
    """NOT_FOUND for ``what`` (``model``, ``user``, ``API key``) named ``name``."""
    return RegistryError(
        "NOT_FOUND",
        f"{what} {name} not found",
        reason=reason or f"{what.upper().replace(' ', '_')}_NOT_FOUND",
        metadata={"name": name},
    )


def too_large(limit: int, size: int | None) -> RegistryError:
    """413: a request body over ``limit`` bytes (``Settings.max_body_bytes``)."""
    got = f" ({size:,} bytes)" if size is not None else ""
    return RegistryError(
        "INVALID_ARGUMENT",
        f"body: the request body is larger than the limit of {limit:,} bytes{got}",
        reason="REQUEST_TOO_LARGE",
        field="body",
        metadata={"limit": str(limit)},
        http_status=413,
    )


def internal_error() -> RegistryError:
    return RegistryError("INTERNAL", "internal error; the server log has the details")


def known_error(exc: BaseException) -> RegistryError | None:
    """The refusal for an exception the registry knows how to report, else None (an internal error)."""
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, AipError):
        return RegistryError(
            "INVALID_ARGUMENT", str(exc), reason=exc.reason, field=exc.parameter, metadata=exc.metadata
        )
    if isinstance(exc, SchemaMissing):
        return RegistryError(
            "UNAVAILABLE",
            "the database has no modelyard schema (recreated or never migrated); run the migrations "
            "(any modelyard command does, e.g. 'modelyard keys create')",
            reason="SCHEMA_NOT_CURRENT",
        )
    if isinstance(exc, Unavailable):
        return RegistryError(
            "UNAVAILABLE", "the database does not answer; retry later", reason="DATABASE_UNAVAILABLE"
        )
    if isinstance(exc, NotFound):
        return not_found(_kind(exc.name), exc.name)
    if isinstance(exc, AlreadyExists):
        kind = _kind(exc.name)
        return RegistryError(
            "ALREADY_EXISTS",
            f"{kind} {exc.name} already exists",
            reason=f"{kind.upper().replace(' ', '_')}_ALREADY_EXISTS",
            metadata={"name": exc.name},
        )
    if isinstance(exc, Refused):
        return RegistryError("FAILED_PRECONDITION", exc.message, reason=exc.reason)
    if isinstance(exc, ResourceError):
        return RegistryError("INVALID_ARGUMENT", str(exc), reason="INVALID_MODEL", field=exc.field or "body")
    if isinstance(exc, StorageError):
        return RegistryError("UNAVAILABLE", f"the model storage failed: {exc}", reason="STORAGE_UNAVAILABLE")
    return None


_KINDS = {"accounts": "account", "models": "model", "users": "user", "apiKeys": "API key"}


def _kind(name: str) -> str:
    """What a resource name names: ``accounts/a/users/u`` -> ``user``."""
    parts = name.split("/")
    return _KINDS.get(parts[-2], "resource") if len(parts) >= 2 else "resource"


#: Exception types :func:`known_error` reports (for doors that register a handler per type).
KNOWN_TYPES: tuple[type[Exception], ...] = (
    RegistryError, AipError, ResourceError, Unavailable, StorageError, NotFound, AlreadyExists, Refused,
)  # fmt: skip
