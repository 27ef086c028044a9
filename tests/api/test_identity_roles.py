"""Every role against every route, through the real server on both databases: the role table of
``shared/spec/decisions.md`` ("Identity") as one table, checked cell by cell."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelyard.resources.identity import ROLES
from tests.support.api import base_model
from tests.support.identity import Team, make_team
from tests.support.server import Server

A, U, C, I = "admin", "user", "contributor", "inference-user"  # noqa: E741

#: route -> the roles it answers 200 to (every other role gets 403 PERMISSION_DENIED).
ALLOWED: dict[str, set[str]] = {
    "list models": {A, U, C, I},
    "get model": {A, U, C, I},
    "create model": {A, U, C},
    "update model": {A, U, C},
    "delete model": {A, U},
    "list accounts": {A, U, C, I},
    "get account": {A, U, C, I},
    "get self": {A, U, C, I},
    "update self (display name)": {A, U, C, I},
    "list own keys": {A, U, C, I},
    "create own key": {A, U, C, I},
    "delete own key": {A, U, C, I},
    "list users": {A},
    "get another user": {A},
    "create user": {A},
    "update another user": {A},
    "delete another user": {A},
    "list another user's keys": {A},
    "create another user's key": {A},
    "delete another user's key": {A},
    "read the audit log": {A},
}

Call = Callable[[httpx.Client, str], httpx.Response]


def _calls(server: Server, team: Team, role: str) -> dict[str, Call]:
    """One request per route, each on resources of its own (made by the admin beforehand)."""
    a = team.account
    admin = team.client("admin")
    model = f"m-{secrets.token_hex(3)}"
    assert admin.post(f"/v1/accounts/{a}/models", json={"modelId": model, "model": base_model()}).is_success
    victim = f"v-{secrets.token_hex(3)}"
    server.store.users.create_user(a, victim, {"role": "user"})
    victim_key, _ = server.store.users.create_key(a, victim, display_name="", expire_time=0)
    own_key, _ = server.store.users.create_key(a, role, display_name="", expire_time=0)
    other = "user" if role == "admin" else "admin"
    users = f"/v1/accounts/{a}/users"
    return {
        "list models": lambda c, _: c.get(f"/v1/accounts/{a}/models"),
        "get model": lambda c, _: c.get(f"/v1/accounts/{a}/models/{model}"),
        "create model": lambda c, _: c.post(
            f"/v1/accounts/{a}/models", json={"modelId": f"n-{secrets.token_hex(3)}", "model": base_model()}
        ),
        "update model": lambda c, _: c.patch(f"/v1/accounts/{a}/models/{model}", json={"description": "x"}),
        "delete model": lambda c, _: c.delete(f"/v1/accounts/{a}/models/{model}"),
        "list accounts": lambda c, _: c.get("/v1/accounts"),
        "get account": lambda c, _: c.get(f"/v1/accounts/{a}"),
        "get self": lambda c, me: c.get(f"{users}/{me}"),
        "update self (display name)": lambda c, me: c.patch(f"{users}/{me}", json={"displayName": "Me"}),
        "list own keys": lambda c, me: c.get(f"{users}/{me}/apiKeys"),
        "create own key": lambda c, me: c.post(f"{users}/{me}/apiKeys", json={"apiKey": {}}),
        "delete own key": lambda c, me: c.post(
            f"{users}/{me}/apiKeys:delete", json={"keyId": own_key["key_id"]}
        ),
        "list users": lambda c, _: c.get(users),
        "get another user": lambda c, _: c.get(f"{users}/{other}"),
        "create user": lambda c, _: c.post(
            users, params={"userId": f"n-{secrets.token_hex(3)}"}, json={"role": U}
        ),
        "update another user": lambda c, _: c.patch(f"{users}/{victim}", json={"displayName": "V"}),
        "list another user's keys": lambda c, _: c.get(f"{users}/{other}/apiKeys"),
        "create another user's key": lambda c, _: c.post(f"{users}/{other}/apiKeys", json={"apiKey": {}}),
        "delete another user's key": lambda c, _: c.post(
            f"{users}/{victim}/apiKeys:delete", json={"keyId": victim_key["key_id"]}
        ),
        "read the audit log": lambda c, _: c.get(f"/v1/accounts/{a}/auditLogs"),
        "delete another user": lambda c, _: c.delete(f"{users}/{victim}"),  # last: it takes their keys
    }


@pytest.fixture()
def team(server: Server) -> Iterator[Team]:
    t = make_team(server, "roles")
    yield t
    t.close()


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_table_says(server: Server, team: Team, role: str) -> None:
    calls = _calls(server, team, role)
    assert set(calls) == set(ALLOWED), "the table names every route"
    client = team.client(role)
    got: dict[str, int] = {}
    for route, call in calls.items():
        resp = call(client, role)
        got[route] = resp.status_code
        if resp.status_code == 403:
            body = resp.json()
            assert body["code"] == 7 and role in body["message"], body  # PERMISSION_DENIED names the role
    expected = {route: 200 if role in roles else 403 for route, roles in ALLOWED.items()}
    assert got == expected


def test_every_route_refuses_a_missing_or_bad_key(server: Server, team: Team) -> None:
    anonymous = httpx.Client(base_url=server.base_url, timeout=30)
    bad = httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer my_nope"}, timeout=30)
    try:
        calls = _calls(server, team, "user")
        for client in (anonymous, bad):
            for route, call in calls.items():
                resp = call(client, "user")
                assert resp.status_code == 401, (route, resp.text)
                assert resp.json()["code"] == 16
    finally:
        anonymous.close()
        bad.close()


def test_another_accounts_admin_gets_the_same_answer_as_for_a_missing_account(server: Server) -> None:
    """Users, keys and the audit log of another account: 404, exactly as for an account that does not
    exist; model writes there: 403 (the existing rule), before anything is looked up."""
    mine, theirs = make_team(server, "mine"), make_team(server, "theirs")
    try:
        admin = mine.client("admin")
        for account in (theirs.account, f"ghost-{secrets.token_hex(4)}"):
            for path in ("users/admin", "users", "users/admin/apiKeys", "auditLogs", ""):
                resp = admin.get(f"/v1/accounts/{account}/{path}".rstrip("/"))
                assert resp.status_code == 404, (account, path, resp.text)
                assert resp.json()["message"].endswith("not found")
            write = admin.post(f"/v1/accounts/{account}/models", json={"modelId": "x", "model": base_model()})
            assert write.status_code == 403, write.text
    finally:
        mine.close()
        theirs.close()
