"""The identity routes in the OpenAPI document (``/openapi.json``, ``/docs``): accounts, users, API keys
and the audit log, with their resources derived from ``resources/identity.py``."""

from __future__ import annotations

from typing import Any

from modelyard.aip.schema import INT32_RANGE
from modelyard.api.openapi import ID_REGEX, _json, _message, _param, _ref
from modelyard.resources.identity import ACCOUNT, API_KEY, AUDIT_LOG, USER

_TAG = "Identity"


def _list_schema(items: str, of: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            items: {"type": "array", "items": _ref(of)},
            "nextPageToken": {"type": "string", "description": "Omitted on the last page."},
        },
    }


def add_identity(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (the Models document) with the identity paths and schemas added."""
    components: dict[str, Any] = doc["components"]["schemas"]
    for message in (ACCOUNT, USER, API_KEY, AUDIT_LOG):
        _message(message, components)
    components["gatewayListAccountsResponse"] = _list_schema("accounts", ACCOUNT.name)
    components["gatewayListUsersResponse"] = _list_schema("users", USER.name)
    components["gatewayListApiKeysResponse"] = _list_schema("apiKeys", API_KEY.name)
    components["gatewayListAuditLogsResponse"] = _list_schema("auditLogs", AUDIT_LOG.name)
    error = {"description": "An error (google.rpc.Status)", "content": _json(_ref("googleRpcStatus"))}
    # The ids follow the same rule as model ids (a 400 otherwise): say so, as the Models paths do.
    account = _param("account_id", "The Account Id", {"type": "string", "pattern": ID_REGEX}, "path")
    user = _param("user_id", "The User Id", {"type": "string", "pattern": ID_REGEX}, "path")
    text = {"type": "string"}
    read_mask = _param("readMask", "The fields to return (all when empty or '*').", text)
    paging = [
        _param(
            "pageSize",
            "At most 200 (larger values are coerced); default 50.",
            {"type": "integer", "format": "int32", "minimum": 0, "maximum": INT32_RANGE[1]},
        ),
        _param("pageToken", "A nextPageToken from the previous page.", text),
    ]
    listing = [
        *paging,
        _param("filter", "AIP-160 filter.", text),
        _param("orderBy", "AIP-132 order.", text),
        read_mask,
    ]

    def ok(schema: str) -> dict[str, Any]:
        return {
            "200": {"description": "A successful response.", "content": _json(_ref(schema))},
            "default": error,
        }

    def op(summary: str, params: list[dict[str, Any]], schema: str, body: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tags": [_TAG],
            "summary": summary,
            "operationId": "Gateway_" + summary.replace(" ", ""),
            "parameters": params,
            "responses": ok(schema),
        }
        if body is not None:
            out["requestBody"] = {"required": True, "content": _json(body)}
        return out

    empty = "googleProtobufEmpty"
    components[empty] = {"type": "object"}
    doc["paths"].update(
        {
            "/v1/accounts": {"get": op("List Accounts", listing, "gatewayListAccountsResponse")},
            "/v1/accounts/{account_id}": {"get": op("Get Account", [account, read_mask], ACCOUNT.name)},
            "/v1/accounts/{account_id}/users": {
                "get": op("List Users", [account, *listing], "gatewayListUsersResponse"),
                "post": op(
                    "Create User",
                    [account, _param("userId", "The new user's id (default: from the email).", text)],
                    USER.name,
                    _ref(USER.name),
                ),
            },
            "/v1/accounts/{account_id}/users/{user_id}": {
                "get": op("Get User", [account, user, read_mask], USER.name),
                "patch": op(
                    "Update User",
                    [account, user, _param("updateMask", "Fields to update (default: those sent).", text)],
                    USER.name,
                    _ref(USER.name),
                ),
                "delete": op("Delete User", [account, user], empty),
            },
            "/v1/accounts/{account_id}/users/{user_id}/apiKeys": {
                "get": op("List Api Keys", [account, user, *listing], "gatewayListApiKeysResponse"),
                "post": op(
                    "Create Api Key",
                    [account, user],
                    API_KEY.name,
                    {"type": "object", "properties": {"apiKey": _ref(API_KEY.name)}},
                ),
            },
            "/v1/accounts/{account_id}/users/{user_id}/apiKeys:delete": {
                "post": op(
                    "Delete Api Key",
                    [account, user],
                    empty,
                    {"type": "object", "required": ["keyId"], "properties": {"keyId": text}},
                )
            },
            "/v1/accounts/{account_id}/auditLogs": {
                "get": op(
                    "List Audit Logs",
                    [
                        account,
                        *paging,
                        _param("startTime", "Entries at or after (RFC 3339).", text),
                        _param("endTime", "Entries before (RFC 3339).", text),
                    ],
                    "gatewayListAuditLogsResponse",
                )
            },
        }
    )
    doc["tags"] = [*doc.get("tags", []), {"name": _TAG}]
    return doc
