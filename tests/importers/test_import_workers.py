"""Issue 15 item 15: ``modelyard import`` with worker processes: they import the installed package (not a
``modelyard/`` folder in the current directory), they end with a killed import, and a re-run of an
interrupted import sets existing models aside per batch and says so once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from modelyard.importers.jsonl import import_lines
from modelyard.store.repository import Store
from tests.support.installed import MODELYARD, run_modelyard, user_env


def _lines(n: int, start: int = 0) -> list[str]:
    return [json.dumps({"modelId": f"m-{i}", "kind": "EMBEDDING_MODEL"}) for i in range(start, start + n)]


def test_import_from_a_folder_holding_a_modelyard_directory(tmp_path: Path) -> None:
    # Another checkout (an older version, say): a package whose modules are not the installed ones.
    shadow = tmp_path / "modelyard" / "importers"
    shadow.mkdir(parents=True)
    for module in (
        "modelyard/__init__.py",
        "modelyard/importers/__init__.py",
        "modelyard/importers/jsonl.py",
    ):
        (tmp_path / module).write_text('"""Not the installed modelyard."""\n')
    (tmp_path / "big.jsonl").write_text("\n".join(_lines(8_100)) + "\n")  # past 8,000 lines: workers
    result = run_modelyard("import", "big.jsonl", "-a", "acme", "--db", "sqlite:///big.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Imported 8100 new" in " ".join(result.stderr.split())


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_killed_import_takes_its_workers_along(tmp_path: Path) -> None:
    # stdin stays open: the import waits for more lines with its two decoding workers started.
    proc = subprocess.Popen(
        [MODELYARD, "import", "-", "-a", "acme", "--db", f"sqlite:///{tmp_path / 'k.db'}", "--jobs", "2",
         "--batch-size", "10"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=user_env(),
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write("\n".join(_lines(100)) + "\n")
    proc.stdin.flush()
    workers: set[int] = set()
    deadline = time.monotonic() + 60  # hang guard
    while len(workers) < 3 and time.monotonic() < deadline:  # the fork server and two workers
        time.sleep(0.1)
        workers = _descendants(proc.pid)
    assert len(workers) >= 3, workers
    proc.kill()
    proc.wait()
    proc.stdin.close()
    deadline = time.monotonic() + 30  # bounded wait: the workers must be gone well before this
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if _running(pid)] == []


class _CountingStore:
    """A Store whose write transactions are counted."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.writes = 0

    def write_rows(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        self.writes += 1
        return self._store.write_rows(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_rerun_sets_existing_models_aside_per_batch(sqlite_store: Store) -> None:
    first = import_lines(sqlite_store, enumerate(_lines(1_500), start=1), account="acme", batch_size=500)
    assert first.created == 1_500
    counting = _CountingStore(sqlite_store)
    again = import_lines(
        counting,  # type: ignore[arg-type]
        enumerate(_lines(2_500), start=1),
        account="acme",
        batch_size=500,
    )
    assert (again.created, again.replaced, again.rejected) == (1_000, 0, [])
    assert [n for n, _ in again.existing] == list(range(1, 1_501))
    assert counting.writes <= 2 * 5  # at most a failed and a good transaction per batch, never one per row


def test_rerun_says_so_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'r.db'}"
    (tmp_path / "half.jsonl").write_text("\n".join(_lines(300)) + "\n")
    (tmp_path / "all.jsonl").write_text("\n".join(_lines(600)) + "\n")
    assert run_modelyard("import", "half.jsonl", "-a", "acme", "--db", db, cwd=tmp_path).returncode == 0
    again = run_modelyard(
        "import", "all.jsonl", "-a", "acme", "--db", db, "--batch-size", "100", cwd=tmp_path
    )
    assert again.returncode == 0  # models already there are no failure (issue 25 item 6)
    said = [line for line in again.stderr.splitlines() if "exist" in line]
    assert said == ["300 models already exist (the first: line 1, accounts/acme/models/m-0); "
                    "to replace them, run again with --upsert"]  # fmt: skip
    said_all = " ".join(again.stderr.split())
    assert "Imported 300 new and 0 replaced models into account 'acme' (database sqlite:///" in said_all
    assert "; 300 already there, 0 lines rejected." in said_all
