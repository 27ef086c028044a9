"""Alembic migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, insert, select, text

from modelyard.store.engine import make_engine
from modelyard.store.migrate import MIGRATIONS, alembic_config, upgrade
from modelyard.store.rows import resource_to_row
from modelyard.store.search import include_name
from modelyard.store.tables import accounts, metadata
from tests.support.server import Server


def test_migrated_schema_matches_metadata(server: Server) -> None:
    engine = make_engine(server.db_url)
    upgrade(engine)  # idempotent: a second run is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(ctx, metadata)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert ctx.get_current_revision() == head
    engine.dispose()
    assert diff == [], diff
    assert MIGRATIONS.is_dir()


def test_0002_backfills_exact_counts_of_existing_models(blank_db: str) -> None:
    """A database written by revision 0001 gets its per-account counts from the rows it already holds."""
    url = blank_db
    engine = make_engine(url)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    rows = [
        resource_to_row(
            {"name": f"accounts/{acct}/models/m{i}", "public": i % 2 == 0, "kind": "HF_BASE_MODEL"},
            account_id=acct,
            model_id=f"m{i}",
        )
        for acct, n in (("alpha", 5), ("beta", 2))
        for i in range(n)
    ]
    with engine.begin() as conn:
        for acct in ("alpha", "beta", "empty"):
            conn.execute(
                text("INSERT INTO accounts (account_id, create_time) VALUES (:a, 0)"),
                {"a": acct},
            )
        conn.execute(insert(Table("models", MetaData(), autoload_with=conn)), rows)
    upgrade(engine)
    with engine.connect() as conn:
        counts = select(accounts.c.account_id, accounts.c.model_count, accounts.c.public_count)
        got = {r[0]: (r[1], r[2]) for r in conn.execute(counts)}
    engine.dispose()
    assert got == {"alpha": (5, 3), "beta": (2, 1), "empty": (0, 0)}
