"""How the client CLI shows results and failures: tables and JSON on stdout; one ``error: ...`` line on
stderr with exit status 1 (API and connection errors) or 2 (usage and configuration errors)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from modelyard.cli_console import console as make_console
from modelyard.client.config import ConfigError, Settings
from modelyard.client.http import ApiConnectionError, ApiError


class UsageProblem(Exception):
    """A bad argument found by the client itself (exit status 2)."""


class ListOutput(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


class ModelOutput(StrEnum):
    table = "table"
    json = "json"


def console() -> Console:
    """The console for results: no markup (model text such as "FLUX.1 [dev]" is shown as it is)."""
    return make_console(highlight=False, soft_wrap=False, markup=False)


def write(text: str) -> None:
    sys.stdout.write(text)


def json_text(obj: Any, *, indent: int | None = 2) -> str:
    if indent is None:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def fail(message: str, code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


def api_hint(e: ApiError, settings: Settings | None) -> str:
    if settings is None:
        return ""
    if isinstance(e, ApiConnectionError):
        if settings.base_url.source == "built-in default":
            return " (default base URL; is 'modelyard serve' running? else pass --base-url)"
        return f" (base URL from {settings.base_url.source})"
    if e.code == "UNAUTHENTICATED":
        return f" (API key from {settings.api_key.source})"
    return ""


class Run:
    """Holds the resolved settings so that error lines can say where a setting came from."""

    settings: Settings | None = None


@contextmanager
def errors() -> Iterator[Run]:
    run = Run()
    try:
        yield run
    except ApiError as e:
        fail(f"{e}{api_hint(e, run.settings)}", 1)
    except (ConfigError, UsageProblem) as e:
        fail(str(e), 2)
    except BrokenPipeError:
        # the reader went away (e.g. '| head'); silence the final flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(130) from None


def human_count(raw: Any) -> str:
    """``"8030000000"`` -> ``"8.0B"``."""
    try:
        n = int(raw)
    except (TypeError, ValueError):
        return "" if raw is None else str(raw)
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)


def flag(value: Any) -> str:
    return "yes" if value is True else ""


def short_name(name: str, account: str) -> str:
    prefix = f"accounts/{account}/models/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def models_table(models: list[dict[str, Any]], account: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", overflow="fold")
    table.add_column("DISPLAY NAME", overflow="fold")
    table.add_column("KIND")
    table.add_column("STATE")
    table.add_column("PARAMS", justify="right")
    table.add_column("CONTEXT", justify="right")
    table.add_column("PUBLIC")
    table.add_column("SERVERLESS")
    for m in models:
        details = m.get("baseModelDetails") or {}
        context = m.get("contextLength")
        cells = (
            short_name(str(m.get("name", "")), account),
            str(m.get("displayName", "")),
            str(m.get("kind", "")),
            str(m.get("state", "")),
            human_count(details.get("parameterCount")) if isinstance(details, dict) else "",
            str(context) if context else "",
            flag(m.get("public")),
            flag(m.get("supportsServerless")),
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: "FLUX.1 [dev]" is model text, not markup
    return table


def flatten(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "defaultSamplingParams":
            yield from flatten(value, path + ".")
        elif isinstance(value, bool):
            yield path, "true" if value else "false"
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            yield path, ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            yield path, json_text(value, indent=None)
        elif key == "parameterCount":
            yield path, f"{value} ({human_count(value)})"
        else:
            yield path, str(value)


def print_model(model: dict[str, Any], output: ModelOutput) -> None:
    if output is ModelOutput.json:
        write(json_text(model) + "\n")
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in flatten(model):
        table.add_row(Text(key), Text(value))
    console().print(table)
