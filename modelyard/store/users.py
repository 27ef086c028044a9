"""Users of an account, their roles, and the writes on them and their keys.

Every write runs in one ``Database.write`` transaction, which also writes the request's audit entry
(``store/audit.py``). The last admin of an account can be neither demoted nor removed: the check and the
write happen under a lock on the account's admins (PostgreSQL ``FOR UPDATE``; SQLite's write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.resources.identity import user_name
from modelyard.store import keys as apikeys
from modelyard.store.accounts import Accounts
from modelyard.store.connections import Database
from modelyard.store.errors import AlreadyExists, NotFound, Refused
from modelyard.store.keys import ApiKeys
from modelyard.store.tables import accounts, api_keys, users

BOOTSTRAP_USER = "admin"


class UserExists(AlreadyExists):
    """``args[0]``: the user's name (``accounts/a/users/u``)."""


class NoSuchUser(NotFound):
    """``args[0]``: the user's name (``accounts/a/users/u``)."""


class LastAdmin(Refused):
    """The change would leave the account without an admin."""

    def __init__(self, account_id: str, user_id: str) -> None:
        super().__init__(
            f"{user_name(account_id, user_id)} is the last admin of account {account_id!r}; make another "
            "user an admin first",
            "LAST_ADMIN",
        )


class Users:
    """Users and their keys' writes; ``keys`` is the process's key cache (told when keys go away)."""

    def __init__(self, database: Database, accounts: Accounts, keys: ApiKeys) -> None:
        self.database = database
        self.accounts = accounts
        self.keys = keys

    def get_user(self, account_id: str, user_id: str) -> Any | None:
        with self.database.engine.connect() as conn:
            return conn.execute(
                select(users).where(users.c.account_id == account_id, users.c.user_id == user_id)
            ).first()

    def list_users(self, account_id: str) -> list[Any]:
        with self.database.engine.connect() as conn:
            return list(conn.execute(select(users).where(users.c.account_id == account_id)))

    def get_account(self, account_id: str) -> Any | None:
        with self.database.engine.connect() as conn:
            return conn.execute(select(accounts).where(accounts.c.account_id == account_id)).first()

    @staticmethod
    def _insert_user(conn: Connection, account_id: str, user_id: str, values: dict[str, Any]) -> None:
        now = now_nanos()
        conn.execute(
            insert(users).values(
                account_id=account_id,
                user_id=user_id,
                role=values["role"],
                display_name=values.get("display_name", ""),
                email=values.get("email", ""),
                service_account=bool(values.get("service_account", False)),
                create_time=now,
                update_time=now,
            )
        )

    def create_user(self, account_id: str, user_id: str, values: dict[str, Any]) -> Any:
        """Insert a user (``role``, ``display_name``, ``email``, ``service_account``). Raises UserExists."""
        with self.database.write() as conn:
            try:
                with conn.begin_nested():
                    self._insert_user(conn, account_id, user_id, values)
            except IntegrityError:
                raise UserExists(user_name(account_id, user_id)) from None
            return conn.execute(
                select(users).where(users.c.account_id == account_id, users.c.user_id == user_id)
            ).one()

    @staticmethod
    def _admins_left(conn: Connection, account_id: str, dialect: str, without: str) -> int:
        stmt = select(users.c.user_id).where(users.c.account_id == account_id, users.c.role == "admin")
        if dialect == "postgresql":
            stmt = stmt.with_for_update()
        return sum(1 for r in conn.execute(stmt) if r[0] != without)

    def _locked_user(self, conn: Connection, account_id: str, user_id: str) -> Any:
        """The user's row, locked for the rest of the transaction on PostgreSQL. Raises NoSuchUser."""
        stmt = select(users).where(users.c.account_id == account_id, users.c.user_id == user_id)
        if self.database.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            raise NoSuchUser(user_name(account_id, user_id))
        return row

    def update_user(self, account_id: str, user_id: str, change: Callable[[Any], dict[str, Any]]) -> Any:
        """Read-modify-write a user under a lock: ``change`` gets the current row and returns the columns to
        set (it may raise to refuse). Raises NoSuchUser, LastAdmin."""
        with self.database.write() as conn:
            row = self._locked_user(conn, account_id, user_id)
            values = change(row)
            if (
                row.role == "admin"
                and values.get("role", "admin") != "admin"
                and not self._admins_left(conn, account_id, self.database.dialect, without=user_id)
            ):
                raise LastAdmin(account_id, user_id)
            values["update_time"] = max(now_nanos(), int(row.update_time) + 1000)
            conn.execute(
                update(users)
                .where(users.c.account_id == account_id, users.c.user_id == user_id)
                .values(**values)
            )
            updated = conn.execute(
                select(users).where(users.c.account_id == account_id, users.c.user_id == user_id)
            ).one()
        if values.get("role", row.role) != row.role:
            self.keys.forget(account_id=account_id)  # this process sees the new role at once
        return updated

    def delete_user(self, account_id: str, user_id: str) -> None:
        """Remove a user and their keys. Raises NoSuchUser, LastAdmin."""
        with self.database.write() as conn:
            row = self._locked_user(conn, account_id, user_id)
            if row.role == "admin" and not self._admins_left(
                conn, account_id, self.database.dialect, without=user_id
            ):
                raise LastAdmin(account_id, user_id)
            gone = conn.execute(
                delete(api_keys)
                .where(api_keys.c.account_id == account_id, api_keys.c.user_id == user_id)
                .returning(api_keys.c.key_id)
            ).all()
            conn.execute(delete(users).where(users.c.account_id == account_id, users.c.user_id == user_id))
        self.keys.forget({r[0] for r in gone})

    def create_key(
        self, account_id: str, user_id: str, *, display_name: str, expire_time: int, key_id: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new key for an existing user. Raises NoSuchUser."""
        with self.database.write() as conn:
            if self.get_user_in(conn, account_id, user_id) is None:
                raise NoSuchUser(user_name(account_id, user_id))
            return apikeys.insert_key(
                conn, account_id, user_id, display_name=display_name, expire_time=expire_time, key_id=key_id
            )

    @staticmethod
    def get_user_in(conn: Connection, account_id: str, user_id: str) -> Any | None:
        return conn.execute(
            select(users).where(users.c.account_id == account_id, users.c.user_id == user_id)
        ).first()

    def delete_key(self, key_id: str, *, account_id: str | None, user_id: str | None) -> bool:
        """Delete a key (of that account and user, when given); this process forgets it at once."""
        with self.database.write() as conn:
            deleted = apikeys.delete_key(conn, key_id, account_id=account_id, user_id=user_id)
        self.keys.forget({key_id})
        return deleted

    def bootstrap_key(
        self,
        account_id: str,
        *,
        user_id: str = BOOTSTRAP_USER,
        display_name: str = "",
        email: str = "",
        expire_time: int = 0,
    ) -> tuple[dict[str, Any], str, bool]:
        """``modelyard keys create``: create the account and the user (as ``admin``) when missing, then a key
        for the user. Returns the key's values, the plaintext and whether the user was created."""
        with self.database.write() as conn:
            self.accounts.ensure(account_id, conn)
            created = False
            if self.get_user_in(conn, account_id, user_id) is None:
                try:
                    with conn.begin_nested():
                        self._insert_user(conn, account_id, user_id, {"role": "admin", "email": email})
                    created = True
                except IntegrityError:
                    pass  # created concurrently
            values, key = apikeys.insert_key(
                conn, account_id, user_id, display_name=display_name, expire_time=expire_time
            )
        return values, key, created
