"""Users: create (``?userId=``), get, list, update (PATCH), delete, as the ``fireworks-ai`` SDK calls them.

Admins manage users; anyone may read and update themselves (display name, email, and their role only
downwards: nobody raises their own role). The last admin of an account can be neither demoted nor
removed (FAILED_PRECONDITION). Another account's users are NOT_FOUND, whether they exist or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action
from modelyard.aip.fieldmask import apply_read_mask
from modelyard.api.auditing import note_resource
from modelyard.api.errors import ApiError, invalid
from modelyard.api.identity_common import (
    field,
    json_object,
    list_response,
    read_mask,
    string_field,
)
from modelyard.api.params import json_response, query_param
from modelyard.doorway import Admitted, Permission, admit, check_id_value, request_store
from modelyard.errors import not_found
from modelyard.resources.identity import (
    MAX_DISPLAY_NAME,
    MAX_EMAIL,
    ROLE_RANK,
    ROLES,
    USER,
    USER_FILTER_SCHEMA,
    user_json,
    user_name,
)

router = APIRouter()

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_FIELDS = {"role", "displayName", "display_name", "email", "serviceAccount", "service_account", "name"}
_OUTPUT_ONLY = {"name", "state", "status", "createTime", "create_time", "updateTime", "update_time"}


def _user_search(resource: dict[str, Any]) -> Iterator[str]:
    yield resource.get("name", "").rpartition("/")[2]
    yield resource.get("displayName", "")
    yield resource.get("email", "")


def _values(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The user columns a create or update body sets, validated (each problem names its field)."""
    unknown = set(body) - _FIELDS - _OUTPUT_ONLY
    if unknown:
        name = sorted(unknown)[0]
        raise invalid(
            f"unknown field {name!r}; a User has role, displayName, email, serviceAccount", field=name
        )
    values: dict[str, Any] = {}
    role = field(body, "role", "role")
    if role is not None or creating:
        if role not in ROLES:
            raise invalid(
                f"role must be one of {', '.join(ROLES)} (got {role!r})", field="role", reason="INVALID_ROLE"
            )
        values["role"] = role
    display_name = string_field(body, "displayName", "display_name", limit=MAX_DISPLAY_NAME)
    if display_name is not None:
        values["display_name"] = display_name
    email = string_field(body, "email", "email", limit=MAX_EMAIL)
    if email is not None:
        if email and not _EMAIL.fullmatch(email):
            raise invalid(f"email {email!r} is not an email address", field="email", reason="INVALID_EMAIL")
        values["email"] = email
    service = field(body, "serviceAccount", "service_account")
    if service is not None:
        if not isinstance(service, bool):
            raise invalid("serviceAccount must be true or false", field="serviceAccount")
        values["service_account"] = service
    return values


def _default_user_id(email: str) -> str:
    """An id from an email's local part (``Jane.Doe@x`` -> ``jane-doe``), when no userId is given."""
    local = email.partition("@")[0].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", local).strip("-")
    slug = slug.lstrip("0123456789-")[:63].rstrip("-")
    return slug


@router.post("/v1/accounts/{account_id}/users", include_in_schema=False)
async def create_user(account_id: str, request: Request) -> Response:
    admitted = await admit(request, {"account_id": account_id}, _manage(account_id), body=True)
    return await run_in_threadpool(_create_user, account_id, request, admitted.body)


def _manage(account_id: str) -> Permission:
    """MANAGE_USERS in the account (another account: NOT_FOUND)."""
    return Permission(Action.MANAGE_USERS, account_id, not_found("account", f"accounts/{account_id}"))


def _self_or_admin(account_id: str, user_id: str) -> Permission:
    """Anyone on themselves, admins on anyone of their account (another account: NOT_FOUND)."""
    return Permission(
        lambda p: Action.READ_ACCOUNT if p.user_id == user_id else Action.MANAGE_USERS,
        account_id,
        not_found("user", user_name(account_id, user_id)),
    )


def _create_user(account_id: str, request: Request, raw: bytes) -> Response:
    body = json_object(raw)
    if isinstance(body.get("user"), dict) and set(body) <= {"user", "userId", "user_id"}:
        body = body["user"]  # the AIP-133 wrapped form
    values = _values(body, creating=True)
    user_id = query_param(request, "userId", "user_id") or ""
    if not user_id:
        user_id = _default_user_id(values.get("email", ""))
        if not user_id:
            raise invalid("userId is required (or an email to derive it from)", field="userId")
    check_id_value(user_id, "user id", "userId")
    name = user_name(account_id, user_id)
    note_resource(name)
    row = request_store(request).users.create_user(account_id, user_id, values)  # UserExists: 409 (the app's)
    return json_response(user_json(row))


@router.get("/v1/accounts/{account_id}/users/{user_id}", include_in_schema=False)
async def get_user(account_id: str, user_id: str, request: Request) -> Response:
    ids = {"account_id": account_id, "user_id": user_id}
    await admit(request, ids, _self_or_admin(account_id, user_id))
    return await run_in_threadpool(_get_user, account_id, user_id, request)


def _get_user(account_id: str, user_id: str, request: Request) -> Response:
    name = user_name(account_id, user_id)
    mask = read_mask(request, USER)
    row = request_store(request).users.get_user(account_id, user_id)
    if row is None:
        raise not_found("user", name)
    return json_response(apply_read_mask(user_json(row), mask))


@router.get("/v1/accounts/{account_id}/users", include_in_schema=False)
async def list_users(account_id: str, request: Request) -> Response:
    await admit(request, {"account_id": account_id}, _manage(account_id))
    return await run_in_threadpool(_list_users, account_id, request)


def _list_users(account_id: str, request: Request) -> Response:
    name_field = USER.field("name")
    assert name_field is not None
    return list_response(
        request,
        collection="users",
        scope=f"users:{account_id}",
        resources=[user_json(r) for r in request_store(request).users.list_users(account_id)],
        schema=USER_FILTER_SCHEMA,
        tiebreaker=name_field,
        search_fields=_user_search,
    )


@router.patch("/v1/accounts/{account_id}/users/{user_id}", include_in_schema=False)
async def update_user(account_id: str, user_id: str, request: Request) -> Response:
    ids = {"account_id": account_id, "user_id": user_id}
    admitted = await admit(request, ids, _self_or_admin(account_id, user_id), body=True)
    return await run_in_threadpool(_update_user, account_id, user_id, request, admitted)


def _update_user(account_id: str, user_id: str, request: Request, admitted: Admitted) -> Response:
    principal = admitted.principal
    name = user_name(account_id, user_id)
    body = json_object(admitted.body)
    mask_text = query_param(request, "updateMask", "update_mask")
    if mask_text and mask_text.strip() not in ("", "*"):
        allowed = {"role", "displayName", "display_name", "email", "serviceAccount", "service_account"}
        paths = [p.strip() for p in mask_text.split(",")]
        bad = [p for p in paths if p not in allowed]
        if bad:
            raise invalid(f"updateMask: {bad[0]!r} is not a writable User field", field="updateMask")
        body = {k: v for k, v in body.items() if k in paths}
    values = _values(body, creating=False)

    def change(row: Any) -> dict[str, Any]:
        role = values.get("role", row.role)
        if principal.user_id == user_id and ROLE_RANK[role] > ROLE_RANK.get(row.role, 0):
            raise ApiError(
                "PERMISSION_DENIED",
                f"{name} cannot raise its own role from {row.role!r} to {role!r}",
                reason="ROLE_ESCALATION",
                metadata={"role": row.role},
            )
        return dict(values)

    # NoSuchUser (404) and LastAdmin (400 FAILED_PRECONDITION) are answered by the app's error boundary.
    row = request_store(request).users.update_user(account_id, user_id, change)
    return json_response(user_json(row))


@router.delete("/v1/accounts/{account_id}/users/{user_id}", include_in_schema=False)
async def delete_user(account_id: str, user_id: str, request: Request) -> Response:
    ids = {"account_id": account_id, "user_id": user_id}
    permission = Permission(
        Action.MANAGE_USERS, account_id, not_found("user", user_name(account_id, user_id))
    )
    await admit(request, ids, permission)
    return await run_in_threadpool(_delete_user, account_id, user_id, request)


def _delete_user(account_id: str, user_id: str, request: Request) -> Response:
    request_store(request).users.delete_user(account_id, user_id)  # NoSuchUser, LastAdmin: the app's boundary
    return json_response({})
