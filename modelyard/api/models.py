"""The Models resource: List, Get, Create, Update (PATCH), Delete."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.aip import filtering
from modelyard.aip.errors import AipError
from modelyard.aip.fieldmask import FieldMask, apply_read_mask, parse_field_mask
from modelyard.aip.ordering import OrderBy, parse_order_by
from modelyard.aip.pagetoken import PageTokenCodec, check_binding, digest
from modelyard.aip.schema import MessageDecl
from modelyard.api.errors import ApiError, as_api_error, invalid
from modelyard.resources.codec import (
    ResourceError,
    check_id,
    decode_message,
    prune,
    validate_model,
)
from modelyard.resources.model import GET_ONLY_FIELDS, MODEL, MODEL_FILTER_SCHEMA
from modelyard.store.repository import AlreadyExists, NotFound, Scope, Store

router = APIRouter()

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_name_field = MODEL.field("name")
assert _name_field is not None
NAME_FIELD = _name_field
DEFAULT_ORDER = OrderBy(()).with_tiebreaker(NAME_FIELD)

JSON = "application/json"


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _codec(request: Request) -> PageTokenCodec:
    codec: PageTokenCodec = request.app.state.token_codec
    return codec


def caller_account(request: Request) -> str:
    """The account of the request's API key (``Authorization: Bearer`` or ``X-Api-Key``)."""
    account = _store(request).authenticate(_api_key(request))
    if account is None:
        raise ApiError("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
    return account


async def acaller_account(request: Request) -> str:
    """``caller_account`` on the event loop: a recently seen key costs no database read or thread."""
    store, key = _store(request), _api_key(request)
    account = store.cached_account(key)
    if account is None:
        account = await anyio.to_thread.run_sync(store.authenticate, key)
    if account is None:
        raise ApiError("UNAUTHENTICATED", "the API key is not valid", reason="INVALID_API_KEY")
    return account


def _api_key(request: Request) -> str:
    key = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                "UNAUTHENTICATED",
                "the Authorization header must be 'Bearer <API key>'",
                reason="INVALID_API_KEY",
            )
        key = value.strip()
    else:
        key = request.headers.get("x-api-key")
    if not key:
        raise ApiError(
            "UNAUTHENTICATED",
            "missing API key: send 'Authorization: Bearer <API key>' (or 'X-Api-Key: <API key>')",
            reason="MISSING_API_KEY",
        )
    return key


def query_param(request: Request, camel: str, snake: str) -> str | None:
    params = request.query_params
    value = params.get(camel)
    if value is None:
        value = params.get(snake)
    return value


def _check_account(account_id: str, *, allow_all: bool = False) -> None:
    if allow_all and account_id == "-":
        return
    try:
        check_id(account_id, "account id")
    except ResourceError as e:
        raise invalid(e.message, field="account_id", reason="INVALID_ACCOUNT_ID") from None


def _check_model_id(model_id: str, field: str = "model_id") -> None:
    if ":" in model_id and field == "model_id":
        verb = model_id.partition(":")[2]
        raise ApiError(
            "UNIMPLEMENTED",
            f"the custom method ':{verb}' is not supported by modelyard (uploads live outside the registry)",
        )
    try:
        check_id(model_id)
    except ResourceError as e:
        raise invalid(e.message, field=field, reason="INVALID_MODEL_ID") from None


def _api_error(err: AipError | ResourceError) -> ApiError:
    """The INVALID_ARGUMENT for a filter/orderBy/mask/token or a resource error (raised ``from None``, so
    the log shows no parser internals)."""
    error = as_api_error(err)
    assert error is not None
    return error


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        if not raw.lstrip("-").isascii() or not raw.lstrip("-").isdigit() or raw.count("-") > 1:
            raise ValueError(raw)
        size = int(raw)
    except ValueError:
        raise invalid(
            f"pageSize: {raw!r} is not an integer", field="pageSize", reason="INVALID_PAGE_SIZE", pageSize=raw
        ) from None
    if size < 0:
        raise invalid(
            f"pageSize: must not be negative (got {size})",
            field="pageSize",
            reason="INVALID_PAGE_SIZE",
            pageSize=raw,
        )
    if size == 0:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _read_mask(request: Request) -> FieldMask:
    raw = query_param(request, "readMask", "read_mask") or ""
    try:
        return parse_field_mask(raw, MODEL, parameter="readMask")
    except AipError as e:
        raise _api_error(e) from None


def _json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


LIST_PATH = "/v1/accounts/{account_id}/models"


@router.get(LIST_PATH, include_in_schema=False)
async def list_models(account_id: str, request: Request) -> Response:
    caller = await acaller_account(request)
    _check_account(account_id, allow_all=True)
    page_size = _page_size(query_param(request, "pageSize", "page_size"))
    filter_text = query_param(request, "filter", "filter") or ""
    order_text = query_param(request, "orderBy", "order_by") or ""
    token = query_param(request, "pageToken", "page_token") or ""
    try:
        checked = filtering.compile_filter(filter_text, MODEL_FILTER_SCHEMA)
        order = parse_order_by(order_text, MODEL).with_tiebreaker(NAME_FIELD)
    except AipError as e:
        raise _api_error(e) from None
    mask = _read_mask(request)
    binding = {
        "a": ("account", digest(account_id)),
        "u": ("caller", digest(caller)),
        "f": ("filter", digest(filter_text)),
        "o": ("orderBy", digest(order.canonical)),
    }
    after = None
    if token:
        try:
            payload = _codec(request).decode(token)
            check_binding(payload, **binding)
        except AipError as e:
            raise _api_error(e) from None
        after = payload.get("k")
        if not isinstance(after, list) or len(after) != len(order.fields):
            raise invalid(
                "pageToken: the page token is not valid", field="pageToken", reason="INVALID_PAGE_TOKEN"
            )
    page = await _store(request).alist_models(
        Scope(caller=caller, target=account_id), checked, order, after=after, limit=page_size
    )
    if mask.is_all:
        models_json = b",".join(page.resources)
    else:
        models_json = b",".join(orjson.dumps(apply_read_mask(orjson.loads(r), mask)) for r in page.resources)
    parts = [b'{"models":[', models_json, b"]"]
    if page.last_key is not None and page.resources:
        next_token = _codec(request).encode({"k": page.last_key, **{k: v[1] for k, v in binding.items()}})
        parts.append(b',"nextPageToken":"' + next_token.encode() + b'"')
    parts.append(b',"totalSize":' + str(page.total_size).encode() + b"}")
    return Response(b"".join(parts), media_type=JSON)


def _name(account_id: str, model_id: str) -> str:
    return f"accounts/{account_id}/models/{model_id}"


def _read_body(raw: bytes) -> Any:
    if not raw.strip():
        raise invalid("the request body is empty; send a JSON object", field="body", reason="INVALID_JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise invalid(
            f"the request body is not valid JSON: {e}", field="body", reason="INVALID_JSON"
        ) from None


def _writable(caller: str, account_id: str) -> None:
    if caller != account_id:
        raise ApiError(
            "PERMISSION_DENIED",
            f"the API key of account {caller!r} cannot write to account {account_id!r}",
            reason="PERMISSION_DENIED",
            metadata={"account": account_id},
        )


@router.post("/v1/accounts/{account_id}/models", include_in_schema=False)
async def create_model(account_id: str, request: Request) -> Response:
    raw = await request.body()
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_create_model, account_id, request, raw)


def _create_model(account_id: str, request: Request, raw: bytes) -> Response:
    caller = caller_account(request)
    _check_account(account_id)
    _writable(caller, account_id)
    body = _read_body(raw)
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
    try:
        model = decode_message(MODEL, raw_model, path="model", allow_output_only=False)
        if model.get("kind", "KIND_UNSPECIFIED") == "KIND_UNSPECIFIED":
            model["kind"] = "HF_PEFT_ADDON"
        model["state"] = "UPLOADING"
        if cluster:
            model["cluster"] = cluster
        model = prune(model)
        validate_model(model)
    except ResourceError as e:
        raise _api_error(e) from None
    try:
        created = _store(request).create_model(account_id, model_id, model)
    except AlreadyExists:
        raise ApiError(
            "ALREADY_EXISTS",
            f"model {_name(account_id, model_id)} already exists",
            reason="MODEL_ALREADY_EXISTS",
            metadata={"name": _name(account_id, model_id)},
        ) from None
    return _json_response(created)


def _not_found(name: str) -> ApiError:
    return ApiError("NOT_FOUND", f"model {name} not found", reason="MODEL_NOT_FOUND", metadata={"name": name})


@router.get("/v1/accounts/{account_id}/models/{model_id}", include_in_schema=False)
def get_model(account_id: str, model_id: str, request: Request) -> Response:
    caller = caller_account(request)
    _check_account(account_id)
    _check_model_id(model_id)
    mask = _read_mask(request)
    name = _name(account_id, model_id)
    found = _store(request).get_model(name)
    if found is None or (account_id != caller and not found[1]):
        raise _not_found(name)
    return _json_response(apply_read_mask(found[0], mask))


@router.post("/v1/accounts/{account_id}/models/{model_id}", include_in_schema=False)
def model_custom_method(account_id: str, model_id: str, request: Request) -> Response:
    """``POST .../models/{id}:verb`` (the SDK's prepare, getUploadEndpoint): not part of a registry."""
    _check_model_id(model_id)
    raise ApiError(
        "UNIMPLEMENTED",
        f"method POST is not supported on {request.url.path}",
        reason="METHOD_NOT_ALLOWED",
        http_status=405,
    )


@router.patch("/v1/accounts/{account_id}/models/{model_id}", include_in_schema=False)
async def update_model(account_id: str, model_id: str, request: Request) -> Response:
    raw = await request.body()
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_update_model, account_id, model_id, request, raw)


def _update_model(account_id: str, model_id: str, request: Request, raw: bytes) -> Response:
    caller = caller_account(request)
    _check_account(account_id)
    _check_model_id(model_id)
    _writable(caller, account_id)
    body = _read_body(raw)
    mask_text = query_param(request, "updateMask", "update_mask")
    if mask_text is not None and not mask_text.strip():
        mask_text = None  # an empty mask is an absent mask: the body implies it (AIP-134)
    try:
        sent = decode_message(MODEL, body, path="", allow_output_only=False, partial=True)
        mask = (
            parse_field_mask(mask_text, MODEL, parameter="updateMask", for_update=True)
            if mask_text is not None
            else None
        )
    except ResourceError as e:
        raise _api_error(e) from None
    except AipError as e:
        raise _api_error(e) from None

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        new = _merge(current, sent, mask)
        if new.get("kind", "KIND_UNSPECIFIED") == "KIND_UNSPECIFIED":
            new["kind"] = "HF_PEFT_ADDON"
        new = prune(new)
        validate_model(new, path="model")
        return new

    name = _name(account_id, model_id)
    try:
        updated = _store(request).update_model(name, mutate)
    except NotFound:
        raise _not_found(name) from None
    except ResourceError as e:
        raise _api_error(e) from None
    return _json_response(updated)


def _merge(current: dict[str, Any], sent: dict[str, Any], mask: FieldMask | None) -> dict[str, Any]:
    """Apply an update. Without a mask, the mask is implied by the body as grpc-gateway does: every
    leaf sent (descending into singular messages, not into maps or lists) is updated, so
    ``{"baseModelDetails": {"moe": true}}`` leaves ``parameterCount`` alone. With a mask, each masked
    path takes the sent value, or is cleared when the body does not have it; ``*`` replaces every
    writable field. Output-only fields never change."""
    new = dict(current)
    if mask is not None and mask.paths is None:  # "*": a full replacement of the writable fields
        for decl in MODEL.fields:
            if not decl.output_only:
                new.pop(decl.json_name, None)
        new.update(sent)
        return new
    if mask is None:
        paths = _implied_paths(sent, MODEL)
    else:
        assert mask.paths is not None
        paths = []
        for path in mask.paths:
            fields = [s for s in path if not isinstance(s, str)]
            if not any(f.output_only for f in fields):
                paths.append([f.json_name for f in fields])
    for keys in paths:
        _set_path(new, sent, keys)
    return new


def _implied_paths(
    sent: dict[str, Any], message: MessageDecl, prefix: tuple[str, ...] = ()
) -> list[list[str]]:
    paths: list[list[str]] = []
    for key, value in sent.items():
        decl = message.field(key)
        sub = decl.type.message if decl is not None else None
        if decl is not None and sub is not None and not decl.repeated and isinstance(value, dict) and value:
            paths += _implied_paths(value, sub, (*prefix, key))
        else:
            paths.append([*prefix, key])
    return paths


def _set_path(target: dict[str, Any], source: dict[str, Any], keys: list[str]) -> None:
    head, rest = keys[0], keys[1:]
    if not rest:
        if head in source:
            target[head] = source[head]
        else:
            target.pop(head, None)
        return
    sub_source = source.get(head)
    if not isinstance(sub_source, dict) and target.get(head) is None:
        return  # clearing a field of an unset message: nothing to do (and the message stays unset)
    sub_target = dict(target.get(head) or {})
    _set_path(sub_target, sub_source if isinstance(sub_source, dict) else {}, rest)
    target[head] = sub_target


@router.delete("/v1/accounts/{account_id}/models/{model_id}", include_in_schema=False)
def delete_model(account_id: str, model_id: str, request: Request) -> Response:
    caller = caller_account(request)
    _check_account(account_id)
    _check_model_id(model_id)
    _writable(caller, account_id)
    name = _name(account_id, model_id)
    try:
        _store(request).delete_model(name)
    except NotFound:
        raise _not_found(name) from None
    request.app.state.files.model_deleted(account_id, model_id)  # its files (modelyard.files)
    return _json_response({})


__all__ = ["GET_ONLY_FIELDS", "router"]
