"""Issue 15 items 12 and 16: the demo (``scripts/demo`` runs ``modelyard serve --demo``) as a new user meets
it: the printed key and account show the catalog through ``login`` + ``models list``, and its throwaway
database folder is removed on Ctrl-C, SIGTERM and a failed start."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from modelyard.importers.demo import demo_catalog
from tests.support.installed import banner_value, one_error_line, run_modelyard, start_demo, wait_healthy


def _demo_folders(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("modelyard-demo-"))


@pytest.mark.parametrize(
    ("sig", "workers"),
    [(signal.SIGINT, "1"), (signal.SIGTERM, "1"), (signal.SIGINT, "2"), (signal.SIGTERM, "2")],
)
def test_demo_folder_is_removed_on_signals(tmp_path: Path, sig: signal.Signals, workers: str) -> None:
    proc, banner = start_demo("--workers", workers, TMPDIR=str(tmp_path))
    try:
        wait_healthy(banner_value(banner, "modelyard listening on"))
        assert len(_demo_folders(tmp_path)) == 1, banner
    finally:
        proc.send_signal(sig)
        proc.communicate(timeout=180)  # a hang guard
    assert proc.returncode in (0, 130, 128 + signal.SIGTERM), proc.returncode
    assert _demo_folders(tmp_path) == []


def test_demo_folder_is_removed_after_a_failed_start(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_modelyard("serve", "--demo", "--port", str(port), TMPDIR=str(tmp_path))
    assert "already in use" in one_error_line(result, 1)
    assert _demo_folders(tmp_path) == []


def test_demo_key_sees_the_catalog_after_login(tmp_path: Path) -> None:
    """The README's first steps: start the demo, log in with the account and key it prints, list."""
    proc, banner = start_demo(TMPDIR=str(tmp_path))
    try:
        base = banner_value(banner, "modelyard listening on")
        key = banner_value(banner, "API key")
        account = banner_value(banner, "Account")
        env = {"MODELYARD_CONFIG": str(tmp_path / "profiles.toml"), "COLUMNS": "200"}
        login = run_modelyard("login", "--base-url", base, "--api-key", key, "--account", account, **env)
        assert login.returncode == 0, login.stderr
        listed = run_modelyard("models", "list", "--page-size", "5", **env)
        assert listed.returncode == 0, listed.stderr
        assert f"5 of {len(demo_catalog())} models" in listed.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=180)
