"""Alembic migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelyard.store.engine import make_engine
from modelyard.store.migrate import MIGRATIONS, alembic_config, upgrade
from modelyard.store.tables import metadata
from tests.conftest import Server


def test_migrated_schema_matches_metadata(server: Server) -> None:
    engine = make_engine(server.db_url)
    upgrade(engine)  # idempotent: a second run is a no-op
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        diff = compare_metadata(ctx, metadata)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert ctx.get_current_revision() == head
    engine.dispose()
    assert diff == [], diff
    assert MIGRATIONS.is_dir()
