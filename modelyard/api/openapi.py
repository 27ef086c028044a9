"""The OpenAPI document, generated from the Model declarations with the seed's schema names."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from modelyard import __version__
from modelyard.aip.schema import EnumDecl, FieldDecl, Kind, MessageDecl, TypeDecl
from modelyard.api.openapi_files import file_paths
from modelyard.resources.model import MODEL


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _type_schema(t: TypeDecl, components: dict[str, Any]) -> dict[str, Any]:
    kind = t.kind
    if kind is Kind.STRING:
        return {"type": "string"}
    if kind is Kind.BOOL:
        return {"type": "boolean"}
    if kind is Kind.INT32:
        return {"type": "integer", "format": "int32"}
    if kind is Kind.INT64:
        return {"type": "string", "format": "int64"}
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
        return {"type": "object", "additionalProperties": _type_schema(t.map_value, components)}
    assert t.message is not None
    _message(t.message, components)
    return _ref(t.message.name)


def _enum(decl: EnumDecl, components: dict[str, Any]) -> None:
    components.setdefault(decl.name, {"type": "string", "enum": list(decl.values), "default": decl.default})


def _field(decl: FieldDecl, components: dict[str, Any]) -> dict[str, Any]:
    schema = _type_schema(decl.type, components)
    if decl.repeated:
        schema = {"type": "array", "items": schema}
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
        "properties": {f.json_name: _field(f, components) for f in decl.fields},
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
            "modelId": {"type": "string", "description": "The ID of the model (1-63 of a-z, 0-9, -)."},
            "model": _ref("gatewayModel"),
            "cluster": {"type": "string", "description": "The BYOC cluster resource name, if any."},
        },
    }
    components["googleRpcStatus"] = {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
    }
    account = _param("account_id", "The Account Id", {"type": "string"}, "path")
    model_id = _param("model_id", "The Model Id", {"type": "string"}, "path")
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
            {"type": "integer", "format": "int32"},
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
        account,
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
