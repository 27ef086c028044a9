"""The OpenAPI document, generated from the Model declarations with the seed's schema names."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from modelyard import __version__
from modelyard.aip.schema import INT32_RANGE, INT64_RANGE, EnumDecl, FieldDecl, Kind, MessageDecl, TypeDecl
from modelyard.api.openapi_files import file_paths
from modelyard.resources.limits import MAX_LIST_ENTRIES, MAX_MAP_KEYS, MAX_STRING, string_limit
from modelyard.resources.model import ID_PATTERN, MAX_DESCRIPTION, MAX_DISPLAY_NAME, MODEL

#: Strings hold no NUL character (decisions.md).
NO_NUL = "^[^\\u0000]*$"
#: A model or account id, anchored (``resources.model.ID_PATTERN``).
ID_REGEX = f"^{ID_PATTERN.pattern}$"
#: Per-field string limits the codec applies after decoding (``validate_model``).
_VALIDATED_LENGTHS = {"display_name": MAX_DISPLAY_NAME, "description": MAX_DESCRIPTION}
#: Integer bounds the codec applies (``codec.validate_model`` and the ``google.type.Date`` rules), by
#: (message, field).
_BOUNDS: dict[tuple[str, str], tuple[int, int]] = {
    ("typeDate", "year"): (0, 9999),
    ("typeDate", "month"): (0, 12),
    ("typeDate", "day"): (0, 31),
    ("gatewayModel", "context_length"): (0, INT32_RANGE[1]),
    ("gatewayModel", "training_context_length"): (0, INT32_RANGE[1]),
    ("gatewayModel", "default_draft_token_count"): (0, INT32_RANGE[1]),
}


def _at_most(bound: str) -> str:
    """A regular expression for the decimal numbers of ``len(bound)`` digits (leading zeros allowed) whose
    value is at most ``bound``."""
    alternatives = [bound]
    for i, digit in enumerate(bound):
        if digit != "0":
            rest = len(bound) - i - 1
            lower = "0" if digit == "1" else f"0-{int(digit) - 1}"
            alternatives.append(bound[:i] + f"[{lower}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    return "|".join(alternatives)


def _int64_pattern() -> str:
    """Decimal int64 strings as the codec accepts them: an optional '-', 1-19 ASCII digits, in range."""
    high, low = str(INT64_RANGE[1]), str(-INT64_RANGE[0])
    short = f"[0-9]{{1,{len(high) - 1}}}"
    return f"^({short}|{_at_most(high)}|-({short}|{_at_most(low)}))$"


INT64_PATTERN = _int64_pattern()


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _type_schema(t: TypeDecl, components: dict[str, Any], max_length: int = MAX_STRING) -> dict[str, Any]:
    kind = t.kind
    if kind is Kind.STRING:
        return {"type": "string", "maxLength": max_length, "pattern": NO_NUL}
    if kind is Kind.BOOL:
        return {"type": "boolean"}
    if kind is Kind.INT32:
        return {"type": "integer", "format": "int32", "minimum": INT32_RANGE[0], "maximum": INT32_RANGE[1]}
    if kind is Kind.INT64:
        return {"type": "string", "format": "int64", "pattern": INT64_PATTERN}
    if kind is Kind.FLOAT:
        return {"type": "number", "format": "float"}
    if kind is Kind.DOUBLE:
        return {"type": "number", "format": "double"}
    if kind is Kind.TIMESTAMP:
        return {"type": "string", "format": "date-time"}
    if kind is Kind.DURATION:
        return {"type": "string"}
    if kind is Kind.ENUM:
        assert t.enum is not None
        _enum(t.enum, components)
        return _ref(t.enum.name)
    if kind is Kind.MAP:
        assert t.map_value is not None
        return {
            "type": "object",
            "maxProperties": MAX_MAP_KEYS,
            "additionalProperties": _type_schema(t.map_value, components),
        }
    assert t.message is not None
    _message(t.message, components)
    return _ref(t.message.name)


def _enum(decl: EnumDecl, components: dict[str, Any]) -> None:
    components.setdefault(decl.name, {"type": "string", "enum": list(decl.values), "default": decl.default})


def _field(message: MessageDecl, decl: FieldDecl, components: dict[str, Any]) -> dict[str, Any]:
    limit = _VALIDATED_LENGTHS.get(decl.name, string_limit(decl)) if decl.kind is Kind.STRING else MAX_STRING
    schema = _type_schema(decl.type, components, limit)
    bounds = _BOUNDS.get((message.name, decl.name))
    if bounds is not None:
        schema = dict(schema, minimum=bounds[0], maximum=bounds[1])
    if decl.repeated:
        schema = {"type": "array", "maxItems": MAX_LIST_ENTRIES, "items": schema}
    if decl.output_only:
        schema = (
            dict(schema, readOnly=True) if "$ref" not in schema else {"allOf": [schema], "readOnly": True}
        )
    return schema


def _message(decl: MessageDecl, components: dict[str, Any]) -> None:
    if decl.name in components:
        return
    components[decl.name] = {"type": "object"}
    components[decl.name] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {f.json_name: _field(decl, f, components) for f in decl.fields},
    }


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    _message(MODEL, components)
    components["gatewayListModelsResponse"] = {
        "type": "object",
        "properties": {
            "models": {"type": "array", "items": _ref("gatewayModel")},
            "nextPageToken": {
                "type": "string",
                "description": "A token to retrieve the next page. Omitted on the last page.",
            },
            "totalSize": {"type": "integer", "format": "int32", "title": "The total number of models"},
        },
    }
    components["gatewayCreateModelBody"] = {
        "type": "object",
        "required": ["modelId"],
        "properties": {
            "modelId": {
                "type": "string",
                "pattern": ID_REGEX,
                "description": "The ID of the model: 1-63 of a-z, 0-9 and '-', starting with a letter, "
                "not ending with '-'.",
            },
            "model": _ref("gatewayModel"),
            "cluster": {
                "type": "string",
                "maxLength": MAX_STRING,
                "pattern": NO_NUL,
                "description": "The BYOC cluster resource name, if any.",
            },
        },
        "additionalProperties": False,
    }
    components["googleRpcStatus"] = {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
    }
    account = _param("account_id", "The Account Id", {"type": "string", "pattern": ID_REGEX}, "path")
    any_account = _param(
        "account_id",
        "The Account Id, or '-' for every account the caller can read",
        {"type": "string", "pattern": f"^(-|{ID_PATTERN.pattern})$"},
        "path",
    )
    model_id = _param("model_id", "The Model Id", {"type": "string", "pattern": ID_REGEX}, "path")
    read_mask = _param(
        "readMask",
        'The fields to be returned in the response. If empty or "*", all fields will be returned.',
        {"type": "string"},
    )
    error = {"description": "An error (google.rpc.Status)", "content": _json(_ref("googleRpcStatus"))}
    model_ok = {"description": "A successful response.", "content": _json(_ref("gatewayModel"))}
    security: list[dict[str, list[str]]] = [{"BearerAuth": []}]
    list_params = [
        _param(
            "pageSize",
            "The maximum number of models to return. The maximum page_size is 200, values above 200 will be "
            "coerced to 200. If unspecified, the default is 50.",
            {"type": "integer", "format": "int32", "minimum": 0, "maximum": INT32_RANGE[1]},
        ),
        _param("pageToken", "A page token, received from a previous ListModels call.", {"type": "string"}),
        _param(
            "filter",
            "Only model satisfying the provided filter (if specified) will be returned. See "
            "https://google.aip.dev/160 for the filter grammar.",
            {"type": "string"},
        ),
        _param(
            "orderBy",
            'A comma-separated list of fields to order by. e.g. "foo,bar". Append " desc" for descending. '
            'Subfields are specified with a "." character. If not specified, the default order is by "name".',
            {"type": "string"},
        ),
        read_mask,
        any_account,
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Gateway REST API (modelyard)", "version": __version__},
        "tags": [{"name": "Gateway"}],
        "security": security,
        "paths": {
            "/v1/accounts/{account_id}/models": {
                "get": {
                    "tags": ["Gateway"],
                    "summary": "List Models",
                    "operationId": "Gateway_ListModels",
                    "parameters": list_params,
                    "responses": {
                        "200": {
                            "description": "A successful response.",
                            "content": _json(_ref("gatewayListModelsResponse")),
                        },
                        "default": error,
                    },
                },
                "post": {
                    "tags": ["Gateway"],
                    "summary": "Create Model",
                    "operationId": "Gateway_CreateModel",
                    "parameters": [account],
                    "requestBody": {"required": True, "content": _json(_ref("gatewayCreateModelBody"))},
                    "responses": {"200": model_ok, "default": error},
                },
            },
            "/v1/accounts/{account_id}/models/{model_id}": {
                "get": {
                    "tags": ["Gateway"],
                    "summary": "Get Model",
                    "operationId": "Gateway_GetModel",
                    "parameters": [account, model_id, read_mask],
                    "responses": {"200": model_ok, "default": error},
                },
                "patch": {
                    "tags": ["Gateway"],
                    "summary": "Update Model",
                    "operationId": "Gateway_UpdateModel",
                    "parameters": [
                        account,
                        model_id,
                        _param(
                            "updateMask",
                            "Optional comma-separated field paths to update (snake_case or camelCase). "
                            "Without it, exactly the fields present in the body are updated.",
                            {"type": "string"},
                        ),
                    ],
                    "requestBody": {"required": True, "content": _json(_ref("gatewayModel"))},
                    "responses": {"200": model_ok, "default": error},
                },
                "delete": {
                    "tags": ["Gateway"],
                    "summary": "Delete Model",
                    "operationId": "Gateway_DeleteModel",
                    "parameters": [account, model_id],
                    "responses": {
                        "200": {
                            "description": "A successful response.",
                            "content": _json({"type": "object"}),
                        },
                        "default": error,
                    },
                },
            },
            **file_paths(),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Bearer authentication using your API key. Format: Bearer <API_KEY>",
                    "bearerFormat": "API_KEY",
                }
            },
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
