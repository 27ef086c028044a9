"""``modelyard import``: ``import jsonl FILE`` (JSON Lines of Models), ``import hf PATH...`` (Hugging Face
checkpoints); ``import FILE.jsonl`` still means ``import jsonl FILE.jsonl``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from modelyard.cli_support import AccountOption, DbOption, check_account, database_label, err, open_store, out

#: Files with at least this many lines are bulk-loaded when the catalog is empty (unless --no-bulk).
BULK_LINES = 10_000

UpsertOption = Annotated[bool, typer.Option(help="Replace models that already exist.")]


class _JsonlByDefault(TyperGroup):
    """``import FILE`` (anything but a subcommand name or a help flag first) is ``import jsonl FILE``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's (vendored) click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["jsonl", *args]
        return super().parse_args(ctx, args)


import_app = typer.Typer(
    cls=_JsonlByDefault,
    help="Import models: 'import jsonl FILE' (or just 'import FILE'), 'import hf PATH...'.",
    no_args_is_help=True,
)


@import_app.command("jsonl")
def import_jsonl(
    path: Annotated[str, typer.Argument(help="FILE.jsonl (one Model JSON per line), or - for stdin.")],
    account: AccountOption,
    db: DbOption = None,
    upsert: UpsertOption = False,
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
) -> None:
    """Import a JSON Lines file of Models (API JSON; output-only fields may be set)."""
    from modelyard.importers.jsonl import file_chunks, import_lines, numbered_lines
    from modelyard.store.errors import CatalogNotEmpty

    check_account(account)
    if path != "-" and not Path(path).is_file():
        err.print(f"[red]error:[/red] {escape(path)}: no such file")
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
        err.print(f"[red]line {lineno}:[/red] {escape(message)}", highlight=False)
    if len(report.rejected) > 50:
        err.print(f"... and {len(report.rejected) - 50} more rejected lines")
    if report.existing:
        err.print(existing_summary(report.existing), highlight=False)
    there = f"{len(report.existing)} already there, " if report.existing else ""
    err.print(
        f"Imported {report.created} new and {report.replaced} replaced models into account {account!r} "
        f"(database {database_label(store)}); {there}{len(report.rejected)} lines rejected."
    )
    raise typer.Exit(0 if report.ok else 1)


def existing_summary(existing: list[tuple[int, str]]) -> str:
    """One line for the models an import found already there (a re-run of an interrupted import)."""
    lineno, name = existing[0]
    if len(existing) == 1:
        return f"line {lineno}: model {name} already exists (use --upsert)"
    return (
        f"{len(existing):,} models already exist (the first: line {lineno}, {name}); "
        "to replace them, run again with --upsert"
    )


@import_app.command("hf")
def import_hf_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Checkpoint directories (or directories holding them).")
    ] = None,
    *,
    account: AccountOption,
    db: DbOption = None,
    upsert: UpsertOption = False,
    scan_cache: Annotated[
        bool, typer.Option("--scan-cache", help="Every model in the local Hugging Face cache.")
    ] = False,
) -> None:
    """Register local Hugging Face checkpoints (with --scan-cache: every model in the local cache)."""
    from modelyard.importers.cli import import_hf

    check_account(account)
    code = import_hf(
        list(paths or []),
        account=account,
        store_factory=lambda: open_store(db),
        upsert=upsert,
        scan_cache=scan_cache,
        console=out,
        err_console=err,
    )
    raise typer.Exit(code)
