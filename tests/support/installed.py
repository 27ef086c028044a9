"""The installed ``modelyard`` command (the console script beside this interpreter), run as a user runs
it: from any folder, with the user's environment, its exit status and stderr checked as they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

#: The console script pip installed into the virtualenv running the tests.
MODELYARD = str(Path(sys.executable).with_name("modelyard"))


def user_env(**env: str | None) -> dict[str, str]:
    """The test's environment, no colour, terminal width left to the program; ``None`` removes a
    variable."""
    full = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    full["NO_COLOR"] = "1"
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def run_modelyard(
    *args: str, cwd: Path | None = None, input: str | None = None, timeout: float = 120, **env: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MODELYARD, *args],
        cwd=cwd,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=user_env(**env),
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``error: ...`` line a failed command printed (nothing else on stderr), after checking
    its exit status."""
    assert result.returncode == code, f"exit {result.returncode}\nout: {result.stdout}\nerr: {result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def start_demo(*args: str, cwd: Path | None = None, **env: str | None) -> tuple[subprocess.Popen[str], str]:
    """``modelyard serve --demo --port 0 ARGS``; returns the process once it listens, and its output so
    far (the demo's banner: database folder, account, API key)."""
    proc = subprocess.Popen(
        [MODELYARD, "serve", "--demo", "--port", "0", "--log-level", "warning", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=user_env(**env),
    )
    assert proc.stdout is not None
    banner = ""
    deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
    while "API key:" not in banner and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(f"the demo did not start:\n{banner}")
        banner += line
    return proc, banner


def wait_healthy(base_url: str) -> None:
    """Wait (a hang guard) until the server at ``base_url`` answers ``/healthz``."""
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base_url + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{base_url} never became healthy"
        time.sleep(0.1)


def banner_value(banner: str, label: str) -> str:
    match = re.search(rf"^{re.escape(label)}:? (\S+)", banner, re.M)
    assert match is not None, banner
    return match.group(1)
