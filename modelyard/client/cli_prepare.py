"""``modelyard models prepare MODEL --precision FP8 [--wait]``: the Models API's ``:prepare``.

The server answers ``{}`` at once and queues a job; the model is ``PREPARING`` (``status.message`` says
how far the job is) until the variant is committed as the branch named after the precision (``fp8``,
``bf16``, ``fp16``), then ``READY`` with the precision in ``supportedPrecisions``; a failed job leaves the
model ``READY`` with ``status`` saying why (decisions.md, "Prepared precisions"). ``--wait`` polls the
model (``models get``) with a progress display until one of those ends: exit status 0 when the precision
is supported, 1 with the failure status otherwise. Ctrl-C stops the waiting only: the job goes on.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelyard.cli_console import console
from modelyard.client.cli_models import NO_FLAGS, _model_ref, models_app
from modelyard.client.http import ModelyardClient
from modelyard.client.options import ConnectionFlags, api_client, connection_settings, option_groups
from modelyard.client.output import errors, fail
from modelyard.resources.model import model_name

_PERCENT = re.compile(r"(\d{1,3})%")


def _status(model: dict[str, Any]) -> tuple[str, str]:
    status = model.get("status")
    if not isinstance(status, dict):
        return "", ""
    return str(status.get("code") or ""), str(status.get("message") or "")


def outcome(model: dict[str, Any], precision: str) -> tuple[bool, str] | None:
    """``(True, message)`` once ``precision`` is supported, ``(False, why)`` once its preparation failed,
    None while it runs."""
    if precision in (model.get("supportedPrecisions") or []):
        return True, f"{precision} prepared (revision {precision.lower()})"
    code, message = _status(model)
    failed = message.startswith(f"preparing {precision} failed")
    if failed or model.get("state") != "PREPARING":
        why = message or f"the model is {model.get('state', 'in no state')} without {precision}"
        return False, why if code in ("", "OK") else f"{why} ({code})"
    return None


def wait_for(
    client: ModelyardClient, account: str, model_id: str, precision: str, interval: float
) -> tuple[bool, str]:
    """Poll the model until :func:`outcome` decides, showing its status message (and the job's
    percentage, when the message names one) on stderr: a progress bar on a terminal, else one line per
    new message."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    err = console(stderr=True, highlight=False)
    shown = ""
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bars:
        task = bars.add_task(f"preparing {precision}", total=100)
        while True:
            model = client.get_model(account, model_id)
            done = outcome(model, precision)
            if done is not None:
                return done
            _, message = _status(model)
            if message and message != shown and not err.is_terminal:
                err.print(message, markup=False)
            shown = message
            m = _PERCENT.search(message)
            bars.update(task, description=message or f"preparing {precision}")
            if m:
                bars.update(task, completed=min(100, int(m.group(1))))
            time.sleep(interval)


@models_app.command("prepare")
@option_groups
def prepare(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    precision: Annotated[
        str, typer.Option("--precision", help="FP8, BF16 or FP16 (the server names what it prepares).")
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait (with progress) until the precision is prepared or failed.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between two looks at the model (--wait).")
    ] = 2.0,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Prepare a READY model in another precision (:prepare): the variant becomes the branch named after
    the precision ('models download MODEL DIR --revision fp8')."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        name = model_name(acct, model_id)
        wanted = precision.strip().upper()
        with api_client(settings) as client:
            client.prepare_model(acct, model_id, wanted)
            if not wait:
                done = outcome(client.get_model(acct, model_id), wanted)
                if done is not None and done[0]:
                    sys.stdout.write(f"{name}: {done[1]}\n")
                    return
                sys.stdout.write(
                    f"preparing {wanted} of {name}: the job runs on the server; 'modelyard models get "
                    f"{name}' shows its status, 'modelyard models prepare {name} --precision {wanted} "
                    "--wait' waits for it\n"
                )
                return
            try:
                ok, message = wait_for(client, acct, model_id, wanted, interval)
            except KeyboardInterrupt:
                fail(
                    f"stopped waiting; the preparation of {wanted} goes on on the server ('modelyard models "
                    f"get {name}' shows its status)",
                    130,
                )
        if not ok:
            fail(f"{name}: {message}", 1)
        sys.stdout.write(f"{name}: {message}\n")


__all__ = ["outcome", "prepare", "wait_for"]
