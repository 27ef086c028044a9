"""The ``modelyard`` command: server, keys, import/export, and (``modelyard models``) an API client."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli_failures import output_file_failure
from modelyard.cli_group import ModelyardGroup
from modelyard.cli_support import AccountOption, DbOption, database_label, err, open_store
from modelyard.files.cli import StorageOption, storage_app
from modelyard.importers.commands import import_app
from modelyard.prepare.cli import worker

app = typer.Typer(
    cls=ModelyardGroup,
    name="modelyard",
    help="A self-hostable model registry, wire-compatible with the Fireworks Gateway REST Models API.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
app.add_typer(storage_app, name="storage")
app.command("worker")(worker)

DEFAULT_PORT = 8765


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"modelyard {version('modelyard')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """A self-hostable model registry, wire-compatible with the Fireworks Gateway REST Models API."""


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
    rate_limit: Annotated[
        str | None,
        typer.Option(
            help="Requests per second per API key, RATE or RATE/BURST (per worker process; "
            "env MODELYARD_RATE_LIMIT; default off)."
        ),
    ] = None,
    storage: StorageOption = None,
    catalog_anonymous: Annotated[
        bool | None,
        typer.Option(
            "--catalog-anonymous/--no-catalog-anonymous",
            help="Let visitors without an API key browse public models on /catalog "
            "(env MODELYARD_CATALOG_ANONYMOUS; default on).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the HTTP API server."""
    from modelyard.api.ratelimit import RateLimit
    from modelyard.cli_failures import CommandFailure, port_failure
    from modelyard.cli_support import database_url
    from modelyard.serving.server import check_listen
    from modelyard.settings import Settings

    try:
        check_listen(host, port)
    except OSError as e:
        raise port_failure(e, host, port) from None
    try:
        RateLimit.parse(Settings.from_env(rate_limit=rate_limit).rate_limit)
    except ValueError as e:
        raise CommandFailure(f"--rate-limit / MODELYARD_RATE_LIMIT: {e}", 2) from None
    run = functools.partial(
        _serve,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        rate_limit=rate_limit,
        storage=storage,
        catalog_anonymous=catalog_anonymous,
    )
    if not demo:
        run(database_url(db))
        return
    # The demo's database lives in a folder of its own, removed however the server stops: Ctrl-C,
    # SIGTERM (uvicorn re-raises it after shutting down; the handler turns it into SystemExit so that
    # the folder is removed first) or a failed start.
    tmp = Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        run(f"sqlite:///{tmp / 'demo.db'}", demo=tmp)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _serve(
    url: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    rate_limit: str | None,
    storage: str | None,
    catalog_anonymous: bool | None,
    demo: Path | None = None,
) -> None:
    from modelyard.importers.demo import DEMO_ACCOUNT, load_demo
    from modelyard.serving.server import serve as run_server
    from modelyard.settings import Settings

    settings = dataclasses.replace(
        Settings.from_env(
            database_url=url,
            rate_limit=rate_limit,
            storage_url=storage,
            catalog_anonymous=catalog_anonymous,
        ),
        database_url=url,
    )
    store = open_store(url)
    key = ""
    if demo is not None:
        count = load_demo(store)
        key = store.create_api_key(DEMO_ACCOUNT, "demo key")
        print(f"Demo catalog: {count} public models under accounts/{DEMO_ACCOUNT} (database {demo})")
        print(f"Admin commands (keys, import, export) need --db {url}")
    safe_url = url.split("@")[-1] if "@" in url else url
    store.dispose()
    from rich.markup import escape

    from modelyard.storage import open_storage, storage_url
    from modelyard.storage.base import StorageError
    from modelyard.storage.factory import check_storage

    try:  # checked (and created) here; each worker opens it again from the settings
        opened = open_storage(storage_url(settings.storage_url, url))
        check_storage(opened)
    except (ValueError, StorageError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as e:
        err.print(
            f"[red]error:[/red] storage {storage_url(settings.storage_url, url)}: {e.strerror or e}; make "
            "the folder writable or pick another with --storage / MODELYARD_STORAGE",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    settings = dataclasses.replace(settings, storage_url=opened.url)

    def ready(bound_port: int) -> None:
        base = f"http://{host}:{bound_port}"
        print(f"modelyard listening on {base} (database {safe_url}, storage {opened.url})")
        if demo is not None:
            print(f"Account: {DEMO_ACCOUNT}")
            print(f"Try: curl -H 'Authorization: Bearer {key}' {base}/v1/accounts/{DEMO_ACCOUNT}/models")
            print(f"Catalog: {base}/catalog (enter the key on the page to see the account's private models)")
            print(f"API key: {key}")
        sys.stdout.flush()

    run_server(settings, host=host, port=port, workers=workers, log_level=log_level, on_ready=ready)


@app.command()
def export(
    account: AccountOption,
    db: DbOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export every model of ACCOUNT as JSON Lines (Model resources in API JSON)."""
    if output is not None and (failure := output_file_failure(output)) is not None:
        raise failure
    store = open_store(db)
    count = 0
    if output is None:
        for line in store.export_models(account):
            sys.stdout.buffer.write(line + b"\n")
            count += 1
        sys.stdout.buffer.flush()
    else:
        # Written beside the target and renamed at the end: a failed export leaves no half-written file.
        partial = output.with_name(f".{output.name}.partial")
        try:
            with open(partial, "wb") as target:
                for line in store.export_models(account):
                    target.write(line + b"\n")
                    count += 1
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    err.print(
        f"Exported {count} models of account {account!r} from the database {database_label(store)}: their "
        'descriptions only, not their files (see the README, "Moving a catalog").',
        highlight=False,
    )


def _mount_client() -> None:
    # registers 'models upload', 'models download' and 'models prepare'
    from modelyard.client import cli_files, cli_prepare  # noqa: F401
    from modelyard.client.cli import login, models_app
    from modelyard.client.cli_users import audit_command, users_app
    from modelyard.identity_cli import keys_app

    app.add_typer(models_app, name="models")
    app.command("login")(login)
    app.add_typer(keys_app, name="keys")
    app.add_typer(users_app, name="users")
    app.command("audit")(audit_command)


_mount_client()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
