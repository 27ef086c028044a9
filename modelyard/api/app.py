"""The FastAPI application: ``create_app(store, settings=...)`` composes the routers and the ASGI layers.

Routers, one module per resource or concern: ``api/models.py`` (the Models resource), the identity
resources (``api/accounts.py``, ``api/users.py``, ``api/apikeys.py``, ``api/auditlogs.py``), ``api/health.py``
(``/healthz``, ``/readyz``), ``api/metrics.py`` (``/metrics``), ``api/docs.py`` (``/openapi.json``,
``/docs``) and the web pages (``modelyard.web``). The layers around Starlette's own middleware stack, from
the outside in: :class:`~modelyard.api.observability.ObservabilityMiddleware` (request id, metrics,
access log; outside ``ServerErrorMiddleware`` so its 500s are counted and carry a request id), then
:class:`~modelyard.api.auditing.IdentityMiddleware` (audit entries of writes, the bad-key delay), then
:class:`~modelyard.api.fastpath.ListFastPath` (List Models without FastAPI's routing), then Starlette's
stack (``ServerErrorMiddleware``, ``ExceptionMiddleware``, the router).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp

from modelyard import __version__, hub
from modelyard.access import Limits
from modelyard.aip.pagetoken import PageTokenCodec
from modelyard.api import accounts as accounts_routes
from modelyard.api import apikeys as apikeys_routes
from modelyard.api import auditlogs as auditlogs_routes
from modelyard.api import health, metrics
from modelyard.api import models as models_routes
from modelyard.api import users as users_routes
from modelyard.api.auditing import IdentityMiddleware, add_audited_door
from modelyard.api.docs import install_docs
from modelyard.api.errors import render
from modelyard.api.fastpath import ListFastPath
from modelyard.api.files import file_service, install_files, periodic_sweep
from modelyard.api.http_edges import HeadAsGet, method_not_allowed, no_such_endpoint
from modelyard.api.observability import Observability, ObservabilityMiddleware
from modelyard.api.prepare import prepare_jobs
from modelyard.api.ratelimit import BadKeyThrottle, RateLimit, TokenBuckets
from modelyard.errors import KNOWN_TYPES, RegistryError, internal_error, known_error
from modelyard.files import sandbox
from modelyard.hub.upload_routes import install_uploads
from modelyard.hub.write_support import audit_context as hub_audit_context
from modelyard.oci.app import install_oci
from modelyard.prepare.service import PrepareService
from modelyard.settings import Settings
from modelyard.storage import Storage
from modelyard.store.repository import Store
from modelyard.web import install_web

log = logging.getLogger("modelyard")


class ModelyardApp(FastAPI):
    """FastAPI with modelyard's outer ASGI layers (see the module doc) around Starlette's stack."""

    observability: Observability
    store: Store

    def build_middleware_stack(self) -> ASGIApp:
        stack = HeadAsGet(ListFastPath(super().build_middleware_stack()), self.router.routes)
        return ObservabilityMiddleware(IdentityMiddleware(stack, self.store), self.observability)


def create_app(
    store: Store, *, settings: Settings | None = None, migrate: bool = True, storage: Storage | None = None
) -> FastAPI:
    """The app serving ``store``; ``settings`` default to ``Settings()`` (nothing read from the
    environment here: the caller builds them, e.g. with ``Settings.from_env``). Model files go to
    ``storage``, else to the storage the settings name."""
    settings = settings or Settings()
    if migrate:
        store.upgrade()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with periodic_sweep(app.state.files, settings.gc_interval), prepare_jobs(app, store, settings):
            yield
        await anyio.to_thread.run_sync(sandbox.shutdown)  # validation's checking process, if started
        await store.aclose()

    app = ModelyardApp(
        lifespan=lifespan,
        title="modelyard",
        version=__version__,
        description="A self-hostable model registry, wire-compatible with the Fireworks Gateway REST API.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.router.redirect_slashes = False  # never redirect to the client's Host (api/http_edges.py)
    app.state.settings = settings
    app.state.store = store
    app.state.token_codec = PageTokenCodec(store.secret("page_token_key"))
    app.observability = app.state.observability = Observability(
        store, access_log=settings.access_log, drain_seconds=settings.drain_seconds, settings=settings
    )
    # Before the models router (its ``{model_id}`` would take ``id:verb``).
    install_files(app, file_service(store, storage, settings))
    install_uploads(app, app.state.files, store, settings)  # the Hub door's writes, before its mount
    add_audited_door(hub_audit_context)  # Hub writes get audit entries like the API's
    app.mount("/hf", hub.routes())  # the Hugging Face Hub protocol (modelyard.hub)
    app.state.prepare = PrepareService(store)
    app.include_router(models_routes.router)
    for identity_router in (accounts_routes, users_routes, apikeys_routes, auditlogs_routes):
        app.include_router(identity_router.router)
    limit = RateLimit.parse(settings.rate_limit)
    #: The abuse limits every door authenticates under (``modelyard.access.authenticate``).
    app.state.access_limits = Limits(
        rate_limits=TokenBuckets(limit) if limit is not None else None, bad_keys=BadKeyThrottle()
    )
    app.store = store
    install_oci(app)  # the OCI Distribution door at /v2 (modelyard/oci)
    _install_error_handlers(app)
    app.include_router(health.router)
    install_docs(app)
    install_web(app, anonymous=settings.catalog_anonymous)
    app.include_router(metrics.router)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """The door's one error boundary: every refusal the registry knows (``modelyard.errors.known_error``:
    RegistryError, and the store's, the query language's, storage's errors) rendered as google.rpc JSON."""

    async def _known_error(request: Request, exc: Exception) -> Response:
        error = known_error(exc)
        assert error is not None
        if error.status == "UNAVAILABLE":  # the database or storage does not answer: no traceback
            detail = (str(exc) or type(exc).__name__).splitlines()[0]
            log.warning("%s %s: %s", request.method, request.url.path, detail)
        return render(error)

    # Handled by Starlette's ExceptionMiddleware, not by the catch-all below, which re-raises after
    # answering (uvicorn then drops the kept-alive connection).
    for known in KNOWN_TYPES:
        app.add_exception_handler(known, _known_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": ["body"], "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ["body"]))
        return render(RegistryError("INVALID_ARGUMENT", f"{field}: {first.get('msg')}", field=field))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return no_such_endpoint(request).response()
        if exc.status_code == 405:
            return method_not_allowed(app, request).response()
        return render(RegistryError("UNKNOWN", str(exc.detail), http_status=exc.status_code))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return render(internal_error())
