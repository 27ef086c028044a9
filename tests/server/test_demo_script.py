"""Issue 25 item 12: ``scripts/demo`` installs on its first run and, re-run, skips the install of an
unchanged checkout (the editable install already serves the code); a changed ``pyproject.toml`` installs
again. The real script runs in a copy of the project whose ``.venv`` holds stand-ins that log calls."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.support.paths import REPO_ROOT as ROOT

PYTHON_STUB = """#!/usr/bin/env bash
echo "python $*" >> "$(dirname "$0")/../calls.log"
bin="$(dirname "$0")"
if [ "$1 $2 $3" = "-m pip install" ]; then
  printf '#!/usr/bin/env bash\\necho "modelyard $*" >> "$(dirname "$0")/../calls.log"\\n' > "$bin/modelyard"
  chmod +x "$bin/modelyard"
fi
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _run(project: Path) -> list[str]:
    log = project / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", str(project / "scripts" / "demo"), "--port", "0"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHON": "false"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines()


def test_a_rerun_skips_the_install_of_an_unchanged_checkout(tmp_path: Path) -> None:
    project = tmp_path / "checkout"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo", project / "scripts" / "demo")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / ".venv" / "bin").mkdir(parents=True)
    _executable(project / ".venv" / "bin" / "python", PYTHON_STUB)

    first = _run(project)
    assert first == ["python -m pip install --quiet -e .", "modelyard serve --demo --port 0"]
    again = _run(project)
    assert again == ["modelyard serve --demo --port 0"]  # nothing changed: no install
    with open(project / "pyproject.toml", "a") as f:
        f.write("\n# a changed dependency list\n")
    changed = _run(project)
    assert changed == ["python -m pip install --quiet -e .", "modelyard serve --demo --port 0"]
