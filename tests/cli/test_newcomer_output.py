"""Issue 25 item 11, through the real CLI against a real server: whole lines when output is not a
terminal, one unit system, Ctrl-C's resume hint, a re-run that changes nothing sends no update, ``users
create`` says what it made, ``login`` counts every model the key can read, ``models --help`` names
upload and download, and the id error names the offending characters."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.accounts import Account
from tests.support.client_cli import Cli, fails, ok
from tests.support.hf_fixtures import make_qwen2
from tests.support.server import Server

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_output_that_is_not_a_terminal_is_never_wrapped_or_truncated(cli: Cli) -> None:
    name = "A display name that is cut on any usual terminal width, surely"
    text = "A description long enough to be wrapped on any usual terminal, " * 4
    ok(cli(f"models create long-one --display-name '{name}' --description '{text.strip()}'"))
    listed = ok(cli("models list", COLUMNS=None))
    assert any(name in line and "long-one" in line for line in listed.splitlines()), listed
    shown = ok(cli("models get long-one", COLUMNS=None))
    assert any(text.strip() in line for line in shown.splitlines()), shown


def test_the_id_error_names_the_offending_characters(cli: Cli) -> None:
    said = fails(cli("models create Bad_ID"), 1)
    assert "contains 'B', 'D', 'I' and '_' (upper case letters are not allowed)" in said, said


def test_models_help_names_upload_and_download(cli: Cli) -> None:
    text = " ".join(ok(cli("models --help", COLUMNS="200")).split())
    assert "upload and download their files" in text


def test_users_create_says_what_it_created(cli: Cli, account: Account) -> None:
    made = cli("users create erin --role contributor -o json")
    ok(made)
    assert f"created accounts/{account.id}/users/erin (role contributor)" in made.stderr


def test_login_counts_every_model_the_key_can_read(
    bare_env: dict[str, str], server: Server, account: Account
) -> None:
    from tests.support.client_cli import run_cli

    other = server.new_account("public")
    other.client.post(
        f"/v1/accounts/{other.id}/models",
        json={"modelId": "shared", "model": {"kind": "EMBEDDING_MODEL", "public": True}},
    )
    account.client.post(
        f"/v1/accounts/{account.id}/models", json={"modelId": "mine", "model": {"kind": "EMBEDDING_MODEL"}}
    )
    readable = account.client.get("/v1/accounts/-/models", params={"pageSize": 1}).json()["totalSize"]
    result = run_cli(
        bare_env, f"login --base-url {server.base_url} --api-key {account.key} --account {account.id}"
    )
    ok(result)
    said = " ".join(result.stderr.split())
    assert f"verified: 1 models in {account.id}, {readable} readable in all" in said, said


def test_a_rerun_with_the_same_flags_sends_no_update_and_units_are_binary(
    cli: Cli, account: Account, tmp_path: Path
) -> None:
    ck = make_qwen2(tmp_path / "qwen")
    ok(cli("models create same --display-name Same"))
    before = account.client.get(f"/v1/accounts/{account.id}/models/same").json()["updateTime"]
    result = cli(f"models upload same {ck.path} --display-name Same")
    ok(result)
    assert "updated" not in result.stderr
    assert re.search(r"sent 6 files \([\d.]+ KiB, [\d.]+ (KiB|MiB)/s\)", result.stderr), result.stderr
    trail = [json.loads(line) for line in ok(cli("audit -o jsonl")).splitlines()]
    assert not [e for e in trail if e["method"] == "UpdateModel"], trail
    after = account.client.get(f"/v1/accounts/{account.id}/models/same").json()
    assert after["state"] == "READY" and after["displayName"] == "Same" and before  # validated, not patched
    again = cli("models update same --display-name Same")
    ok(again)
    assert "unchanged" in again.stderr
    assert (
        account.client.get(f"/v1/accounts/{account.id}/models/same").json()["updateTime"]
        == after["updateTime"]
    )
    trail = [json.loads(line) for line in ok(cli("audit -o jsonl")).splitlines()]
    assert not [e for e in trail if e["method"] == "UpdateModel"], trail
    ok(cli("models update same --display-name Other"))
    trail = [json.loads(line) for line in ok(cli("audit -o jsonl")).splitlines()]
    assert len([e for e in trail if e["method"] == "UpdateModel"]) == 1


def test_ctrl_c_prints_the_resume_hint(
    bare_env: dict[str, str], server: Server, account: Account, tmp_path: Path
) -> None:
    ck = make_qwen2(tmp_path / "qwen")
    (ck.path / "big.bin").write_bytes(random.Random(5).randbytes(48 << 20))
    environ = {
        **bare_env,
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": account.key,
        "MODELYARD_ACCOUNT": account.id,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "models", "upload", "cc", str(ck.path), "--jobs", "1",
         "--resumable", "--chunk-size", "1"],
        env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    state = tmp_path / "state" / "modelyard" / "uploads"
    try:  # in short bursts until the upload is under way, then Ctrl-C while it is stopped
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            files = [json.loads(p.read_text()) for p in state.glob("*.json")] if state.is_dir() else []
            if any(e.get("session") for f in files for e in f.get("files", {}).values()):
                break
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        assert proc.poll() is None, "the upload ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted; run the same command again to resume")
