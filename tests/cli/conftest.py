"""Fixtures of the CLI tests: a temporary home, an environment without connection settings and a ``cli``
runner connected to the session server with a fresh account."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.accounts import Account
from tests.support.client_cli import CONNECTION_VARS, Cli, Result, run_cli
from tests.support.server import Server


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    d = tmp_path / "home"
    d.mkdir()
    return d


@pytest.fixture()
def bare_env(home: Path) -> dict[str, str]:
    """The test process's environment without any connection setting, and with a temporary home."""
    environ = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARS}
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        MODELYARD_CONFIG=str(home / "profiles.toml"),
        COLUMNS="250",
    )
    return environ


@pytest.fixture()
def cli(bare_env: dict[str, str], server: Server, account: Account) -> Cli:
    """``modelyard COMMAND`` with MODELYARD_BASE_URL, MODELYARD_API_KEY and MODELYARD_ACCOUNT set."""
    environ = {
        **bare_env,
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": account.key,
        "MODELYARD_ACCOUNT": account.id,
    }

    def run(command: str, *, input: str | None = None, stdin: int | None = None, **env: str | None) -> Result:
        return run_cli(environ, command, input=input, stdin=stdin, **env)

    return run
