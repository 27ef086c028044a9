"""Migration 0003 (identity) from a database at 0002 holding keys: every key stays valid, as a key of a
bootstrap ``admin`` user of its account (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets

from alembic import command
from sqlalchemy import text

from modelyard.store.connections import Database
from modelyard.store.engine import make_engine
from modelyard.store.keys import ApiKeys, hash_key
from modelyard.store.migrate import alembic_config, upgrade


def test_migration_0003_keeps_existing_keys_valid(blank_db: str) -> None:
    """A database at 0002 with keys: after the upgrade each account has an admin user owning its keys."""
    for url in (blank_db,):
        engine = make_engine(url)
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
        keys = {acct: "my_" + secrets.token_urlsafe(32) for acct in ("alpha", "beta")}
        with engine.begin() as conn:
            for acct, key in keys.items():
                conn.execute(
                    text("INSERT INTO accounts (account_id, create_time) VALUES (:a, 0)"), {"a": acct}
                )
                conn.execute(
                    text(
                        "INSERT INTO api_keys (key_id, account_id, key_hash, display_name, prefix, "
                        "create_time) VALUES (:i, :a, :h, 'old', :p, 0)"
                    ),
                    {"i": f"id-{acct}", "a": acct, "h": hash_key(key), "p": key[:8]},
                )
            conn.execute(text("INSERT INTO accounts (account_id, create_time) VALUES ('keyless', 0)"))
        upgrade(engine)
        cache = ApiKeys(Database(engine))
        for acct, key in keys.items():
            owner = cache.check(key)
            assert owner is not None
            assert (owner.account_id, owner.user_id, owner.role, owner.key_id) == (
                acct,
                "admin",
                "admin",
                f"id-{acct}",
            )
            assert owner.expire_time == 0
        with engine.connect() as conn:
            users = conn.execute(text("SELECT account_id, user_id, role FROM users ORDER BY 1")).all()
        assert [tuple(u) for u in users] == [("alpha", "admin", "admin"), ("beta", "admin", "admin")]
        engine.dispose()
