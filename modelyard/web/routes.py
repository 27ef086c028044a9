"""The catalog's HTTP routes: server-rendered HTML (Jinja2) from the store, plus its CSS and JavaScript.

Pages work without JavaScript for public models. A key entered on the page stays in the browser's
session storage; the page's script sends it as an ``Authorization`` header when it fetches a catalog
page and swaps the result in, so a key never appears in a URL. Responses carry a strict Content Security
Policy (scripts and styles from modelyard only, none inline), so text from a model can never run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from modelyard.aip.pagetoken import PageTokenCodec
from modelyard.files.service import FileService
from modelyard.resources.codec import ResourceError, check_id
from modelyard.store.facets import FacetCounter
from modelyard.store.repository import Store
from modelyard.web import present
from modelyard.web.facets import SORTS
from modelyard.web.listing import build_list
from modelyard.web.query import CatalogQuery

HERE = Path(__file__).parent
STATIC_PREFIX = "/catalog/static"

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["thousands"] = lambda n: f"{int(n):,}"

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Vary": "Authorization, X-Api-Key",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


class KeyRejected(Exception):
    """The request carried an API key that is not valid."""


def install_web(app: FastAPI, *, anonymous: bool = True) -> None:
    """Mount the catalog on ``app``; ``anonymous`` lets visitors without a key browse public models."""
    app.state.catalog_anonymous = anonymous
    app.state.facet_counter = FacetCounter(app.state.store)
    app.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="catalog-static")
    app.include_router(router)


def _render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(static=STATIC_PREFIX, **context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _request_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


async def _caller(request: Request) -> str | None:
    """The account of the request's key, None without a key; KeyRejected for a key that is not valid."""
    key = _request_key(request)
    if key is None:
        return None
    store: Store = request.app.state.store
    account = store.cached_account(key)
    if account is None:
        account = await anyio.to_thread.run_sync(store.authenticate, key)
    if account is None:
        raise KeyRejected()
    return account


async def _gate(request: Request) -> tuple[str | None, HTMLResponse | None]:
    """The caller, or the page to answer instead (a rejected key; no key where anonymous browsing is off)."""
    try:
        caller = await _caller(request)
    except KeyRejected:
        return None, _render(
            "message.html", 401, title="API key not accepted", caller=None,
            message="The API key is not valid. Enter another key, or forget it to browse public models.",
        )  # fmt: skip
    if caller is None and not request.app.state.catalog_anonymous:
        return None, _render(
            "message.html", 401, title="API key required", caller=None, key_required=True,
            message="This catalog is only open to API key holders: enter your key to browse it.",
        )  # fmt: skip
    return caller, None


@router.get("/")
def root() -> Response:
    return RedirectResponse("/catalog", status_code=307)


@router.get("/catalog")
async def catalog(request: Request) -> Response:
    caller, refusal = await _gate(request)
    if refusal is not None:
        return refusal
    query = CatalogQuery.from_params(request.query_params, request.query_params.multi_items())
    store: Store = request.app.state.store
    counter: FacetCounter = request.app.state.facet_counter
    codec: PageTokenCodec = request.app.state.token_codec
    view = await anyio.to_thread.run_sync(build_list, store, counter, codec, query, caller)
    status = 400 if view.problems else 200
    return _render("catalog.html", status, view=view, q=query, sorts=SORTS, caller=caller)


@router.get("/catalog/accounts/{account_id}/models/{model_id}")
async def model_page(account_id: str, model_id: str, request: Request) -> Response:
    caller, refusal = await _gate(request)
    if refusal is not None:
        return refusal
    name = f"accounts/{account_id}/models/{model_id}"
    try:
        check_id(account_id, "account id")
        check_id(model_id)
    except ResourceError as e:
        return _render("message.html", 404, title="Model not found", caller=caller, message=e.message)
    store: Store = request.app.state.store
    found = await anyio.to_thread.run_sync(store.get_model, name)
    if found is None or (not found[1] and caller != account_id):
        message = f"There is no model {name}" + (" that your key can read." if caller else " that is public.")
        return _render("message.html", 404, title="Model not found", caller=caller, message=message)
    model = found[0]
    base_url = str(request.base_url)
    service: FileService = request.app.state.files
    stored = await anyio.to_thread.run_sync(service.listing, account_id, model_id, base_url)
    files = present.files(model, stored)
    return _render(
        "model.html",
        model=model,
        card=present.card(model),
        facts=present.facts(model),
        snippets=present.snippets(model, base_url),
        files=files,
        caller=caller,
    )
