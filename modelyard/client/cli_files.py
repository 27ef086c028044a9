"""``modelyard models upload MODEL PATH`` and ``modelyard models download MODEL DIR``.

Upload creates the model when it is missing (its kind and details read from the files, as
``modelyard import hf`` reads them), sends every file with a progress bar (several at once, skipping files
an earlier run completed, resuming interrupted ones), validates, and prints the final state and the
server's warnings. Download fetches the files of a ``READY`` model (``main``, or ``--revision``;
``--include`` and ``--exclude`` globs choose files), resuming partial files and repairing files whose
SHA-256 differs. The engines are :mod:`modelyard.client.upload` and :mod:`modelyard.client.download`;
this module only wires them to the command line. Failures print one ``error:`` line: exit status 1
(API, connection or transfer errors), 2 (usage).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from modelyard.cli_console import console
from modelyard.client.cli_models import (
    NO_FLAGS,
    _deep_merge,
    _leaf_paths,
    _model_ref,
    changed_only,
    expand_base_model,
    models_app,
)
from modelyard.client.download import Downloader, NoFilesListed
from modelyard.client.http import ApiError, ModelyardClient
from modelyard.client.options import (
    ConnectionFlags,
    ModelFieldFlags,
    api_client,
    connection_settings,
    option_groups,
)
from modelyard.client.output import ModelOutput, UsageProblem, errors, fail, print_model
from modelyard.client.transfer import TransferError, describe_os_error
from modelyard.client.upload import (
    CHUNK,
    RESUMABLE_THRESHOLD,
    BadPath,
    Uploader,
    UploadOptions,
    scan_directory,
)
from modelyard.client.upload_state import UploadState
from modelyard.importers.hf_scan import ADAPTER_CONFIG_FILE
from modelyard.importers.huggingface import NotACheckpoint, inspect_checkpoint

#: Model fields a directory's files suggest at create time (the server fills the rest on validation).
_FROM_FILES = (
    "kind", "displayName", "description", "huggingFaceUrl", "contextLength", "supportsImageInput",
    "supportsTools", "conversationConfig", "peftDetails",
)  # fmt: skip
_BASE_DETAILS = ("modelType", "moe", "parameterCount")

_T = "Transfer"
RESUME_HINT = "run the same command again to resume (complete files are skipped, large ones continue)"
JobsOpt = Annotated[
    int, typer.Option("--jobs", "-j", min=1, max=32, help="Files moved at once.", rich_help_panel=_T)
]


def _stderr() -> Console:
    return console(stderr=True, highlight=False)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


class BinarySpeedColumn(ProgressColumn):
    """The transfer rate in the bars' own units (KiB/s, MiB/s), as the sizes beside it and the summary."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{_size(speed)}/s", style="progress.data.speed")


class RichProgress:
    """Bars for the files in flight and one for the whole transfer (bytes, rate, ETA) on stderr, and a
    line per finished file. The overall bar counts the bytes this run moves: its total is what moved so
    far plus what is left (files not started yet count in full, resumed files from their offset)."""

    def __init__(self, console: Console, verb: str, planned: dict[str, int], *, enabled: bool = True) -> None:
        self.console = console
        self.verb = verb
        self.bars = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=30),
            DownloadColumn(binary_units=True),
            BinarySpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        what = f"{len(planned)} files" if planned else "files"
        self.overall = self.bars.add_task(f"{verb} {what}", total=sum(planned.values()))
        self._planned = dict(planned)  # not started yet
        self._active: dict[str, tuple[TaskID, int, int]] = {}  # name -> (task, size, bytes in place)
        self._moved = 0
        self._lock = threading.Lock()

    def plan(self, planned: dict[str, int]) -> None:
        """Every file of the transfer and its size, before the first byte: the overall total is known."""
        with self._lock:
            self._planned = {k: v for k, v in planned.items() if k not in self._active}
            what = _files(len(planned))
            self.bars.update(self.overall, description=f"{self.verb} {what}")
            self._retotal()

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def _retotal(self) -> None:
        left = sum(self._planned.values()) + sum(size - done for _, size, done in self._active.values())
        self.bars.update(self.overall, total=self._moved + left)

    def start(self, name: str, size: int, done: int) -> None:
        with self._lock:
            self._planned.pop(name, None)
            if name in self._active:
                self.bars.remove_task(self._active.pop(name)[0])
            self._active[name] = (self.bars.add_task(f"  {name}", total=size, completed=done), size, done)
            self._retotal()

    def advance(self, name: str, nbytes: int) -> None:
        with self._lock:
            if name not in self._active:
                return
            task, size, done = self._active[name]
            self._active[name] = (task, size, done + nbytes)
            self._moved += nbytes
            self.bars.advance(task, nbytes)
            self.bars.advance(self.overall, nbytes)

    def rewind(self, name: str, done: int) -> None:
        with self._lock:
            if name not in self._active:
                return
            task, size, _ = self._active[name]
            self._active[name] = (task, size, done)
            self.bars.update(task, completed=done)
            self._retotal()

    def finish(self, name: str, *, skipped: bool = False) -> None:
        with self._lock:
            entry = self._active.pop(name, None)
            if entry is not None:
                self.bars.remove_task(entry[0])
            self._retotal()
        size = entry[1] if entry else 0
        note = "already there, skipped" if skipped else self.verb.lower()
        self.bars.console.print(f"{name} ({_size(size)}): {note}", markup=False, highlight=False)


def _model_from_directory(path: Path, flags: dict[str, Any]) -> dict[str, Any]:
    """The Model to create for the files in ``path``: what the files say, then the flags over it."""
    try:
        found = inspect_checkpoint(path).resource
    except NotACheckpoint:
        found = {}
    model = {k: found[k] for k in _FROM_FILES if k in found}
    details = found.get("baseModelDetails")
    if isinstance(details, dict):
        base = {k: details[k] for k in _BASE_DETAILS if k in details}
        if base:
            model["baseModelDetails"] = base
    if model.get("kind") == "HF_PEFT_ADDON":
        peft = dict(model.get("peftDetails") or {})
        hf_base = peft.pop("baseModel", None)
        flag_base = (flags.get("peftDetails") or {}).get("baseModel")
        if not flag_base:
            hint = f" (its base_model_name_or_path is {hf_base!r})" if hf_base else ""
            raise UsageProblem(
                f"{path} holds {ADAPTER_CONFIG_FILE}, a PEFT adapter: pass --base-model "
                f"accounts/ACCOUNT/models/BASE_MODEL{hint}"
            )
        model["peftDetails"] = peft
    model = _deep_merge(model, flags)
    if not model.get("kind"):
        model["kind"] = "HF_PEFT_ADDON" if "peftDetails" in model else "HF_BASE_MODEL"
    if model["kind"] == "HF_BASE_MODEL":
        model.setdefault("baseModelDetails", {})
    return model


def _ensure_model(
    client: ModelyardClient, acct: str, model_id: str, path: Path, flags: dict[str, Any], err: Console
) -> dict[str, Any]:
    """The model to upload into: found (still ``UPLOADING``) or created."""
    try:
        model = client.get_model(acct, model_id)
    except ApiError as e:
        if e.code != "NOT_FOUND":
            raise
        model = client.create_model(acct, model_id, _model_from_directory(path, flags))
        err.print(f"created {model.get('name', model_id)} ({model.get('kind', '')})", markup=False)
        return model
    state = model.get("state")
    name = model.get("name", f"accounts/{acct}/models/{model_id}")
    if state not in (None, "", "UPLOADING", "STATE_UNSPECIFIED"):
        fail(f"{name} is {state}: its files can no longer be uploaded (delete it, or pick another id)", 1)
    changed = changed_only(flags, model)
    if changed:  # still uploading: the flags given change the model (only those fields that differ)
        model = client.update_model(acct, model_id, changed, update_mask=",".join(_leaf_paths(changed)))
        err.print(f"updated {name}: {', '.join(_leaf_paths(changed))}", markup=False)
    return model


@models_app.command("upload")
@option_groups
def upload(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    path: Annotated[Path, typer.Argument(help="The model's directory (config.json, *.safetensors, ...).")],
    fields: ModelFieldFlags,
    jobs: JobsOpt = 4,
    resumable: Annotated[
        bool | None,
        typer.Option(
            "--resumable/--no-resumable",
            help="Ask for resumable uploads (default: when a file is at least --resumable-threshold).",
            rich_help_panel=_T,
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            min=1,
            max=1024,
            help="Resumable upload chunk (S3: part size, at least 5), in MiB.",
            rich_help_panel=_T,
        ),
    ] = CHUNK >> 20,
    resumable_threshold: Annotated[
        int,
        typer.Option(
            "--resumable-threshold",
            min=1,
            envvar="MODELYARD_RESUMABLE_THRESHOLD",
            help="Files of at least this many MiB make the upload resumable (S3: sent in parts).",
            rich_help_panel=_T,
        ),
    ] = RESUMABLE_THRESHOLD >> 20,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Forget what earlier runs sent; send every file.", rich_help_panel=_T),
    ] = False,
    config_only: Annotated[
        bool, typer.Option(help="Validation: skip tokenizer and parameter-name checks.", rich_help_panel=_T)
    ] = False,
    skip_hf_config_validation: Annotated[
        bool, typer.Option(help="Validation: skip the config.json check.", rich_help_panel=_T)
    ] = False,
    output: Annotated[ModelOutput, typer.Option("--output", "-o", help="Output format.")] = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Upload a model's files (creating the model if it is missing), then validate it.

    Runs again after an interruption carry on: complete files are skipped, large files resume.
    """
    with errors() as run:
        flags = fields.model_fields()
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        flags = expand_base_model(flags, acct)  # a bare id: a model of the same account
        err = _stderr()
        try:
            files, hidden = scan_directory(path)
        except BadPath as e:
            raise UsageProblem(str(e)) from None
        if hidden:
            more = f" and {len(hidden) - 5} more" if len(hidden) > 5 else ""
            shown = ", ".join(hidden[:5]) + more
            err.print(f"left out {len(hidden)} (hidden, or linked folders): {shown}", markup=False)
        with api_client(settings) as client:
            found = _ensure_model(client, acct, model_id, path, flags, err)
            name = str(found.get("name") or f"accounts/{acct}/models/{model_id}")
            incarnation = str(found.get("createTime", ""))
            state = UploadState.open(settings.base_url_value, name, incarnation, path)
            if restart:
                state.remove()
                state = UploadState.open(settings.base_url_value, name, incarnation, path)
            validate = {"config_only": config_only, "skip_hf_config_validation": skip_hf_config_validation}
            options = UploadOptions(
                jobs=jobs,
                resumable=resumable,
                chunk_size=chunk_size << 20,
                threshold=resumable_threshold << 20,
                validate=validate,
            )
            uploader = Uploader(client, acct, model_id, files, state, options)
            started = time.monotonic()
            try:
                with RichProgress(err, "Uploaded", {f.name: f.size for f in files}) as bars:
                    uploader.progress = bars
                    result = uploader.run()
            except TransferError as e:
                fail(f"{e} (run the same command again to resume)", 1)
            except OSError as e:
                fail(describe_os_error(e), 1)
            except KeyboardInterrupt:
                fail(f"interrupted; {RESUME_HINT}", 130)
            elapsed = time.monotonic() - started
            rate = result.bytes_sent / elapsed if elapsed > 0 else 0.0
            err.print(
                f"sent {_files(len(result.uploaded))} ({_size(result.bytes_sent)}, {_size(rate)}/s), "
                f"skipped {len(result.skipped)} already uploaded"
                + ("; resumable uploads" if result.resumable else ""),
                markup=False,
            )
            for warning in result.validation.get("warnings") or []:
                err.print(f"warning: {warning}", markup=False)
            final = client.get_model(acct, model_id)
        err.print(f"validated {name}: {final.get('state', 'state unknown')}", markup=False)
        if output is ModelOutput.table:  # the template is long; 'models get' shows it
            final = {k: v for k, v in final.items() if k != "conversationConfig"}
        print_model(final, output)


@models_app.command("download")
@option_groups
def download(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    directory: Annotated[Path, typer.Argument(help="Where to put the files (created if missing).")],
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="A branch (main, fp8, ...), a tag or a 40-hex commit id (modelyard servers). Default: main.",
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            metavar="GLOB",
            help="Only files matching GLOB (repeatable; '*.json', 'sub/'), as hf download reads it.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Not the files matching GLOB (repeatable)."),
    ] = None,
    jobs: JobsOpt = 4,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Download the files of a READY model (main, or --revision) into DIRECTORY; a run after an
    interruption resumes, and a re-run checks every file's SHA-256 and repairs the ones that differ."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        if directory.exists() and not directory.is_dir():
            raise UsageProblem(f"{directory}: exists and is not a directory")
        err = _stderr()
        with api_client(settings) as client:
            downloader = Downloader(
                client,
                acct,
                model_id,
                directory,
                jobs=jobs,
                revision=revision,
                include=include,
                exclude=exclude,
            )
            started = time.monotonic()
            try:
                with RichProgress(err, "Downloaded", {}) as bars:
                    downloader.progress = bars
                    result = downloader.run()
            except NoFilesListed as e:
                fail(str(e), 1)
            except TransferError as e:
                fail(f"{e} (run the same command again to resume)", 1)
            except OSError as e:
                fail(describe_os_error(e), 1)
            except KeyboardInterrupt:
                fail(f"interrupted; {RESUME_HINT}", 130)
        elapsed = time.monotonic() - started
        rate = result.bytes_received / elapsed if elapsed > 0 else 0.0
        sys.stdout.write(
            f"downloaded {_files(len(result.downloaded))} ({_size(result.bytes_received)}, {_size(rate)}/s; "
            f"{len(result.resumed)} resumed, {len(result.repaired)} repaired, "
            f"{len(result.verified)} checked by SHA-256/MD5), "
            f"skipped {len(result.skipped)} already complete, into {directory}"
            + (f" (revision {revision})" if revision else "")
            + "\n"
        )


__all__ = ["RichProgress", "download", "upload"]
