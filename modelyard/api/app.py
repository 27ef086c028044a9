"""The FastAPI application."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from modelyard import __version__
from modelyard.aip.errors import AipError
from modelyard.aip.pagetoken import PageTokenCodec
from modelyard.api import models as models_routes
from modelyard.api.errors import ApiError, as_api_error, internal_error
from modelyard.api.fastpath import ListFastPath
from modelyard.api.files import file_service, install_files, periodic_sweep
from modelyard.api.observability import install_observability
from modelyard.api.openapi import openapi_document
from modelyard.resources.codec import ResourceError
from modelyard.storage import Storage, open_storage, storage_url
from modelyard.store.engine import default_database_url, make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import UNAVAILABLE_ERRORS, Store
from modelyard.web import install_web

log = logging.getLogger("modelyard")


def create_app(store: Store, *, migrate: bool = True, storage: Storage | None = None) -> FastAPI:
    if migrate:
        upgrade(store.engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with periodic_sweep(app.state.files):
            yield
        await store.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="modelyard",
        version=__version__,
        description="A self-hostable model registry, wire-compatible with the Fireworks Gateway REST API.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.token_codec = PageTokenCodec(store.secret("page_token_key"))
    install_files(app, file_service(store, storage))  # before the models router (``{id}:verb`` routes)
    app.include_router(models_routes.router)
    _install_error_handlers(app)
    _install_meta_routes(app)
    install_web(app)
    # List is served in front of the router (inside the observability middleware, see api/fastpath.py).
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: ListFastPath(build_stack())  # type: ignore[method-assign]
    install_observability(app)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used with several workers): the database comes from
    ``MODELYARD_DB``."""
    store = Store(make_engine(os.environ.get("MODELYARD_DB") or default_database_url()))
    return create_app(store, storage=open_storage(storage_url(None, str(store.engine.url))))


def _install_error_handlers(app: FastAPI) -> None:
    async def _known_error(request: Request, exc: Exception) -> Response:
        error = as_api_error(exc)
        assert error is not None
        if error.status == "UNAVAILABLE":  # the database does not answer: logged without a traceback
            detail = (str(exc) or type(exc).__name__).splitlines()[0]
            log.warning("%s %s: %s", request.method, request.url.path, detail)
        return error.response()

    # Handled by Starlette's ExceptionMiddleware, not by the catch-all below, which re-raises after
    # answering (uvicorn then drops the kept-alive connection).
    for known in (ApiError, AipError, ResourceError, *UNAVAILABLE_ERRORS):
        app.add_exception_handler(known, _known_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": ["body"], "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ["body"]))
        return ApiError("INVALID_ARGUMENT", f"{field}: {first.get('msg')}", field=field).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return ApiError(
                "NOT_FOUND",
                f"no such endpoint: {request.method} {request.url.path}",
                reason="NO_SUCH_ENDPOINT",
            ).response()
        if exc.status_code == 405:
            return ApiError(
                "UNIMPLEMENTED",
                f"method {request.method} is not supported on {request.url.path}",
                reason="METHOD_NOT_ALLOWED",
                http_status=405,
            ).response()
        return ApiError("UNKNOWN", str(exc.detail), http_status=exc.status_code).response()

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return internal_error().response()


def _install_meta_routes(app: FastAPI) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> Response:
        try:
            request.app.state.store.ping()
        except Exception as e:  # the database does not answer
            log.warning("health check failed: %s", e)
            return ApiError(
                "UNAVAILABLE", "the database does not answer", reason="DATABASE_UNAVAILABLE"
            ).response()
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response:
        import orjson

        return Response(orjson.dumps(openapi_document()), media_type="application/json")

    # Swagger UI from the swagger-ui-bundle package: /docs works offline.
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="modelyard API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )
