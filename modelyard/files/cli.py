"""``modelyard storage``: the model-file storage, on demand (``gc``)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli_console import console

storage_app = typer.Typer(help="Manage the storage of model files.", no_args_is_help=True)
err = console(stderr=True)

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Storage URL (file:///path or s3://bucket/prefix); default $MODELYARD_STORAGE, else blobs/ "
        "beside the database.",
    ),
]


@storage_app.command("gc")
def gc(
    db: Annotated[str | None, typer.Option("--db", help="Database URL; default $MODELYARD_DB.")] = None,
    storage: StorageOption = None,
    grace: Annotated[
        float,
        typer.Option(
            help="Seconds a blob, object or temporary file unknown to the database is kept. The partial "
            "files of resumable uploads are kept at least an hour since last written (their URLs' life), "
            "so a resumable upload still under way is never cut, even with --grace 0."
        ),
    ] = 3600,
) -> None:
    """Remove expired uploads, files of deleted models and unreferenced blobs; report what was freed."""
    from modelyard.cli_support import database_label, open_store
    from modelyard.files.gc import collect
    from modelyard.files.opening import file_service
    from modelyard.settings import Settings
    from modelyard.storage import open_storage, storage_url

    settings = Settings.from_env(database_url=db, storage_url=storage)
    url = settings.resolved_database_url()
    try:
        backend = open_storage(storage_url(settings.storage_url, url))
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    store = open_store(url)
    try:
        report = collect(file_service(store, backend), grace=grace)
        where = database_label(store)
    finally:
        store.dispose()
    err.print(f"storage {backend.url} (database {where})", highlight=False)
    print(report.summary())
