"""Create or upgrade the schema with Alembic (every command calls this before using a database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the latest schema (idempotent, safe for concurrent servers on PostgreSQL)."""
    cfg = alembic_config(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # Serialise concurrent migrations of one database (several replicas starting at once).
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727374)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
