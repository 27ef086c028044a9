"""The catalog web page: a static page that browses List Models with the caller's API key."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, RedirectResponse, Response

STATIC = Path(__file__).with_name("static")


def install_web(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/catalog", status_code=307)

    @app.get("/catalog", include_in_schema=False)
    def catalog() -> Response:
        return FileResponse(STATIC / "catalog.html", media_type="text/html; charset=utf-8")
