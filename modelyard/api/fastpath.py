"""List Models served straight from ASGI, in front of FastAPI's router.

List is the request a catalog serves most, and at a few hundred microseconds of work per page FastAPI's
routing, dependency solving and exception middleware were a third of the worker's CPU (py-spy, 1M models).
``GET /v1/accounts/{account_id}/models`` is therefore matched here and handed to the same endpoint
function the router has (``modelyard.api.models.list_models``); every other request, and ``HEAD``, goes
through FastAPI as before. Errors are rendered by the same function as the application's handlers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.api.errors import render
from modelyard.api.models import LIST_PATH, list_models
from modelyard.errors import internal_error, known_error

log = logging.getLogger("modelyard")

_LIST = re.compile(r"/v1/accounts/([^/]+)/models")


@dataclass(frozen=True)
class _Route:
    """What ``scope["route"]`` holds for the metrics and the access log (as a Starlette route would)."""

    path: str


_ROUTE = _Route(LIST_PATH)


class ListFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        match = _LIST.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE
        scope["path_params"] = {"account_id": match.group(1)}
        request = Request(scope, receive)
        try:
            response = await list_models(match.group(1), request)
        except Exception as exc:
            error = known_error(exc)
            if error is None:
                log.exception("internal error on GET %s", scope["path"])
                error = internal_error()
            response = render(error)
        await response(scope, receive, send)
