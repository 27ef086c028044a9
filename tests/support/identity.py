"""Teams for the identity tests: an account with one user (and key) per role, made on the database
directly as ``modelyard keys create`` and an admin would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from modelyard.resources.identity import ROLES
from tests.support.server import Server


@dataclass
class Team:
    account: str
    base_url: str
    keys: dict[str, str]  # user id -> API key
    key_ids: dict[str, str]
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, user: str) -> httpx.Client:
        c = httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.keys[user]}"}, timeout=30
        )
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()


def make_team(server: Server, prefix: str = "team") -> Team:
    """An account whose users are named after their roles: ``admin``, ``user``, ``contributor``,
    ``inference-user``, each with one key and the email ``<role>@example.com``."""
    account = f"{prefix}-{secrets.token_hex(4)}"
    store = server.store
    values, key, _ = store.users.bootstrap_key(account, email="admin@example.com")
    keys, key_ids = {"admin": key}, {"admin": values["key_id"]}
    for role in ROLES[1:]:
        store.users.create_user(account, role, {"role": role, "email": f"{role}@example.com"})
        values, key = store.users.create_key(account, role, display_name="test", expire_time=0)
        keys[role], key_ids[role] = key, values["key_id"]
    return Team(account, server.base_url, keys, key_ids)
