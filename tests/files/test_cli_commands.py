"""``modelyard models upload`` and ``modelyard models download`` as real subprocesses against
``modelyard serve`` (SQLite and PostgreSQL; file storage, and S3 storage on moto's S3 server): a base model
from tiny real safetensors, a LoRA adapter, skipping complete files, resuming after the CLI was killed
mid-upload, downloads that resume partial files, and errors as one line."""

from __future__ import annotations

import json
import os
import pty
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client_cli import CONNECTION_VARS, Result, fails, ok, run_cli
from tests.support.files import FilesServer
from tests.support.hf_fixtures import make_peft, make_qwen2

MIB = 1 << 20
Cli = Callable[..., Result]
#: The commands do not care which database the server runs on: beyond the round trip (every database
#: and storage), they run against the SQLite server only.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make_env(home: Path, server: FilesServer, key: str, account: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARS}
    environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        MODELYARD_CONFIG=str(home / "profiles.toml"),
        COLUMNS="250",
        MODELYARD_BASE_URL=server.base_url,
        MODELYARD_API_KEY=key,
        MODELYARD_ACCOUNT=account,
    )
    return environ


def cli_for(server: FilesServer, tmp_path: Path) -> tuple[Cli, dict[str, str], str]:
    account = server.new_account("cli")
    environ = make_env(tmp_path / "home", server, account.key, account.id)

    def run(command: str, **env: str | None) -> Result:
        return run_cli(environ, command, **env)

    return run, environ, account.id


def test_upload_a_base_model_then_download_it(files_server: FilesServer, tmp_path: Path) -> None:
    cli, _, account = cli_for(files_server, tmp_path)
    ck = make_qwen2(tmp_path / "qwen")
    (ck.path / "extra").mkdir()
    (ck.path / "extra" / "notes.txt").write_text("tiny\n")
    (ck.path / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    files = {k: v for k, v in tree(ck.path).items() if not k.startswith(".")}

    result = cli(f"models upload tiny-qwen {ck.path} --display-name 'Tiny Qwen' --public -o json")
    model = json.loads(ok(result))
    assert model["name"] == f"accounts/{account}/models/tiny-qwen"
    assert model["state"] == "READY" and model["kind"] == "HF_BASE_MODEL"
    assert model["displayName"] == "Tiny Qwen" and model["public"] is True
    assert model["baseModelDetails"]["parameterCount"] == str(ck.parameter_count)
    assert model["supportsTools"] is True and model["contextLength"] == 32768
    err = result.stderr
    assert f"created accounts/{account}/models/tiny-qwen (HF_BASE_MODEL)" in err
    assert "left out 1 (hidden, or linked folders): .gitattributes" in err
    for name in files:
        assert re.search(rf"^{re.escape(name)} \(.*\): uploaded$", err, re.M), err
    assert f"sent {len(files)} files" in err and "skipped 0 already uploaded" in err
    assert f"validated accounts/{account}/models/tiny-qwen: READY" in err

    out = tmp_path / "out"
    done = ok(cli(f"models download accounts/{account}/models/tiny-qwen {out}"))
    assert tree(out) == files
    assert f"downloaded {len(files)} files" in done and "0 resumed" in done
    if files_server.storage_kind == "file":  # modelyard's own URLs name the SHA-256 of each file
        assert f"{len(files)} checked by SHA-256/MD5" in done

    again = ok(cli(f"models download tiny-qwen {out}"))
    assert "downloaded 0 files" in again and f"skipped {len(files)} already complete" in again

    weights = out / "model.safetensors"
    weights.rename(out / "model.safetensors.part")
    with open(out / "model.safetensors.part", "r+b") as f:
        f.truncate(5000)
    resumed = ok(cli(f"models download tiny-qwen {out}"))
    assert "downloaded 1 file " in resumed and "1 resumed" in resumed
    assert tree(out) == files


@sqlite_only
def test_upload_a_lora_adapter(file_storage_server: FilesServer, tmp_path: Path) -> None:
    cli, _, account = cli_for(file_storage_server, tmp_path)
    base = make_qwen2(tmp_path / "qwen")
    ok(cli(f"models upload base {base.path}"))
    lora = make_peft(tmp_path / "lora")

    line = fails(cli(f"models upload my-lora {lora.path}"), 2)
    assert "holds adapter_config.json, a PEFT adapter: pass --base-model" in line
    assert "'meta-llama/Llama-3.1-8B-Instruct'" in line

    model = json.loads(ok(cli(f"models upload my-lora {lora.path} --base-model base -o json")))
    assert model["kind"] == "HF_PEFT_ADDON" and model["state"] == "READY"
    assert model["peftDetails"]["baseModel"] == f"accounts/{account}/models/base"
    assert model["peftDetails"]["r"] == 16
    assert sorted(model["peftDetails"]["targetModules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def _state_files(environ: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    for path in (Path(environ["XDG_STATE_HOME"]) / "modelyard" / "uploads").glob("*.json"):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return found


def _held(session: str, size: int) -> int:
    """What a resumable upload session holds, asked the way the protocol asks (308 + Range)."""
    r = httpx.put(session, content=b"", headers={"Content-Range": f"bytes */{size}"}, timeout=10)
    m = re.fullmatch(r"bytes=0-(\d+)", r.headers.get("Range", ""))
    return int(m.group(1)) + 1 if r.status_code == 308 and m else 0


@sqlite_only
def test_upload_killed_midway_skips_complete_files_and_resumes(
    file_storage_server: FilesServer, tmp_path: Path
) -> None:
    cli, environ, account = cli_for(file_storage_server, tmp_path)
    ck = make_qwen2(tmp_path / "qwen")
    rng = random.Random(7)
    for i in range(3):
        (ck.path / f"extra-{i}.bin").write_bytes(rng.randbytes(16 * MIB))
    files = tree(ck.path)
    command = f"models upload killed {ck.path} --jobs 1 --resumable --chunk-size 1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", *command.split()],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            entries = [e for s in _state_files(environ) for e in s.get("files", {}).values()]
            sessions = [(e["session"], e["size"]) for e in entries if e.get("session")]
            if any(e.get("done") for e in entries) and sessions and _held(*sessions[0]) >= MIB:
                break  # one file complete, another one part of the way
            time.sleep(0.005)
        assert proc.poll() is None, "the upload ended before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)

    state = _state_files(environ)[0]["files"]
    complete = sorted(n for n, e in state.items() if e.get("done"))
    assert complete and all(n.startswith("extra-") for n in complete)
    get = ok(cli("models get killed -o json"))
    assert json.loads(get)["state"] == "UPLOADING"

    result = cli(command)
    ok(result)
    err = result.stderr
    for name in complete:
        assert f"{name} (16.0 MiB): already there, skipped" in err
    m = re.search(r"sent (\d+) files \(([\d.]+) MiB", err)
    assert m, err
    assert int(m.group(1)) == len(files) - len(complete)
    assert float(m.group(2)) < 48 - 16 * len(complete)  # the interrupted file went on where it stopped
    assert f"validated accounts/{account}/models/killed: READY" in err
    assert not _state_files(environ)

    out = tmp_path / "out"
    ok(cli(f"models download killed {out}"))
    assert tree(out) == files


@sqlite_only
def test_errors_are_one_line(file_storage_server: FilesServer, tmp_path: Path) -> None:
    cli, _, account = cli_for(file_storage_server, tmp_path)
    ok(cli("models create pending --kind HF_BASE_MODEL"))
    line = fails(cli(f"models download pending {tmp_path / 'out'}"), 1)
    assert line.startswith("error: FAILED_PRECONDITION (400): ") and "UPLOADING" in line
    assert not (tmp_path / "out").exists()

    line = fails(cli(f"models upload pending {tmp_path / 'missing'}"), 2)
    assert line == f"error: {tmp_path / 'missing'}: no such directory"

    ck = make_qwen2(tmp_path / "qwen")
    ok(cli(f"models upload ready {ck.path}"))
    line = fails(cli(f"models upload ready {ck.path}"), 1)
    assert line == (
        f"error: accounts/{account}/models/ready is READY: its files can no longer be uploaded "
        "(delete it, or pick another id)"
    )

    line = fails(cli(f"models download ready {tmp_path / 'x'}", MODELYARD_API_KEY="wrong"), 1)
    assert line.startswith("error: UNAUTHENTICATED (401): ")

    (tmp_path / "a-file").write_text("x")
    line = fails(cli(f"models download ready {tmp_path / 'a-file'}"), 2)
    assert line == f"error: {tmp_path / 'a-file'}: exists and is not a directory"

    line = fails(cli(f"models download nope {tmp_path / 'x'}"), 1)
    assert line == f"error: NOT_FOUND (404): model accounts/{account}/models/nope not found"

    (ck.path / "bad name.txt").write_text("x")
    line = fails(cli(f"models upload other {ck.path}"), 2)
    assert "bad name.txt: file names may only use A-Z a-z 0-9 . _ -" in line


@sqlite_only
def test_several_files_at_once(file_storage_server: FilesServer, tmp_path: Path) -> None:
    jobs = 4
    cli, _, _ = cli_for(file_storage_server, tmp_path)
    ck = make_qwen2(tmp_path / "qwen")
    for i in range(6):
        (ck.path / f"shard-{i}.bin").write_bytes(random.Random(i).randbytes(300_000 + i))
    files = tree(ck.path)
    ok(cli(f"models upload par-{jobs} {ck.path} --jobs {jobs} --no-resumable"))
    out = tmp_path / "out"
    ok(cli(f"models download par-{jobs} {out} --jobs {jobs}"))
    assert tree(out) == files


def test_against_a_fireworks_like_server_with_bars_on_a_terminal(tmp_path: Path) -> None:
    """The commands against a server with GCS-style signed URLs (``tests/support/fake_gcs.py``), stderr on a
    pseudo-terminal so the progress bars are drawn."""
    from tests.support.fake_gcs import ACCOUNT, KEY, FakeFireworks, running

    fake = FakeFireworks()
    ck = make_qwen2(tmp_path / "qwen")
    (ck.path / "extra.bin").write_bytes(random.Random(5).randbytes(3 * MIB + 11))
    files = tree(ck.path)
    with running(fake) as base_url:
        environ = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARS}
        environ.update(
            HOME=str(tmp_path),
            XDG_STATE_HOME=str(tmp_path / "state"),
            MODELYARD_CONFIG=str(tmp_path / "profiles.toml"),
            FIREWORKS_BASE_URL=base_url,
            FIREWORKS_API_KEY=KEY,
            FIREWORKS_ACCOUNT_ID=ACCOUNT,
            COLUMNS="120",
            TERM="xterm",
        )
        master, slave = pty.openpty()
        chunks: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(master, chunks), daemon=True)
        reader.start()
        try:
            command = f"models upload fw {ck.path} --resumable --chunk-size 1 -o json"
            result = subprocess.run(
                [sys.executable, "-m", "modelyard.cli", *command.split()],
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=slave,
                timeout=120,
                check=False,
            )
        finally:
            os.close(slave)
            reader.join(timeout=10)
            os.close(master)
        screen = b"".join(chunks).decode("utf-8", "replace")
        assert result.returncode == 0, screen
        assert json.loads(result.stdout)["state"] == "READY"
        assert f"Uploaded {len(files)} files" in screen and "━" in screen  # the overall bar was drawn
        assert "extra.bin (3.0 MiB): uploaded" in screen
        assert {name: data for (m, name), data in fake.objects.items() if m == "fw"} == files
        assert fake.resumable_requested == [True]
        assert not any("authorization" in s.headers for s in fake.signed_requests())

        out = tmp_path / "out"
        done = ok(run_cli(environ, f"models download fw {out}"))
        assert f"{len(files)} checked by SHA-256/MD5" in done  # GCS's x-goog-hash md5
        assert tree(out) == files


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed
            return
        if not data:
            return
        into.append(data)
