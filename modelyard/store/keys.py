"""API keys: owned by users, stored only as SHA-256 hashes, checked in constant time, cached briefly.

A key is ``my_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored, so a key is
found by the hash (an index lookup) and then compared with :func:`hmac.compare_digest`, on a cache hit as
well as after a database read.

Revocation and expiry across replicas: each process caches a key's owner for at most
``KEY_CACHE_SECONDS`` (2 s); after that the next request with the key reads the database again, so a
deleted key is refused by every replica within that time (the rule is 5 s). Expiry is checked on every
request against the cached expiry time, so an expired key is refused at once. Deleting a key also drops it
from the deleting process's cache immediately. Keys are created by ``store/users.py`` (a key belongs to a
user, who must exist).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from modelyard.aip.timestamps import now_nanos
from modelyard.resources.identity import user_name
from modelyard.store.connections import Database
from modelyard.store.tables import api_keys, users

#: How long a process trusts a cached key check (seconds): the bound on how stale a revocation can be.
KEY_CACHE_SECONDS = 2.0
#: Entries in the key cache before it is emptied.
KEY_CACHE_SIZE = 10_000
KEY_PREFIX = "my_"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class KeyOwner:
    """What a valid key stands for."""

    account_id: str
    user_id: str
    role: str
    key_id: str
    email: str
    expire_time: int  # nanoseconds since the epoch; 0: never

    @property
    def principal(self) -> str:
        """How the audit log names the caller: the user's email, else the user's resource name."""
        return self.email or user_name(self.account_id, self.user_id)

    def expired(self, now_ns: int) -> bool:
        return bool(self.expire_time) and self.expire_time <= now_ns


class ApiKeys:
    """Key checks of one process: ``check`` reads the database at most every ``ttl`` seconds per key."""

    def __init__(self, database: Database, *, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.database = database
        self.engine = database.engine
        self.ttl = ttl
        self._entries: dict[bytes, tuple[bytes, KeyOwner, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> KeyOwner | None:
        """The owner of a key checked less than ``ttl`` seconds ago (and not expired), without a read."""
        digest = hash_key(key)
        hit = self._entries.get(digest)
        if hit is None or hit[2] <= time.monotonic() or not hmac.compare_digest(hit[0], digest):
            return None
        if hit[1].expired(time.time_ns()):
            return None
        return hit[1]

    def check(self, key: str) -> KeyOwner | None:
        """The owner of a valid key, or None (unknown, deleted or expired: the caller cannot tell which)."""
        owner = self.cached(key)
        if owner is not None:
            return owner
        digest = hash_key(key)
        stmt = (
            select(
                api_keys.c.key_hash,
                api_keys.c.key_id,
                api_keys.c.account_id,
                api_keys.c.user_id,
                api_keys.c.expire_time,
                users.c.role,
                users.c.email,
            )
            .join_from(
                api_keys,
                users,
                (users.c.account_id == api_keys.c.account_id) & (users.c.user_id == api_keys.c.user_id),
            )
            .where(api_keys.c.key_hash == digest)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or not hmac.compare_digest(bytes(row.key_hash), digest):
            self._entries.pop(digest, None)
            return None
        owner = KeyOwner(
            row.account_id, row.user_id, row.role, row.key_id, row.email, int(row.expire_time or 0)
        )
        with self._lock:
            if len(self._entries) >= KEY_CACHE_SIZE:
                self._entries.clear()
            self._entries[digest] = (digest, owner, time.monotonic() + self.ttl)
        if owner.expired(time.time_ns()):
            return None
        return owner

    def cached_account(self, key: str) -> str | None:
        """The account of a key checked in the last seconds, without reading the database."""
        owner = self.cached(key)
        return owner.account_id if owner is not None else None

    def authenticate(self, key: str) -> str | None:
        """The account a valid key belongs to, or None."""
        owner = self.check(key)
        return owner.account_id if owner is not None else None

    def forget(self, key_ids: set[str] | None = None, *, account_id: str | None = None) -> None:
        """Drop cached checks of these keys (or of every key of an account) in this process."""
        with self._lock:
            for digest, (_, owner, _) in list(self._entries.items()):
                if (key_ids is not None and owner.key_id in key_ids) or owner.account_id == account_id:
                    self._entries.pop(digest, None)


def insert_key(
    conn: Connection,
    account_id: str,
    user_id: str,
    *,
    display_name: str = "",
    expire_time: int = 0,
    key_id: str = "",
) -> tuple[dict[str, Any], str]:
    """Insert a new key for a user (who must exist); returns its row values and the plaintext."""
    key = new_key()
    values = {
        "key_id": key_id or new_key_id(),
        "account_id": account_id,
        "user_id": user_id,
        "key_hash": hash_key(key),
        "display_name": display_name,
        "prefix": key[:8],
        "create_time": now_nanos(),
        "expire_time": expire_time,
    }
    conn.execute(insert(api_keys).values(**values))
    return values, key


def list_keys(engine: Engine, account_id: str | None, user_id: str | None = None) -> list[Any]:
    """Keys (never their hashes) of a user, of an account, or of every account; with the owner's email."""
    stmt = select(
        api_keys.c.key_id,
        api_keys.c.account_id,
        api_keys.c.user_id,
        api_keys.c.display_name,
        api_keys.c.prefix,
        api_keys.c.create_time,
        api_keys.c.expire_time,
        users.c.email,
    ).join_from(
        api_keys,
        users,
        (users.c.account_id == api_keys.c.account_id) & (users.c.user_id == api_keys.c.user_id),
    )
    if account_id is not None:
        stmt = stmt.where(api_keys.c.account_id == account_id)
    if user_id is not None:
        stmt = stmt.where(api_keys.c.user_id == user_id)
    with engine.connect() as conn:
        return list(conn.execute(stmt.order_by(api_keys.c.account_id, api_keys.c.create_time)))


def delete_key(conn: Connection, key_id: str, *, account_id: str | None, user_id: str | None) -> bool:
    """Delete a key (only if it belongs to the account and user given). Whether one was deleted."""
    stmt = delete(api_keys).where(api_keys.c.key_id == key_id)
    if account_id is not None:
        stmt = stmt.where(api_keys.c.account_id == account_id)
    if user_id is not None:
        stmt = stmt.where(api_keys.c.user_id == user_id)
    return bool(conn.execute(stmt).rowcount)
