"""The identity resources: Account, User, APIKey and AuditLog, their roles and their canonical JSON.

Field names follow the ``fireworks-ai`` SDK (1.2.30) types ``Account``, ``User`` and ``APIKey``; the audit
log entry is modelyard's own (``shared/spec/decisions.md``, "Identity"). Fields at their default value are
omitted from the JSON, as for Models.
"""

from __future__ import annotations

from typing import Any

from modelyard.aip.schema import (
    T_BOOL,
    T_INT32,
    T_STRING,
    T_TIMESTAMP,
    TIMESTAMP_FUNCTION,
    EnumDecl,
    FieldDecl,
    Kind,
    MessageDecl,
    Schema,
    TypeDecl,
)
from modelyard.aip.timestamps import format_rfc3339

#: Roles from the most to the least powerful. Nobody can give themselves a role earlier in this list.
ROLES = ("admin", "user", "contributor", "inference-user")
ROLE_RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}

STATE = EnumDecl("gatewayState", ("STATE_UNSPECIFIED", "CREATING", "READY", "UPDATING", "DELETING"))

USER = MessageDecl(
    "gatewayUser",
    (
        FieldDecl("name", T_STRING, output_only=True),
        FieldDecl("display_name", T_STRING),
        FieldDecl("email", T_STRING),
        FieldDecl("role", T_STRING),
        FieldDecl("service_account", T_BOOL),
        FieldDecl("state", TypeDecl(Kind.ENUM, enum=STATE), output_only=True),
        FieldDecl("create_time", T_TIMESTAMP, output_only=True),
        FieldDecl("update_time", T_TIMESTAMP, output_only=True),
    ),
)

#: What List Users filters are checked against; bare words search the user id, display name and email.
USER_FILTER_SCHEMA = Schema(root=USER, functions=(TIMESTAMP_FUNCTION,), global_search=True)

ACCOUNT = MessageDecl(
    "gatewayAccount",
    (
        FieldDecl("name", T_STRING, output_only=True),
        FieldDecl("display_name", T_STRING),
        FieldDecl("email", T_STRING),
        FieldDecl(
            "account_type",
            TypeDecl(Kind.ENUM, enum=EnumDecl("AccountType", ("ACCOUNT_TYPE_UNSPECIFIED", "ENTERPRISE"))),
        ),
        FieldDecl("state", TypeDecl(Kind.ENUM, enum=STATE), output_only=True),
        FieldDecl("create_time", T_TIMESTAMP, output_only=True),
        FieldDecl("update_time", T_TIMESTAMP, output_only=True),
    ),
)

ACCOUNT_FILTER_SCHEMA = Schema(root=ACCOUNT, functions=(TIMESTAMP_FUNCTION,), global_search=True)

API_KEY = MessageDecl(
    "gatewayApiKey",
    (
        FieldDecl("key_id", T_STRING, output_only=True),
        FieldDecl("display_name", T_STRING),
        FieldDecl("key", T_STRING, output_only=True),
        FieldDecl("prefix", T_STRING, output_only=True),
        FieldDecl("create_time", T_TIMESTAMP, output_only=True),
        FieldDecl("expire_time", T_TIMESTAMP),
        FieldDecl("email", T_STRING, output_only=True),
        FieldDecl("secure", T_BOOL, output_only=True),
    ),
)

API_KEY_FILTER_SCHEMA = Schema(root=API_KEY, functions=(TIMESTAMP_FUNCTION,), global_search=False)

AUDIT_LOG = MessageDecl(
    "gatewayAuditLog",
    (
        FieldDecl("timestamp", T_TIMESTAMP),
        FieldDecl("principal", T_STRING),
        FieldDecl("api_key_id", T_STRING),
        FieldDecl("method", T_STRING),
        FieldDecl("resource", T_STRING),
        FieldDecl("response_code", T_INT32),
        FieldDecl("message", T_STRING),
        FieldDecl("request_id", T_STRING),
    ),
)

MAX_DISPLAY_NAME = 63  # "fewer than 64 characters"
MAX_EMAIL = 254  # RFC 5321
DEFAULT_KEY_DISPLAY_NAME = "default"


def user_name(account_id: str, user_id: str) -> str:
    return f"accounts/{account_id}/users/{user_id}"


def _pruned(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if v not in ("", 0, False, None)}


def user_json(row: Any) -> dict[str, Any]:
    """A ``users`` row as a User resource."""
    return _pruned(
        {
            "name": user_name(row.account_id, row.user_id),
            "displayName": row.display_name,
            "email": row.email,
            "role": row.role,
            "serviceAccount": bool(row.service_account),
            "state": "READY",
            "createTime": format_rfc3339(int(row.create_time)),
            "updateTime": format_rfc3339(int(row.update_time)),
        }
    )


def account_json(row: Any) -> dict[str, Any]:
    """An ``accounts`` row as an Account resource (modelyard accounts are always READY)."""
    created = format_rfc3339(int(row.create_time))
    return _pruned(
        {
            "name": f"accounts/{row.account_id}",
            "displayName": row.display_name,
            "email": row.email,
            "state": "READY",
            "createTime": created,
            "updateTime": created,
        }
    )


def api_key_json(row: Any, email: str = "", *, plaintext: str = "") -> dict[str, Any]:
    """An ``api_keys`` row as an APIKey resource; the plaintext only in the create response. ``secure``:
    the server never knows the plaintext after creation (it keeps a hash)."""
    return _pruned(
        {
            "keyId": row.key_id,
            "displayName": row.display_name or DEFAULT_KEY_DISPLAY_NAME,
            "key": plaintext,
            "prefix": row.prefix,
            "createTime": format_rfc3339(int(row.create_time)),
            "expireTime": format_rfc3339(int(row.expire_time)) if row.expire_time else "",
            "email": email,
            "secure": True,
        }
    )


def audit_json(row: Any) -> dict[str, Any]:
    return _pruned(
        {
            "timestamp": format_rfc3339(int(row.time)),
            "principal": row.principal,
            "apiKeyId": row.api_key_id,
            "method": row.method,
            "resource": row.resource,
            "responseCode": int(row.response_code),
            "message": row.message,
            "requestId": row.request_id,
        }
    )
