"""Run ``modelyard`` client commands (``models ...``, ``login``) as real subprocesses with a chosen
environment, and check their output: helpers for tests/cli/ (fixtures are in tests/cli/conftest.py)."""

from __future__ import annotations

import json
import os
import pty
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.accounts import Account

CONNECTION_VARS = (
    "MODELYARD_BASE_URL",
    "MODELYARD_API_KEY",
    "MODELYARD_ACCOUNT",
    "MODELYARD_PROFILE",
    "MODELYARD_CONFIG",
    "FIREWORKS_BASE_URL",
    "FIREWORKS_API_KEY",
    "FIREWORKS_ACCOUNT_ID",
)

Result = subprocess.CompletedProcess[str]
Cli = Callable[..., Result]


def run_cli(
    environ: Mapping[str, str],
    command: str,
    *,
    input: str | None = None,
    stdin: int | None = None,
    **env: str | None,
) -> Result:
    """``python -m modelyard.cli COMMAND`` with ``environ`` plus ``env`` (None removes a variable). Without
    ``input`` or ``stdin`` (a file descriptor), stdin is /dev/null (not a terminal)."""
    full = dict(environ)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *shlex.split(command)],
        env=full,
        input=input,
        stdin=stdin if stdin is not None else None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(result: Result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result: Result, code: int) -> str:
    """The single ``error: ...`` line of a failed run."""
    assert result.returncode == code, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def on_terminal(cli: Cli, command: str, *, answer: str) -> Result:
    """Run with a pseudo-terminal as stdin, typing ``answer``."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        return cli(command, stdin=slave)
    finally:
        os.close(master)
        os.close(slave)


def as_json(result: Result) -> Any:
    return json.loads(ok(result))


def seed(account: Account, model_id: str, **fields: Any) -> None:
    model = {"kind": "HF_BASE_MODEL", "baseModelDetails": {"parameterCount": "8030000000"}, **fields}
    r = account.client.post(account.url(), json={"modelId": model_id, "model": model})
    assert r.status_code == 200, r.text
