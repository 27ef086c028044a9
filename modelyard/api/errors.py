"""The Fireworks door's rendering of the registry's refusals: google.rpc errors in the grpc-gateway JSON
shape, ``{"code": <int>, "message": str, "details": [...]}``.

Every layer raises :class:`~modelyard.errors.RegistryError` (``modelyard/errors.py``: the code name, the
HTTP status mapping, ``known_error`` for the store's, the query language's and storage's errors); this
module only renders one. Every error carries exactly one ``google.rpc.ErrorInfo``; invalid arguments
also carry a ``google.rpc.BadRequest`` field violation (``modelyard.errors.rpc_body``, shared with the
HTTP server's answer to a request it cannot parse).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from modelyard.errors import CODES, DOMAIN, RegistryError, internal_error, invalid, rpc_body


class ApiError(RegistryError):
    """A RegistryError raised by the API's routes (any RegistryError renders the same)."""

    def body(self) -> dict[str, Any]:
        return rpc_body(self)

    def response(self) -> Response:
        return render(self)


def render(error: RegistryError) -> Response:
    """The google.rpc JSON response of ``error``."""
    headers = dict(error.headers)
    if error.status == "UNAUTHENTICATED":
        headers["WWW-Authenticate"] = 'Bearer realm="modelyard"'
    if not error.retryable:
        # Retrying cannot help: tell the official SDK (which retries 409 by default) not to.
        headers["x-should-retry"] = "false"
    return Response(
        orjson.dumps(rpc_body(error)), status_code=error.http, media_type="application/json", headers=headers
    )


__all__ = ["CODES", "DOMAIN", "ApiError", "internal_error", "invalid", "render"]
