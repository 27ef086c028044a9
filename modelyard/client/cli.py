"""``modelyard login`` and the ``modelyard models`` command group: a command-line client for the Models
API (works against any server speaking the Fireworks Gateway REST Models API, modelyard or Fireworks).

Layout: ``client/cli_models.py`` (the ``models`` commands), ``client/options.py`` (options, declared
once), ``client/output.py`` (tables, JSON, error lines and exit codes), ``client/config.py`` (settings
and profiles), ``client/http.py`` (the HTTP client). Expected failures print one ``error: ...`` line on
stderr: exit status 1 for API and connection errors, 2 for usage and configuration errors.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelyard.client.cli_models import models_app
from modelyard.client.config import DEFAULT_BASE_URL, ConfigError, resolve, write_profile
from modelyard.client.http import ApiError, ModelyardClient
from modelyard.client.options import parse_count
from modelyard.client.output import api_hint, errors, fail, human_count


def login(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help=f"Server URL (else from the environment or the profile; default {DEFAULT_BASE_URL}).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key (else from the environment or the profile; prompted for on a terminal).",
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-a",
            help="Account id (else from the environment or the profile; prompted for on a terminal).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Profile name (env MODELYARD_PROFILE; default 'default').",
            show_default=False,
        ),
    ] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Save without checking the key.")] = False,
) -> None:
    """Save a server URL, API key and account as a profile (mode 0600) for 'modelyard models'.

    Values not given as flags come from MODELYARD_* / FIREWORKS_*, then from the profile's current values.

    The file is $MODELYARD_CONFIG, or profiles.toml in the user config directory.

    Unless --no-verify, the key is checked first by listing one model of the account.
    """
    with errors() as run:
        settings = run.settings = resolve(
            base_url=base_url, api_key=api_key, account=account, profile=profile, profile_must_exist=False
        )
        path, name = settings.config_path, settings.profile
        url = settings.base_url_value
        key = settings.api_key.value
        acct = settings.account.value
        interactive = sys.stdin.isatty()
        if key is None:
            if not interactive:
                raise ConfigError("no API key: pass --api-key KEY (create one with 'modelyard keys create')")
            key = typer.prompt("API key", hide_input=True).strip()
        if acct is None:
            if not interactive:
                raise ConfigError("no account: pass --account ACCOUNT_ID")
            acct = typer.prompt("Account id").strip()
        if not key or not acct:
            raise ConfigError("the API key and the account must not be empty")
        note = "not verified"
        if not no_verify:
            with ModelyardClient(url, key) as client:
                try:
                    page = client.list_models(acct, page_size=1)
                    # every model the key can read: its account's and the public ones of all accounts
                    readable = _readable_total(client)
                except ApiError as e:
                    fail(f"{e}{api_hint(e, settings)}; nothing saved (--no-verify saves anyway)", 1)
            total = page.get("totalSize")
            note = "verified"
            if isinstance(total, int):
                note = f"verified: {total} models in {acct}"
                if readable is not None and readable != total:
                    note += f", {readable} readable in all (public models of other accounts included)"
        try:
            write_profile(path, name, {"base_url": url, "api_key": key, "account": acct})
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
        sys.stderr.write(f"saved profile {name!r} to {path} (account {acct} at {url}; {note})\n")


def _readable_total(client: ModelyardClient) -> int | None:
    """How many models the key can read in every account (AIP-159's ``-``); None when the server cannot
    say (a Fireworks server may not list across accounts)."""
    try:
        total = client.list_models("-", page_size=1).get("totalSize")
    except ApiError as e:
        if e.status == 0:
            raise
        return None
    return total if isinstance(total, int) else None


__all__ = ["human_count", "login", "models_app", "parse_count"]
