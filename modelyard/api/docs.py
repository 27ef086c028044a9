"""``GET /openapi.json`` and ``GET /docs`` (Swagger UI from the swagger-ui-bundle package, so /docs works
offline; its assets are mounted at ``/docs/static`` by :func:`install_docs`)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from modelyard.api.openapi import openapi_document
from modelyard.api.openapi_identity import add_identity

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
def openapi() -> Response:
    return Response(orjson.dumps(add_identity(openapi_document())), media_type="application/json")


@router.get("/docs", include_in_schema=False)
def docs() -> Any:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="modelyard API",
        swagger_js_url="/docs/static/swagger-ui-bundle.js",
        swagger_css_url="/docs/static/swagger-ui.css",
        swagger_favicon_url="/docs/static/favicon-32x32.png",
    )


def install_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
