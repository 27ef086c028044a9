"""HTTP edges the router decides: ``HEAD`` on ``GET`` routes, 405 with ``Allow``, no slash redirects.

* Every route that answers ``GET`` answers ``HEAD`` (:class:`HeadAsGet`: same status and headers, no body).
* A method a path does not support is 405 (google.rpc UNIMPLEMENTED, reason ``METHOD_NOT_ALLOWED``) with
  an ``Allow`` header listing every method of every route on that path.
* A path with a trailing slash is not redirected (Starlette would answer 307 to whatever ``Host`` the
  client sent): it is 404 NOT_FOUND like any unknown path, naming the path without the slash.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.api.errors import ApiError

#: The order methods are listed in ``Allow``.
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _answers(routes: list[BaseRoute], scope: Scope, method: str) -> bool:
    probe = {**scope, "method": method}
    return any(route.matches(probe)[0] is Match.FULL for route in routes)


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route answers on the request's path (``HEAD`` wherever ``GET`` is)."""
    allowed = [m for m in _ORDER if m != "HEAD" and _answers(routes, scope, m)]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed


class HeadAsGet:
    """``HEAD`` on a path with a ``GET`` route (and no ``HEAD`` route of its own) is served by that
    route, without the body (``Content-Length`` stays the ``GET``'s)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "HEAD"
            or _answers(self.routes, scope, "HEAD")
            or not _answers(self.routes, scope, "GET")
        ):
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        inner: dict[str, Any] = {**scope, "method": "GET"}
        # A file response would hand the server its path to send (the server sees HEAD and sends no
        # body, but the bytes counted and logged would be a GET's): no zero-copy for a HEAD.
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        inner["extensions"] = extensions
        try:
            await self.app(inner, receive, send_without_body)
        finally:
            if "route" in inner:  # for the metrics and the access log
                scope.setdefault("route", inner["route"])


def method_not_allowed(app: FastAPI, request: Request) -> ApiError:
    allow = allowed_methods(app.router.routes, request.scope)
    return ApiError(
        "UNIMPLEMENTED",
        f"method {request.method} is not allowed on {request.url.path}; allowed: {', '.join(allow)}",
        reason="METHOD_NOT_ALLOWED",
        http_status=405,
        headers={"Allow": ", ".join(allow)},
    )


def no_such_endpoint(request: Request) -> ApiError:
    path = request.url.path
    hint = ""
    if len(path) > 1 and path.endswith("/"):
        hint = f" (paths take no trailing slash: {path.rstrip('/') or '/'})"
    return ApiError(
        "NOT_FOUND", f"no such endpoint: {request.method} {path}{hint}", reason="NO_SUCH_ENDPOINT"
    )
