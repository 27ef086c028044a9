"""What the ``modelyard`` server-side commands share: the ``--db`` and ``--account`` options, the
consoles, and opening (and migrating) the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli_console import console
from modelyard.cli_failures import CommandFailure, check_database_url, database_failure

if TYPE_CHECKING:
    from modelyard.store.repository import Store

err = console(stderr=True, soft_wrap=True)  # soft_wrap: an error is one line, however long
out = console()

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://...); default $MODELYARD_DB."),
]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account id.")]


def check_account(account: str) -> None:
    """A CommandFailure (exit 2) unless ``account`` is a valid account id: said once, before any work."""
    from modelyard.resources.codec import ResourceError, check_id

    try:
        check_id(account, "account id")
    except ResourceError as e:
        raise CommandFailure(f"--account: {e.message}", 2) from None


def database_url(db: str | None) -> str:
    """The database URL in effect (``db``, else ``MODELYARD_DB``, else the default SQLite file), checked:
    an unsupported URL or a SQLite file in a missing folder is a CommandFailure."""
    from sqlalchemy.exc import ArgumentError

    from modelyard.settings import Settings

    settings = Settings.from_env(database_url=db)
    try:
        url = settings.resolved_database_url()
    except ArgumentError:
        url = settings.database_url
    check_database_url(url)
    return url


def open_store(db: str | None) -> Store:
    """Open the database (``db``, else the settings' default) and create or migrate its schema; an
    unsupported, missing or unreachable database is a :class:`~modelyard.cli_failures.CommandFailure`."""
    # Imported here: the API client commands need none of the database stack.
    from modelyard.store.engine import make_engine
    from modelyard.store.repository import Store

    url = database_url(db)
    try:
        store = Store(make_engine(url))
        store.upgrade()
    except Exception as e:
        failure = database_failure(e, url)
        if failure is None:
            raise
        raise failure from None
    return store


def database_label(store: Store) -> str:
    """The database a command wrote to, as ``--db`` would name it (passwords hidden): every admin command
    says it, so that a write to the default database while a server runs on another is plain to see."""
    from sqlalchemy.engine import make_url

    url = make_url(store.database_url())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        from pathlib import Path

        return f"sqlite:///{Path(url.database).resolve()}"
    return url.render_as_string(hide_password=True)
