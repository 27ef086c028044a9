"""Run the ``modelyard`` command line as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def modelyard_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m modelyard.cli ARGS`` with the caller's environment (no colour, wide columns)."""
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
