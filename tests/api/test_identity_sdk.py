"""Accounts, users and API keys through the official ``fireworks-ai`` SDK (1.2.30) against a real
``modelyard serve`` on SQLite and PostgreSQL (``shared/spec/decisions.md``, "Identity")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fireworks import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Fireworks,
    NotFoundError,
    PermissionDeniedError,
)
from fireworks.types import Account, APIKey, User

from tests.support.identity import Team, make_team
from tests.support.server import Server


@pytest.fixture()
def team(server: Server) -> Iterator[Team]:
    t = make_team(server)
    yield t
    t.close()


def sdk(server: Server, team: Team, user: str = "admin", *, key: str | None = None) -> Fireworks:
    return Fireworks(
        api_key=key or team.keys[user], base_url=server.base_url, account_id=team.account, max_retries=0
    )


def test_accounts_list_and_get_with_read_mask(server: Server, team: Team) -> None:
    with sdk(server, team, "inference-user") as client:
        accounts = list(client.accounts.list())
        assert [a.name for a in accounts] == [f"accounts/{team.account}"]
        assert isinstance(accounts[0], Account) and accounts[0].state == "READY"
        assert accounts[0].create_time is not None
        got = client.accounts.get(read_mask="name")
        assert got.name == f"accounts/{team.account}" and got.create_time is None
        with pytest.raises(NotFoundError):
            client.accounts.get(account_id="fireworks")  # another account: 404 whether or not it exists
        with pytest.raises(BadRequestError):
            client.accounts.get(read_mask="nope")


def test_user_create_get_list_update(server: Server, team: Team) -> None:
    with sdk(server, team) as client:
        created = client.users.create(
            role="user", user_id="alice", email="alice@example.com", display_name="Al"
        )
        assert isinstance(created, User)
        assert created.name == f"accounts/{team.account}/users/alice"
        assert (created.role, created.email, created.display_name, created.state) == (
            "user", "alice@example.com", "Al", "READY",
        )  # fmt: skip
        assert client.users.get("alice").email == "alice@example.com"
        derived = client.users.create(role="contributor", email="Bob.Smith@example.com")
        assert derived.name == f"accounts/{team.account}/users/bob-smith"
        with pytest.raises(ConflictError):
            client.users.create(role="user", user_id="alice")
        with pytest.raises(BadRequestError) as bad:
            client.users.create(role="owner", user_id="carol")
        assert "role must be one of admin, user, contributor, inference-user" in str(bad.value)
        with pytest.raises(BadRequestError):
            client.users.create(role="user", user_id="Carol!")

        updated = client.users.update("alice", role="inference-user", display_name="Alice")
        assert (updated.role, updated.display_name, updated.email) == (
            "inference-user",
            "Alice",
            "alice@example.com",
        )
        assert updated.update_time is not None and updated.create_time is not None
        assert updated.update_time > updated.create_time

        everyone = [u.name.rsplit("/", 1)[1] for u in client.users.list(page_size=2)]
        assert everyone == sorted(["admin", "user", "contributor", "inference-user", "alice", "bob-smith"])
        first = client.users.list(page_size=2)
        assert len(first.users) == 2 and first.next_page_token
        readers = client.users.list(filter='role = "inference-user"', order_by="email desc")
        assert [u.email for u in readers] == ["inference-user@example.com", "alice@example.com"]
        assert [u.email for u in client.users.list(filter="smith")] == ["Bob.Smith@example.com"]
        with pytest.raises(BadRequestError):
            client.users.list(filter="rol = admin")
        with pytest.raises(NotFoundError):
            client.users.get("nobody")


def test_api_keys_create_list_use_and_delete(server: Server, team: Team) -> None:
    expire = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with sdk(server, team, "user") as client:
        key = client.api_keys.create("user", api_key={"display_name": "ci", "expire_time": expire})
        assert isinstance(key, APIKey)
        assert key.key and key.key.startswith("my_") and key.prefix == key.key[:8]
        assert key.display_name == "ci" and key.secure is True and key.email == "user@example.com"
        assert key.expire_time is not None and abs((key.expire_time - expire).total_seconds()) < 1
        default = client.api_keys.create("user", api_key={})
        assert default.display_name == "default" and default.expire_time is None

        listed = list(client.api_keys.list("user"))
        assert {k.key_id for k in listed} >= {key.key_id, default.key_id, team.key_ids["user"]}
        assert all(k.key is None for k in listed), "a listed key never carries its secret"

        with sdk(server, team, key=key.key) as new_client:
            assert [a.name for a in new_client.accounts.list()] == [f"accounts/{team.account}"]
            client.api_keys.delete("user", key_id=key.key_id)
            with pytest.raises(AuthenticationError):
                new_client.accounts.list()  # the deleting process forgets the key at once
        assert key.key_id not in {k.key_id for k in client.api_keys.list("user")}
        with pytest.raises(NotFoundError):
            client.api_keys.delete("user", key_id=key.key_id)
        with pytest.raises(BadRequestError):
            client.api_keys.create("user", api_key={"expire_time": "2001-01-01T00:00:00Z"})


def test_role_rules_no_self_raise_and_last_admin(server: Server, team: Team) -> None:
    with sdk(server, team, "contributor") as contributor:
        with pytest.raises(PermissionDeniedError) as raised:
            contributor.users.update("contributor", role="admin")
        assert "cannot raise its own role" in str(raised.value)
        lowered = contributor.users.update("contributor", role="inference-user", display_name="C")
        assert lowered.role == "inference-user"
        with pytest.raises(PermissionDeniedError):
            contributor.users.update("user", role="inference-user")  # not an admin any more than before
        with pytest.raises(PermissionDeniedError):
            contributor.users.create(role="admin", user_id="mallory")
    with sdk(server, team) as admin:
        with pytest.raises(BadRequestError) as last:
            admin.users.update("admin", role="user")
        assert "last admin" in str(last.value)
        admin.users.update("user", role="admin")  # now there are two
        assert admin.users.update("admin", role="user").role == "user"
    with sdk(server, team, "user") as new_admin:
        with pytest.raises(BadRequestError):
            new_admin.delete(
                f"/v1/accounts/{team.account}/users/user", cast_to=object
            )  # the last admin again
        assert [u.role for u in new_admin.users.list(filter='role = "admin"')] == ["admin"]


def test_another_accounts_users_and_keys_are_not_found(server: Server, team: Team) -> None:
    other = make_team(server, "other")
    try:
        with sdk(server, team) as admin:
            for user in ("admin", "no-such-user"):  # existing or not: the same answer
                with pytest.raises(NotFoundError) as seen:
                    admin.users.get(user, account_id=other.account)
                assert other.account in str(seen.value)
                with pytest.raises(NotFoundError):
                    admin.api_keys.list(user, account_id=other.account)
                with pytest.raises(NotFoundError):
                    admin.api_keys.delete(user, account_id=other.account, key_id=other.key_ids["admin"])
            with pytest.raises(NotFoundError):
                admin.users.list(account_id=other.account)
            with pytest.raises(NotFoundError):
                admin.api_keys.delete("admin", key_id=other.key_ids["admin"])  # their key id, our user
        with sdk(server, other) as theirs:
            assert [a.name for a in theirs.accounts.list()] == [f"accounts/{other.account}"]
    finally:
        other.close()
