"""API keys: stored only as SHA-256 hashes; the account of a key is cached for a few seconds."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import insert, select

from modelyard.aip.timestamps import now_nanos
from modelyard.store.accounts import Accounts
from modelyard.store.connections import Database
from modelyard.store.tables import api_keys

#: How long an authenticated key's account is trusted without reading the database again.
KEY_CACHE_SECONDS = 10
#: Entries in the key cache before it is emptied.
KEY_CACHE_SIZE = 10_000


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, database: Database, accounts: Accounts) -> None:
        self.database = database
        self.accounts = accounts
        self._cache: dict[bytes, tuple[str, float]] = {}  # hash -> (account, valid until)

    def create(self, account_id: str, display_name: str = "") -> str:
        """A new key of the account (created if needed); only its hash is kept."""
        key = "my_" + secrets.token_urlsafe(32)
        with self.database.write() as conn:
            self.accounts.ensure(account_id, conn)
            conn.execute(
                insert(api_keys).values(
                    key_id=secrets.token_hex(8),
                    account_id=account_id,
                    key_hash=hash_key(key),
                    display_name=display_name,
                    prefix=key[:8],
                    create_time=now_nanos(),
                )
            )
        return key

    def cached_account(self, key: str) -> str | None:
        """The account of an API key seen in the last few seconds, without reading the database."""
        return self._cached(hash_key(key))

    def authenticate(self, key: str) -> str | None:
        """The account an API key belongs to (cached for a few seconds), or None."""
        digest = hash_key(key)
        hit = self._cached(digest)
        if hit is not None:
            return hit
        with self.database.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.account_id).where(api_keys.c.key_hash == digest)).first()
        if row is None:
            return None
        if len(self._cache) > KEY_CACHE_SIZE:
            self._cache.clear()
        self._cache[digest] = (row[0], time.monotonic() + KEY_CACHE_SECONDS)
        return str(row[0])

    def _cached(self, digest: bytes) -> str | None:
        hit = self._cache.get(digest)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None
