"""The ``modelyard`` command: server, keys, import/export, and (``modelyard models``) an API client."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelyard.files.cli import StorageOption, storage_app

if TYPE_CHECKING:
    from modelyard.store.repository import Store

app = typer.Typer(
    name="modelyard",
    help="A self-hostable model registry, wire-compatible with the Fireworks Gateway REST Models API.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(storage_app, name="storage")

err = Console(stderr=True)
out = Console()

DEFAULT_PORT = 8765
#: Files with at least this many lines are bulk-loaded when the catalog is empty (unless --no-bulk).
BULK_LINES = 10_000

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (sqlite:///file.db or postgresql://...); default $MODELYARD_DB."),
]
AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account id.")]


def open_store(db: str | None) -> Store:
    """Open the database and create or migrate its schema."""
    # Imported here: the API client commands need none of the database stack.
    from modelyard.store.engine import default_database_url, make_engine, normalise_url
    from modelyard.store.migrate import upgrade
    from modelyard.store.repository import Store

    url = normalise_url(db or default_database_url())
    store = Store(make_engine(url))
    upgrade(store.engine)
    return store


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Serve a throwaway SQLite database holding the demo catalog.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    storage: StorageOption = None,
) -> None:
    """Run the HTTP API server."""
    from modelyard.admin import DEMO_ACCOUNT, load_demo
    from modelyard.server import serve as run_server
    from modelyard.store.engine import default_database_url, normalise_url

    if demo:
        tmp = Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
        db = f"sqlite:///{tmp / 'demo.db'}"
    url = normalise_url(db or default_database_url())
    store = open_store(url)
    if demo:
        count = load_demo(store)
        key = store.create_api_key("demo", "demo key")
        print(f"Demo catalog: {count} public models under accounts/{DEMO_ACCOUNT} (database {tmp})")
    safe_url = url.split("@")[-1] if "@" in url else url
    store.engine.dispose()
    from modelyard.storage import open_storage, storage_url

    try:  # checked here; each worker opens it again from the environment
        os.environ["MODELYARD_STORAGE"] = open_storage(storage_url(storage, url)).url
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None

    def ready(bound_port: int) -> None:
        base = f"http://{host}:{bound_port}"
        print(f"modelyard listening on {base} (database {safe_url})")
        if demo:
            print("Account: demo")
            print(f"Try: curl -H 'Authorization: Bearer {key}' {base}/v1/accounts/{DEMO_ACCOUNT}/models")
            print(f"Catalog page: {base}/catalog#key={key}")
            print(f"API key: {key}")
        sys.stdout.flush()

    run_server(url, host=host, port=port, workers=workers, log_level=log_level, on_ready=ready)


@keys_app.command("create")
def keys_create(
    account: AccountOption,
    db: DbOption = None,
    display_name: Annotated[str, typer.Option(help="A label for the key.")] = "",
) -> None:
    """Create an API key for ACCOUNT (creating the account if needed). The key is the last line."""
    from modelyard.resources.codec import ResourceError, check_id

    try:
        check_id(account, "account id")
    except ResourceError as e:
        err.print(f"[red]error:[/red] {e.message}")
        raise typer.Exit(2) from None
    store = open_store(db)
    key = store.create_api_key(account, display_name)
    err.print(f"Created an API key for account {account!r}. It is shown once; store it safely.")
    print(key)


@app.command("import")
def import_(
    source: Annotated[
        list[str],
        typer.Argument(help="FILE.jsonl (Model JSON per line), or: hf PATH... (Hugging Face checkpoints)."),
    ],
    account: AccountOption,
    db: DbOption = None,
    upsert: Annotated[bool, typer.Option(help="Replace models that already exist.")] = False,
    batch_size: Annotated[int, typer.Option(help="Models per transaction.")] = 2000,
    jobs: Annotated[
        int,
        typer.Option(help="Processes decoding the file (0: one per CPU, at most 4, past 8,000 lines)."),
    ] = 0,
    bulk: Annotated[
        bool | None,
        typer.Option(
            "--bulk/--no-bulk",
            help="Load into an empty catalog in one transaction, building indexes at the end "
            "(default: when the catalog is empty and the file has 10,000 lines or more).",
        ),
    ] = None,
    scan_cache: Annotated[
        bool, typer.Option("--scan-cache", help="With 'hf': every model in the local Hugging Face cache.")
    ] = False,
) -> None:
    """Import models: ``import FILE.jsonl`` or ``import hf PATH...`` / ``import hf --scan-cache``."""
    if source and source[0] == "hf":
        from modelyard.importers.cli import import_hf

        code = import_hf(
            [Path(p) for p in source[1:]],
            account=account,
            store_factory=lambda: open_store(db),
            upsert=upsert,
            scan_cache=scan_cache,
            console=out,
            err_console=err,
        )
        raise typer.Exit(code)
    if len(source) != 1:
        err.print("[red]error:[/red] give one JSON Lines file (or 'hf PATH...')")
        raise typer.Exit(2)
    from modelyard.importers.jsonl import file_chunks, import_lines, numbered_lines
    from modelyard.store.repository import CatalogNotEmpty

    path = source[0]
    if path != "-" and not Path(path).is_file():
        err.print(f"[red]error:[/red] {path}: no such file")
        raise typer.Exit(2)
    store = open_store(db)
    total = None
    if path != "-":
        with open(path, "rb") as counting:
            total = sum(1 for _ in counting)
    with (
        Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
        ) as progress,
    ):
        task = progress.add_task("import", total=total)
        big = total is not None and total >= BULK_LINES
        try:
            report = import_lines(
                store,
                numbered_lines(sys.stdin) if path == "-" else file_chunks(path, batch_size),
                account=account,
                upsert=upsert,
                batch_size=batch_size,
                progress=lambda n: progress.advance(task, n),
                jobs=jobs or (min(os.cpu_count() or 1, 4) if total and total > 4 * batch_size else 1),
                bulk=bulk if bulk is not None else (None if big else False),
                status=lambda message: progress.console.print(message, highlight=False),
            )
        except CatalogNotEmpty:
            err.print("[red]error:[/red] --bulk loads only into an empty catalog, and this one holds models")
            raise typer.Exit(2) from None
    if report.created or report.replaced:
        store.analyze()
    for lineno, message in report.rejected[:50]:
        err.print(f"[red]line {lineno}:[/red] {message}", highlight=False)
    if len(report.rejected) > 50:
        err.print(f"... and {len(report.rejected) - 50} more rejected lines")
    err.print(
        f"Imported {report.created} new and {report.replaced} replaced models into account {account!r}; "
        f"{len(report.rejected)} lines rejected."
    )
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def export(
    account: AccountOption,
    db: DbOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export every model of ACCOUNT as JSON Lines (Model resources in API JSON)."""
    store = open_store(db)
    target = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
    count = 0
    try:
        for line in store.export_models(account):
            target.write(line + b"\n")
            count += 1
    finally:
        if output:
            target.close()
        else:
            target.flush()
    err.print(f"Exported {count} models of account {account!r}.")


def _mount_client() -> None:
    from modelyard.client import cli_files  # noqa: F401 - registers 'models upload' and 'models download'
    from modelyard.client.cli import login, models_app

    app.add_typer(models_app, name="models")
    app.command("login")(login)


_mount_client()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
