"""The Models resource: List, Get, Create, Update (PATCH), Delete: thin routes over the store and the AIP
rules (filter, ordering, masks, page tokens in ``modelyard.aip``). Errors are raised, never rendered here:
the app's handlers (``api/errors.py``) map AIP, resource and database errors to google.rpc errors.

Blocking work (the store's synchronous calls, API key checks that miss the cache) runs through
``anyio.to_thread.run_sync``; List runs on the event loop (the store's async List).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.aip import filtering
from modelyard.aip.fieldmask import FieldMask, apply_read_mask, parse_field_mask
from modelyard.aip.ordering import OrderBy, parse_order_by
from modelyard.aip.pagetoken import ListCursor, PageTokenCodec
from modelyard.aip.updatemask import merge_update
from modelyard.api.auditing import note_resource
from modelyard.api.auth import (
    Action,
    authenticate,
    authenticate_sync,
    caller_account,
    check_account,
    request_store,
    require,
)
from modelyard.api.custom_methods import CustomMethods
from modelyard.api.errors import ApiError, invalid
from modelyard.api.params import (
    DEFAULT_PAGE_SIZE,
    JSON,
    MAX_PAGE_SIZE,
    json_response,
    page_size,
    query_param,
    read_body,
    receive_body,
)
from modelyard.resources.codec import ResourceError, check_id, decode_message, prune, validate_model
from modelyard.resources.model import (
    GET_ONLY_FIELDS,
    MODEL,
    MODEL_FILTER_SCHEMA,
    apply_default_kind,
    model_name,
)
from modelyard.store.errors import AlreadyExists, NotFound
from modelyard.store.planner import Scope

router = APIRouter()

_name_field = MODEL.field("name")
assert _name_field is not None
NAME_FIELD = _name_field
DEFAULT_ORDER = OrderBy(()).with_tiebreaker(NAME_FIELD)

LIST_PATH = "/v1/accounts/{account_id}/models"
MODEL_PATH = "/v1/accounts/{account_id}/models/{model_id}"


def _check_model_path(params: dict[str, str]) -> None:
    check_account(params["account_id"])
    _check_model_id(params["model_id"])


def _check_list_path(params: dict[str, str]) -> None:
    check_account(params["account_id"], allow_all=True)


#: ``.../models/{model_id}:verb``: the SDK's model methods. The model-files feature adds the handlers of
#: getUploadEndpoint, validateUpload and getDownloadEndpoint; prepare stays unimplemented.
MODEL_METHODS = CustomMethods(MODEL_PATH, _check_model_path)
MODEL_METHODS.add("prepare", "POST", note="modelyard serves models as uploaded, in one precision")
MODEL_METHODS.add("getUploadEndpoint", "POST", note="served by api/files.py, installed first")
MODEL_METHODS.add("validateUpload", "GET", note="served by api/files.py, installed first")
MODEL_METHODS.add("getDownloadEndpoint", "GET", note="served by api/files.py, installed first")
#: ``.../models:verb``: no collection methods (every verb is an unknown one).
MODELS_METHODS = CustomMethods(LIST_PATH, _check_list_path)
# Before the routes below: their ``{model_id}`` would match ``x:verb`` too.
MODEL_METHODS.install(router)
MODELS_METHODS.install(router)


def _codec(request: Request) -> PageTokenCodec:
    codec: PageTokenCodec = request.app.state.token_codec
    return codec


def _check_model_id(model_id: str, field: str = "model_id") -> None:
    try:
        check_id(model_id)
    except ResourceError as e:
        raise invalid(e.message, field=field, reason="INVALID_MODEL_ID") from None


def _read_mask(request: Request) -> FieldMask:
    return parse_field_mask(query_param(request, "readMask", "read_mask") or "", MODEL, parameter="readMask")


@router.get(LIST_PATH, include_in_schema=False)
async def list_models(account_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    require(principal, Action.READ_MODELS, principal.account_id)
    caller = principal.account_id
    check_account(account_id, allow_all=True)
    size = page_size(query_param(request, "pageSize", "page_size"))
    filter_text = query_param(request, "filter", "filter") or ""
    order_text = query_param(request, "orderBy", "order_by") or ""
    token = query_param(request, "pageToken", "page_token") or ""
    checked = filtering.compile_filter(filter_text, MODEL_FILTER_SCHEMA)
    order = parse_order_by(order_text, MODEL).with_tiebreaker(NAME_FIELD)
    mask = _read_mask(request)
    cursor = ListCursor(account_id, caller, filter_text, order.canonical, len(order.fields))
    after = cursor.position(_codec(request), token)
    page = await request_store(request).alist_models(
        Scope(caller=caller, target=account_id), checked, order, after=after, limit=size
    )
    if mask.is_all:
        models_json = b",".join(page.resources)
    else:
        models_json = b",".join(orjson.dumps(apply_read_mask(orjson.loads(r), mask)) for r in page.resources)
    parts = [b'{"models":[', models_json, b"]"]
    if page.last_key is not None and page.resources:
        next_token = cursor.next_token(_codec(request), page.last_key)
        parts.append(b',"nextPageToken":"' + next_token.encode() + b'"')
    parts.append(b',"totalSize":' + str(page.total_size).encode() + b"}")
    return Response(b"".join(parts), media_type=JSON)


def _not_found(name: str) -> ApiError:
    return ApiError("NOT_FOUND", f"model {name} not found", reason="MODEL_NOT_FOUND", metadata={"name": name})


@router.post(LIST_PATH, include_in_schema=False)
async def create_model(account_id: str, request: Request) -> Response:
    raw = await receive_body(request)
    return await anyio.to_thread.run_sync(_create_model, account_id, request, raw)


def _create_model(account_id: str, request: Request, raw: bytes) -> Response:
    principal = authenticate_sync(request)
    check_account(account_id)
    require(principal, Action.WRITE_MODELS, account_id)
    body = read_body(raw)
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", field="body", reason="INVALID_JSON")
    unknown = set(body) - {"modelId", "model_id", "model", "cluster"}
    if unknown:
        raise invalid(
            f"unknown field {sorted(unknown)[0]!r} in the create request; expected modelId, model, cluster",
            field=sorted(unknown)[0],
        )
    model_id = body.get("modelId", body.get("model_id"))
    if model_id is None:
        model_id = request.query_params.get("modelId") or ""
    if not isinstance(model_id, str):
        raise invalid("modelId must be a string", field="modelId")
    if not model_id:
        raise invalid("modelId is required", field="modelId")
    _check_model_id(model_id, "modelId")
    note_resource(model_name(account_id, model_id))
    cluster = body.get("cluster")
    if cluster is None:
        cluster = ""
    if not isinstance(cluster, str):
        raise invalid("cluster must be a string", field="cluster")
    raw_model = body.get("model")
    if raw_model is None:
        raw_model = {}
    if not isinstance(raw_model, dict):
        raise invalid("model must be a JSON object (a Model)", field="model")
    model = decode_message(MODEL, raw_model, path="model", allow_output_only=False)
    apply_default_kind(model)
    model["state"] = "UPLOADING"
    if cluster:
        model["cluster"] = cluster
    model = prune(model)
    validate_model(model)
    try:
        created = request_store(request).create_model(account_id, model_id, model)
    except AlreadyExists:
        raise ApiError(
            "ALREADY_EXISTS",
            f"model {model_name(account_id, model_id)} already exists",
            reason="MODEL_ALREADY_EXISTS",
            metadata={"name": model_name(account_id, model_id)},
        ) from None
    return json_response(created)


@router.get(MODEL_PATH, include_in_schema=False)
async def get_model(account_id: str, model_id: str, request: Request) -> Response:
    return await anyio.to_thread.run_sync(_get_model, account_id, model_id, request)


def _get_model(account_id: str, model_id: str, request: Request) -> Response:
    principal = authenticate_sync(request)
    require(principal, Action.READ_MODELS, principal.account_id)
    caller = principal.account_id
    check_account(account_id)
    _check_model_id(model_id)
    mask = _read_mask(request)
    name = model_name(account_id, model_id)
    # Visibility is checked in the query: another account's private model is never read (issue 15, 5).
    found = request_store(request).get_model(name, reader=caller)
    if found is None:
        raise _not_found(name)
    return json_response(apply_read_mask(found[0], mask))


@router.patch(MODEL_PATH, include_in_schema=False)
async def update_model(account_id: str, model_id: str, request: Request) -> Response:
    raw = await receive_body(request)
    return await anyio.to_thread.run_sync(_update_model, account_id, model_id, request, raw)


def _update_model(account_id: str, model_id: str, request: Request, raw: bytes) -> Response:
    principal = authenticate_sync(request)
    check_account(account_id)
    _check_model_id(model_id)
    require(principal, Action.WRITE_MODELS, account_id)
    body = read_body(raw)
    mask_text = query_param(request, "updateMask", "update_mask")
    if mask_text is not None and not mask_text.strip():
        mask_text = None  # an empty mask is an absent mask: the body implies it (AIP-134)
    sent = decode_message(MODEL, body, path="", allow_output_only=False, partial=True)
    mask = (
        parse_field_mask(mask_text, MODEL, parameter="updateMask", for_update=True)
        if mask_text is not None
        else None
    )

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        new = merge_update(MODEL, current, sent, mask)
        apply_default_kind(new)
        new = prune(new)
        validate_model(new, path="model")
        return new

    name = model_name(account_id, model_id)
    try:
        updated = request_store(request).update_model(name, mutate)
    except NotFound:
        raise _not_found(name) from None
    return json_response(updated)


@router.delete(MODEL_PATH, include_in_schema=False)
async def delete_model(account_id: str, model_id: str, request: Request) -> Response:
    return await anyio.to_thread.run_sync(_delete_model, account_id, model_id, request)


def _delete_model(account_id: str, model_id: str, request: Request) -> Response:
    principal = authenticate_sync(request)
    check_account(account_id)
    _check_model_id(model_id)
    require(principal, Action.DELETE_MODELS, account_id)
    name = model_name(account_id, model_id)
    committed = request.app.state.files.committed_blobs(account_id, model_id)
    try:
        request_store(request).delete_model(name)
    except NotFound:
        raise _not_found(name) from None
    request.app.state.files.model_deleted(account_id, model_id, committed)  # its files (modelyard.files)
    return json_response({})


__all__ = ["DEFAULT_PAGE_SIZE", "GET_ONLY_FIELDS", "MAX_PAGE_SIZE", "caller_account", "router"]
