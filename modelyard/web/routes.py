"""The catalog's HTTP routes: server-rendered HTML (Jinja2) from the store, plus its CSS and JavaScript.

Pages work without JavaScript for public models. Callers are authenticated as on the API
(``modelyard.doorway`` -> ``modelyard.access``: rate limit, bad-key delay, roles), visitors without a
key are the anonymous principal where the catalog allows them, and every page reads with the caller as
the reader in SQL (the visibility rule). A key entered on the page stays in the browser's session
storage; the page's script sends it as an ``Authorization`` header when it fetches a catalog page and
swaps the result in, so a key never appears in a URL. Responses carry a strict Content Security Policy
(scripts and styles from modelyard only, none inline), so text from a model can never run.

The model page also shows what ``modelyard.web.modelcard`` reads of the model's revisions: its card
(``README.md`` of ``main`` as sanitised Markdown), the log of ``main`` (``?after=COMMIT`` pages it), the
refs, the prepared precisions with their sizes, and Hugging Face snippets for each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from modelyard.access import Action, InvalidKey, Principal, RateLimited, require
from modelyard.aip.pagetoken import PageTokenCodec
from modelyard.doorway import authenticate
from modelyard.errors import RegistryError
from modelyard.files.service import FileService
from modelyard.resources.codec import ResourceError, check_id
from modelyard.store.facets import FacetCounter
from modelyard.store.repository import Store
from modelyard.store.revisions import RevisionNotFound
from modelyard.web import modelcard, present
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


def install_web(app: FastAPI, *, anonymous: bool = True) -> None:
    """Mount the catalog on ``app``; ``anonymous`` lets visitors without a key browse public models."""
    app.state.catalog_anonymous = anonymous
    app.state.facet_counter = FacetCounter(app.state.store)
    app.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="catalog-static")
    app.include_router(router)


def _render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(static=STATIC_PREFIX, **context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


async def _gate(request: Request) -> Principal | Response:
    """The caller (the anonymous principal without a key, where anonymous browsing is on), or the page
    to answer instead: a rejected key, no key where anonymous browsing is off, a rate-limited key, a
    database that does not answer."""
    anonymous: bool = request.app.state.catalog_anonymous
    try:
        principal = await authenticate(request, anonymous=anonymous)
        require(principal, Action.READ_MODELS, principal.account_id)
    except RegistryError as e:
        return _refusal(e)
    return principal


def _refusal(error: RegistryError) -> HTMLResponse:
    if isinstance(error, InvalidKey) or error.reason == "INVALID_API_KEY":
        return _render(
            "message.html", 401, title="API key not accepted", caller=None,
            message="The API key is not valid. Enter another key, or forget it to browse public models.",
        )  # fmt: skip
    if error.status == "UNAUTHENTICATED":
        return _render(
            "message.html", 401, title="API key required", caller=None, key_required=True,
            message="This catalog is only open to API key holders: enter your key to browse it.",
        )  # fmt: skip
    page = _render("message.html", error.http, title=_TITLES.get(error.status, "Not allowed"), caller=None,
                   message=error.message)  # fmt: skip
    if isinstance(error, RateLimited):
        page.headers["Retry-After"] = str(error.retry_after)
    return page


_TITLES = {"RESOURCE_EXHAUSTED": "Too many requests", "PERMISSION_DENIED": "Not allowed"}


def _account(principal: Principal | None) -> str | None:
    """The caller's account for the templates (None: an anonymous visitor)."""
    return None if principal is None or principal.anonymous else principal.account_id


@router.get("/")
def root() -> Response:
    return RedirectResponse("/catalog", status_code=307)


@router.get("/catalog")
async def catalog(request: Request) -> Response:
    principal = await _gate(request)
    if isinstance(principal, Response):
        return principal
    caller = _account(principal)
    query = CatalogQuery.from_params(request.query_params, request.query_params.multi_items())
    store: Store = request.app.state.store
    counter: FacetCounter = request.app.state.facet_counter
    codec: PageTokenCodec = request.app.state.token_codec
    view = await anyio.to_thread.run_sync(build_list, store, counter, codec, query, caller)
    status = 400 if view.problems else 200
    return _render("catalog.html", status, view=view, q=query, sorts=SORTS, caller=caller)


@router.get("/catalog/accounts/{account_id}/models/{model_id}")
async def model_page(account_id: str, model_id: str, request: Request) -> Response:
    principal = await _gate(request)
    if isinstance(principal, Response):
        return principal
    caller = _account(principal)
    name = f"accounts/{account_id}/models/{model_id}"
    try:
        check_id(account_id, "account id")
        check_id(model_id)
    except ResourceError as e:
        return _render("message.html", 404, title="Model not found", caller=caller, message=e.message)
    store: Store = request.app.state.store
    # The visibility rule in SQL: another account's private model is never read.
    found = await anyio.to_thread.run_sync(lambda: store.get_model(name, reader=principal.reader))
    if found is None:
        message = f"There is no model {name}" + (" that your key can read." if caller else " that is public.")
        return _render("message.html", 404, title="Model not found", caller=caller, message=message)
    model = found[0]
    base_url = str(request.base_url)
    service: FileService = request.app.state.files
    stored = await anyio.to_thread.run_sync(service.listing, account_id, model_id, base_url)
    files = present.files(model, stored)
    after = request.query_params.get("after") or None
    try:
        details = await anyio.to_thread.run_sync(modelcard.load, store, service, model, base_url, after)
    except RevisionNotFound:
        message = f"{name} has no revision {after!r} to continue its history from."
        return _render("message.html", 404, title="Revision not found", caller=caller, message=message)
    return _render(
        "model.html",
        model=model,
        card=present.card(model),
        facts=present.facts(model),
        snippets=present.snippets(model, base_url),
        files=files,
        details=details,
        caller=caller,
    )
