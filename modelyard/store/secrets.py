"""Secrets shared by every server on one database (the page-token key, URL signing keys)."""

from __future__ import annotations

import os

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.store.connections import Database
from modelyard.store.tables import server_secrets


def shared_secret(database: Database, name: str) -> bytes:
    """A 32-byte secret shared by every server on this database (created on first use)."""
    with database.write() as conn:
        row = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).first()
        if row is not None:
            return bytes(row[0])
        value = os.urandom(32)
        try:
            with conn.begin_nested():
                conn.execute(insert(server_secrets).values(name=name, value=value))
        except IntegrityError:
            row = conn.execute(select(server_secrets.c.value).where(server_secrets.c.name == name)).one()
            return bytes(row[0])
        return value
