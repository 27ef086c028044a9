"""``GET /openapi.json`` and ``GET /docs`` (Swagger UI from the swagger-ui-bundle package, so /docs works
offline; its assets are mounted at ``/docs/static`` by :func:`install_docs`).

``/docs`` is sent with a Content-Security-Policy (:func:`docs_page`): scripts only from this server plus
the page's one inline script by its SHA-256, requests only to this server, no plugins, frames or base
URL changes; it can run Swagger UI and nothing injected into it."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from modelyard.api.openapi import openapi_document
from modelyard.api.openapi_identity import add_identity

router = APIRouter()


@cache
def _document_bytes() -> bytes:
    """The whole document, built once (``openapi_document()`` is cached and ``add_identity`` adds to it,
    so it must run once only)."""
    return orjson.dumps(add_identity(openapi_document()))


@router.get("/openapi.json", include_in_schema=False)
def openapi() -> Response:
    return Response(_document_bytes(), media_type="application/json")


_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


@cache
def docs_page() -> tuple[bytes, str]:
    """The Swagger UI page and its Content-Security-Policy (the inline script allowed by its hash)."""
    page = bytes(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="modelyard API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        ).body
    )
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode("ascii") + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'; object-src 'none'"
    )
    return page, policy


@router.get("/docs", include_in_schema=False)
def docs() -> Any:
    page, policy = docs_page()
    return HTMLResponse(page, headers={"Content-Security-Policy": policy, "X-Frame-Options": "DENY"})


def install_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
