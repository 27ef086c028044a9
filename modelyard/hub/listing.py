"""``GET /api/models``: huggingface_hub's ``list_models`` over the registry's List engine (the same scope,
global search, ordering and keyset paging as ``GET /v1/accounts/-/models``).

``author=ACCOUNT`` lists that account's models the caller can read (all of them for its own account,
public ones otherwise); without it every model the caller can read (public ones for anonymous callers).
``search=`` is global search (a case-insensitive substring of the id, display name or description).
``sort=`` ``lastModified``/``last_modified``, ``createdAt``/``created_at`` (newest first, as on the Hub,
unless ``direction=1``) or ``id`` (other Hub sorts, such as ``downloads``, fall back to ``id``);
``limit=`` the page size (at most 1,000); the next page is named by a ``Link: <...>; rel="next"``
header (an authenticated page token bound to the caller, the search and the order). ``full=true``
adds ``siblings`` and ``sha`` (the ``main`` revision), ``cardData=true`` the model card.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard.aip import filtering
from modelyard.aip.errors import AipError
from modelyard.aip.ordering import parse_order_by
from modelyard.aip.pagetoken import ListCursor, PageTokenCodec
from modelyard.hub.errors import HubError
from modelyard.hub.identity import caller
from modelyard.hub.names import repo_ids
from modelyard.hub.repos import Repo, card, files_of, hub_route, iso, json_response, sibling, store_of
from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA
from modelyard.store.planner import Scope
from modelyard.store.revisions import MAIN, Revision, RevisionNotFound, TreeEntry

MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000
_SORTS = {
    "lastmodified": "update_time",
    "last_modified": "update_time",
    "createdat": "create_time",
    "created_at": "create_time",
    "id": "name",
}


def _search_filter(search: str) -> str:
    """A global-search filter matching ``search`` as one quoted phrase."""
    if not search.strip():
        return ""
    escaped = search.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise HubError(400, f"limit: {raw!r} is not an integer") from None
    if value < 1:
        raise HubError(400, "limit: must be at least 1")
    return min(value, MAX_LIMIT)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


@hub_route
async def list_models(request: Request) -> Response:
    who = await caller(request)
    if not who.may_download():
        raise HubError(403, "this key cannot read models")
    author = request.query_params.get("author")
    target = repo_ids(author, "x")[0] if author else "-"  # 400 for what no account id can be
    search = request.query_params.get("search", "")
    sort_key = request.query_params.get("sort", "id")
    column = _SORTS.get(sort_key.lower(), "name")
    direction = request.query_params.get("direction", "")
    # The Hub sorts newest (largest) first unless told otherwise (huggingface_hub 1.x sends no direction).
    descending = direction == "-1" or (not direction and column != "name")
    order_text = f"{column} {'desc' if descending else 'asc'}"
    filter_text = _search_filter(search)
    limit = _limit(request.query_params.get("limit"))
    codec: PageTokenCodec = request.app.state.token_codec
    name_field = MODEL.field("name")
    assert name_field is not None
    try:
        checked = filtering.compile_filter(filter_text, MODEL_FILTER_SCHEMA)
        order = parse_order_by(order_text, MODEL).with_tiebreaker(name_field)
        cursor = ListCursor(target, who.reader, filter_text, order.canonical, len(order.fields))
        after = cursor.position(codec, request.query_params.get("cursor", ""))
    except AipError as e:
        raise HubError(400, str(e)) from None
    page = await store_of(request).alist_models(
        Scope(caller=who.reader, target=target), checked, order, after=after, limit=limit
    )
    full, with_card = _flag(request, "full"), _flag(request, "cardData")
    items = [await _item(request, who, orjson.loads(raw), full, with_card) for raw in page.resources]
    headers = None
    if page.last_key is not None and page.resources:
        token = cursor.next_token(codec, page.last_key)
        headers = {"Link": f'<{request.url.include_query_params(cursor=token)}>; rel="next"'}
    return json_response(items, headers)


async def _item(
    request: Request, who: Any, model: dict[str, Any], full: bool, with_card: bool
) -> dict[str, Any]:
    _, account_id, _, model_id = str(model["name"]).split("/")
    public = bool(model.get("public", False))
    out: dict[str, Any] = {
        "_id": f"{account_id}/{model_id}",
        "id": f"{account_id}/{model_id}",
        "modelId": f"{account_id}/{model_id}",
        "author": account_id,
        "private": not public,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "createdAt": model.get("createTime"),
        "lastModified": model.get("updateTime"),
    }
    if not (full or with_card):
        return out
    repo = Repo(account_id, model_id, model, public, who)
    files = files_of(request)

    def main() -> tuple[Revision, list[TreeEntry]] | None:
        try:
            head = files.revisions.resolve(account_id, model_id, MAIN)
        except RevisionNotFound:
            return None
        return head, files.revisions.tree(head.commit_id)

    found = await anyio.to_thread.run_sync(main)
    if found is None:
        return out
    head, entries = found
    if full:
        out["sha"] = head.commit_id
        out["lastModified"] = iso(head.create_time)
        out["siblings"] = [sibling(e, blobs=False) for e in entries]
    if with_card:
        card_data = await card(request, repo, entries)
        if card_data is not None:
            out["cardData"] = card_data
    return out
