"""What the ``modelyard`` server-side commands share: the ``--db`` and ``--account`` options, the
consoles, and opening (and migrating) the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from modelyard.store.repository import Store

err = Console(stderr=True)
out = Console()

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://...); default $MODELYARD_DB."),
]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account id.")]


def open_store(db: str | None) -> Store:
    """Open the database (``db``, else the settings' default) and create or migrate its schema."""
    # Imported here: the API client commands need none of the database stack.
    from modelyard.settings import Settings
    from modelyard.store.engine import make_engine
    from modelyard.store.migrate import upgrade
    from modelyard.store.repository import Store

    store = Store(make_engine(Settings.from_env(database_url=db).resolved_database_url()))
    upgrade(store.engine)
    return store
