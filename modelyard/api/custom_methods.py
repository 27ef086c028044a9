"""Custom methods (AIP-136), ``{resource or collection}:{verb}``, dispatched from one table.

Each target (a path template such as ``/v1/accounts/{account_id}/models/{model_id}``) has a
:class:`CustomMethods` table of verbs. :meth:`CustomMethods.install` adds one route,
``{target}:{verb}``, for every HTTP method, in front of the target's own routes (so an id with a ``:``
never reaches them). A request is answered, in this order:

* the target's path parameters are checked (``check``: a bad account or model id is 400 INVALID_ARGUMENT
  naming the rule, whatever the verb);
* an unknown verb is 400 INVALID_ARGUMENT (reason ``UNKNOWN_CUSTOM_METHOD``) listing the known ones;
* a known verb with the wrong HTTP method is 405 with an ``Allow`` header (``HEAD`` goes with ``GET``);
* a verb declared without a handler is 501 UNIMPLEMENTED with ``x-should-retry: false`` (the SDK does
  not retry it);
* otherwise the handler answers: ``await handler(request, **path_params)``.

A feature adds its verb with ``MODEL_METHODS.add("getUploadEndpoint", "POST", handler)`` (replacing the
declared-but-unimplemented entry), from its own module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api.errors import ApiError, invalid

Handler = Callable[..., Awaitable[Response]]
PathCheck = Callable[[dict[str, str]], None]

#: Every method the route accepts (the dispatcher answers the wrong ones with 405).
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class CustomMethod:
    verb: str
    http_method: str
    #: None: declared (the SDK calls it) but not implemented: 501 UNIMPLEMENTED.
    handler: Handler | None = None
    #: Why it is not implemented (the 501 message), for verbs without a handler.
    note: str = ""

    @property
    def allow(self) -> str:
        return "GET, HEAD" if self.http_method == "GET" else self.http_method

    def accepts(self, http_method: str) -> bool:
        return http_method == self.http_method or (http_method == "HEAD" and self.http_method == "GET")


class CustomMethods:
    """The custom methods of one target path template."""

    def __init__(self, target: str, check: PathCheck | None = None) -> None:
        self.target = target
        self.path = target + ":{verb}"
        self.check = check
        self.methods: dict[str, CustomMethod] = {}

    def add(self, verb: str, http_method: str, handler: Handler | None = None, *, note: str = "") -> None:
        """Declare ``verb`` (``handler`` None: 501 UNIMPLEMENTED). A declared verb without a handler may
        be replaced by one with a handler; anything else given twice is a programming error."""
        known = self.methods.get(verb)
        if known is not None and (known.handler is not None or handler is None):
            raise ValueError(f"custom method {self.target}:{verb} is already declared")
        self.methods[verb] = CustomMethod(verb, http_method.upper(), handler, note)

    def install(self, router: APIRouter) -> None:
        """Add the ``{target}:{verb}`` route (before the target's own routes: call this first)."""
        router.add_api_route(self.path, self.dispatch, methods=HTTP_METHODS, include_in_schema=False)

    async def dispatch(self, request: Request) -> Response:
        params = {k: str(v) for k, v in request.path_params.items()}
        verb = params.pop("verb")
        if self.check is not None:
            self.check(params)
        method = self.methods.get(verb)
        where = request.url.path
        if method is None:
            known = ", ".join(f":{v}" for v in sorted(self.methods)) or "none"
            raise invalid(
                f"unknown custom method {':' + verb!r} in {where} (known here: {known})",
                field="verb",
                reason="UNKNOWN_CUSTOM_METHOD",
                verb=verb,
            )
        if not method.accepts(request.method):
            raise ApiError(
                "UNIMPLEMENTED",
                f"method {request.method} is not allowed on {where}; use {method.http_method}",
                reason="METHOD_NOT_ALLOWED",
                http_status=405,
                headers={"Allow": method.allow},
            )
        if method.handler is None:
            raise ApiError(
                "UNIMPLEMENTED",
                f"the custom method :{verb} is not implemented by modelyard"
                + (f" ({method.note})" if method.note else ""),
                reason="CUSTOM_METHOD_UNIMPLEMENTED",
                metadata={"verb": verb},
                headers={"x-should-retry": "false"},
            )
        return await method.handler(request, **params)
