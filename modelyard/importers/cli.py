"""``modelyard import hf``: register local Hugging Face checkpoints (or the whole local HF cache)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modelyard.importers.huggingface import (
    ImportedModel,
    NotACheckpoint,
    find_checkpoints,
    human_count,
    inspect_checkpoint,
    scan_cache,
)
from modelyard.importers.records import admin_model
from modelyard.resources.codec import ResourceError
from modelyard.store.errors import AlreadyExists
from modelyard.store.repository import Store


def import_hf(
    paths: list[Path],
    *,
    account: str,
    store_factory: Callable[[], Store],
    upsert: bool,
    scan_cache: bool,
    console: Console,
    err_console: Console,
) -> int:
    """Import every checkpoint found; returns the exit code (1 when anything was skipped)."""
    targets: list[Path | NotACheckpoint] = []
    if scan_cache:
        targets += [snapshot for _repo, snapshot in _scan()]
    if paths:
        targets += list(find_checkpoints(paths))
    if not targets:
        if scan_cache:
            err_console.print(
                f"[red]error:[/red] nothing to import: the Hugging Face cache {escape(str(cache_dir()))} "
                "holds no models (set HF_HUB_CACHE or HF_HOME if yours is elsewhere, or give checkpoint "
                "directories)",
                highlight=False,
            )
        else:
            err_console.print(
                "[red]error:[/red] nothing to import: give checkpoint directories or --scan-cache"
            )
        return 2
    store = store_factory()
    imported: list[ImportedModel] = []
    problems: list[tuple[str, str]] = []
    used_ids: set[str] = set()
    with Progress(
        TextColumn("[bold]importing[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("", total=len(targets))
        for target in targets:
            if isinstance(target, NotACheckpoint):
                problems.append((str(target.path), target.reason))
                progress.advance(task)
                continue
            progress.update(task, description=target.name)
            try:
                model = inspect_checkpoint(target)
                model_id = _unique(model.model_id, used_ids)
                _, resource = admin_model({**model.resource, "modelId": model_id}, account=account)
                try:
                    store.import_batch(account, [(model_id, resource)], upsert=upsert)
                except AlreadyExists:
                    problems.append((str(target), f"model {model_id!r} already exists (use --upsert)"))
                    continue
                model.model_id = model_id
                imported.append(model)
                for warning in model.warnings:
                    err_console.print(
                        f"[yellow]warning[/yellow] {escape(str(target))}: {escape(warning)}", highlight=False
                    )
            except NotACheckpoint as e:
                problems.append((str(e.path), e.reason))
            except (ResourceError, ValueError) as e:
                problems.append((str(target), str(e)))
            finally:
                progress.advance(task)
    table = Table(title=f"Imported into account {account!r}")
    for column in ("model", "kind", "type", "parameters", "context", "tools", "images"):
        table.add_column(column)
    for m in imported:
        r = m.resource
        details = r.get("baseModelDetails", {})
        count = details.get("parameterCount")
        cells = (
            m.model_id,
            r.get("kind", ""),
            details.get("modelType", r.get("peftDetails", {}).get("baseModel", "")),
            human_count(int(count)) if count else "",
            str(r.get("contextLength", "")),
            "yes" if r.get("supportsTools") else "",
            "yes" if r.get("supportsImageInput") else "",
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: model text is never Rich markup
    console.print(table)
    for where, reason in problems:
        err_console.print(f"[red]skipped[/red] {escape(where)}: {escape(reason)}", highlight=False)
    err_console.print(f"{len(imported)} imported, {len(problems)} skipped.")
    return 0 if not problems else 1


def _scan() -> list[tuple[str, Path]]:
    return scan_cache()


def cache_dir() -> Path:
    """The Hugging Face cache that ``--scan-cache`` reads (``HF_HUB_CACHE``, else ``$HF_HOME/hub``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _unique(model_id: str, used: set[str]) -> str:
    candidate, n = model_id, 2
    while candidate in used:
        suffix = f"-{n}"
        candidate = model_id[: 63 - len(suffix)].rstrip("-") + suffix
        n += 1
    used.add(candidate)
    return candidate
