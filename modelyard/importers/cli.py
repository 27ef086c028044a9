"""``modelyard import hf``: register local Hugging Face checkpoints (or the whole local HF cache).

A LoRA adapter names its base model by a Hugging Face id (``base_model_name_or_path``), which is not a
model name of the registry: when a model of the account was imported from that id (``importedFrom`` or
``huggingFaceUrl``), ``peftDetails.baseModel`` becomes its name; otherwise the adapter is skipped (the
API needs a registry model there) with a reason that says what to do. Adapters are imported after the
base models of the same run, so that a base and its adapters can be imported together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from modelyard.importers.hf_scan import ADAPTER_CONFIG_FILE
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
    targets.sort(key=lambda t: isinstance(t, Path) and (t / ADAPTER_CONFIG_FILE).is_file())  # stable
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
                _resolve_base_model(store, account, model_id, model)
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
    from modelyard.cli_support import database_label

    err_console.print(
        f"{len(imported)} imported, {len(problems)} skipped (database {database_label(store)}).",
        soft_wrap=True,
    )
    return 0 if not problems else 1


def _resolve_base_model(store: Store, account: str, model_id: str, model: ImportedModel) -> None:
    """An adapter's Hugging Face base model id -> the registry model imported from it; ValueError (the
    adapter is skipped, with this reason) when there is none."""
    peft = model.resource.get("peftDetails")
    if not isinstance(peft, dict):
        return
    base = peft.get("baseModel")
    if not isinstance(base, str) or not base or base.startswith("accounts/"):
        return
    found = imported_from(store, account, base)
    if found is not None:
        peft["baseModel"] = found
        return
    raise ValueError(
        f"its base model {base!r} is a Hugging Face id, and no model of account {account!r} was imported "
        "from it (a LoRA needs its base model in the registry): import the base model first (in the same "
        "run is fine), or upload the adapter with 'modelyard models upload ID DIR --base-model MODEL_ID'"
    )


def imported_from(store: Store, account: str, repo_id: str) -> str | None:
    """The name of the account's base model imported from Hugging Face ``repo_id``, if there is one."""
    import json

    from modelyard.aip.errors import AipError
    from modelyard.aip.filtering import compile_filter
    from modelyard.aip.ordering import parse_order_by
    from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA
    from modelyard.store.planner import Scope

    quoted = json.dumps(repo_id)
    url = json.dumps(f"https://huggingface.co/{repo_id}")
    text = f"kind = HF_BASE_MODEL AND (imported_from = {quoted} OR hugging_face_url = {url})"
    try:
        checked = compile_filter(text, MODEL_FILTER_SCHEMA)
    except (AipError, ValueError):
        return None
    order = parse_order_by("name", MODEL)
    page = store.list_models(Scope(account, account), checked, order, after=None, limit=1)
    if not page.resources:
        return None
    name = json.loads(page.resources[0]).get("name")
    return name if isinstance(name, str) else None


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
