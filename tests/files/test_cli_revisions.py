"""``modelyard models prepare`` and ``modelyard models download --revision/--include/--exclude`` as real
subprocesses against ``modelyard serve`` (SQLite; file storage and S3 storage on moto's S3 server): a tiny
BF16 checkpoint prepared in FP8 by the server's job thread while ``prepare --wait`` polls, the ``fp8``
branch (and a tag and a commit id of it) downloaded and checked against the revision's tree in the
store, a changed byte repaired by a re-run, unknown revisions and refused precisions as one error line, a
failed job's status, and Ctrl-C that stops the waiting while the job goes on (a worker finishes it).

Each test server has a database of its own (see ``_own_server``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from modelyard.store.revisions import MAIN
from tests.files.test_cli_commands import Cli, make_env, tree
from tests.prepare.checkpoints import dense_tensors, write_checkpoint
from tests.prepare.test_prepare_api import run_worker
from tests.support.accounts import Account
from tests.support.api import uid
from tests.support.client_cli import Result, fails, ok, run_cli
from tests.support.files import FilesServer, S3Server, checkpoint_files, storage_for, upload
from tests.support.server import start_server, stop_server


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _own_server(tmp_root: Path, kind: str, s3: S3Server | None, *, jobs: int) -> Iterator[FilesServer]:
    """``modelyard serve`` on a SQLite database of its own, with ``jobs`` job threads
    (``MODELYARD_SERVER_JOBS``). Its own: the session's database is polled by the job threads of the
    other test servers, whose storage does not hold this one's blobs, so they must not take its jobs."""
    name = f"{kind}-{jobs}-{secrets.token_hex(3)}"
    storage_url, env = storage_for(kind, tmp_root / name, s3)
    backend = f"sqlite:///{tmp_root / (name + '.db')}"
    store = Store(make_engine(backend))
    upgrade(store.engine)
    env = {**env, "MODELYARD_GC_INTERVAL": "0", "MODELYARD_SERVER_JOBS": str(jobs)}
    proc, base = start_server(backend, "--storage", storage_url, env=env)
    srv = FilesServer(base, backend, storage_url, kind, store, proc, env, s3)
    try:
        yield srv
    finally:
        for c in srv.clients:
            c.close()
        stop_server(proc)
        store.engine.dispose()


@pytest.fixture(scope="module", params=["file", "s3"])
def jobs_server(request: pytest.FixtureRequest, tmp_root: Path) -> Iterator[FilesServer]:
    """A server (file or S3 storage) whose job thread runs the preparations."""
    kind: str = request.param
    s3: S3Server | None = request.getfixturevalue("s3_server") if kind == "s3" else None
    with _own_server(tmp_root, kind, s3, jobs=1) as srv:
        yield srv


@pytest.fixture(scope="module")
def idle_server(tmp_root: Path) -> Iterator[FilesServer]:
    """A server (file storage) that runs no jobs: a preparation waits for ``modelyard worker --once``."""
    with _own_server(tmp_root, "file", None, jobs=0) as srv:
        yield srv


def _ready_model(
    srv: FilesServer, tmp_path: Path, config: dict[str, Any] | None = None, **shape: int
) -> tuple[Cli, Account, str]:
    """A ``READY`` model of a fresh account (a tiny BF16 checkpoint sent through the SDK), and a
    ``modelyard`` runner with that account's key: ``(cli, account, model_id)``."""
    account = srv.new_account("clirev")
    folder = tmp_path / "ckpt"
    write_checkpoint(folder, dense_tensors(layers=1, **shape), config=config)
    model_id = uid("rev")
    sdk = srv.sdk(account)
    sdk.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(sdk, model_id, checkpoint_files(folder))
    sdk.models.validate_upload(model_id)
    environ = make_env(tmp_path / "home", srv, account.key, account.id)

    def run(command: str, **env: str | None) -> Result:
        return run_cli(environ, command, **env)

    return run, account, model_id


def _revision_digests(srv: FilesServer, account: str, model_id: str, rev: str) -> dict[str, str]:
    """Path -> SHA-256 of every file of ``rev``, as the store holds the revision."""
    head = srv.store.revisions.resolve(account, model_id, rev)
    return {e.path: e.sha256 for e in srv.store.revisions.tree(head.commit_id)}


def test_prepare_wait_then_download_the_fp8_branch(jobs_server: FilesServer, tmp_path: Path) -> None:
    cli, owner, model_id = _ready_model(jobs_server, tmp_path, hidden=160, inter=200, vocab=150, kv=32)
    account = owner.id

    # prepare --wait: the server's job thread converts; the CLI polls until the precision is supported
    done = cli(f"models prepare {model_id} --precision fp8 --wait --interval 0.1")
    assert ok(done).strip() == f"accounts/{account}/models/{model_id}: FP8 prepared (revision fp8)"
    assert "preparing FP8" in done.stderr  # the status messages, one a line off a terminal
    model = json.loads(ok(cli(f"models get {model_id} -o json")))
    assert model["state"] == "READY" and "FP8" in model["supportedPrecisions"]
    assert model["status"]["message"] == "FP8 prepared (revision fp8)"
    shown = ok(cli(f"models get {model_id}"))
    assert "status.message" in shown and "FP8 prepared (revision fp8)" in shown
    again = ok(cli(f"models prepare {model_id} --precision FP8"))  # prepared already: says so, no job
    assert again.strip().endswith("FP8 prepared (revision fp8)")

    main = _revision_digests(jobs_server, account, model_id, MAIN)
    fp8 = _revision_digests(jobs_server, account, model_id, "fp8")
    assert main["model.safetensors"] != fp8["model.safetensors"] and main["config.json"] != fp8["config.json"]

    # --include/--exclude: globs over the revision's paths, as hf download reads them
    some = tmp_path / "some"
    out = ok(cli(f"models download {model_id} {some} --revision fp8 --include '*.json' --exclude 'tok*'"))
    got = tree(some)
    assert set(got) == {"config.json", "generation_config.json"}, out
    assert {k: _sha(v) for k, v in got.items()} == {k: fp8[k] for k in got}
    assert "quantization_config" in json.loads(got["config.json"])
    assert "(revision fp8)" in out

    # the whole branch; every file has the revision's SHA-256
    out_dir = tmp_path / "fp8"
    first = ok(cli(f"models download {model_id} {out_dir} --revision fp8"))
    files = tree(out_dir)
    assert {k: _sha(v) for k, v in files.items()} == fp8
    assert f"{len(fp8)} checked by SHA-256/MD5" in first

    # a changed byte (same size) is found by the re-run and repaired; a third run has nothing to do
    weights = bytearray(files["model.safetensors"])
    weights[len(weights) // 2] ^= 0x01
    (out_dir / "model.safetensors").write_bytes(bytes(weights))
    second = ok(cli(f"models download {model_id} {out_dir} --revision fp8"))
    assert "downloaded 1 file" in second and "1 repaired" in second, second
    assert tree(out_dir) == files
    third = ok(cli(f"models download {model_id} {out_dir} --revision fp8"))
    assert f"skipped {len(fp8)} already complete" in third and "0 repaired" in third

    # the same revision by commit id and by a tag; main without --revision is still main
    head = jobs_server.store.revisions.resolve(account, model_id, "fp8")
    jobs_server.store.revisions.create_tag(account, model_id, "v1-fp8", revision="fp8")
    for rev in (head.commit_id, "v1-fp8"):
        where = tmp_path / f"by-{rev[:8]}"
        ok(cli(f"models download {model_id} {where} --revision {rev} --include config.json"))
        assert _sha((where / "config.json").read_bytes()) == fp8["config.json"]
    plain = tmp_path / "main"
    ok(cli(f"models download {model_id} {plain} --include '*.safetensors'"))
    assert {k: _sha(v) for k, v in tree(plain).items()} == {"model.safetensors": main["model.safetensors"]}

    # unknown revisions, and globs that match nothing: one error line each
    error = fails(cli(f"models download {model_id} {tmp_path / 'x'} --revision nope"), 1)
    assert "NOT_FOUND (404)" in error and "revision 'nope' not found" in error
    error = fails(cli(f"models download {model_id} {tmp_path / 'x'} --revision {'0' * 40}"), 1)
    assert "NOT_FOUND (404)" in error
    error = fails(cli(f"models download {model_id} {tmp_path / 'x'} --include '*.gguf'"), 1)
    assert "matches --include/--exclude" in error
    assert not (tmp_path / "x").exists()


def test_prepare_refuses_other_precisions_and_unknown_models(
    idle_server: FilesServer, tmp_path: Path
) -> None:
    cli, owner, model_id = _ready_model(idle_server, tmp_path, hidden=64, inter=96, vocab=80, kv=16)

    error = fails(cli(f"models prepare {model_id} --precision INT8 --wait"), 1)
    assert "INVALID_ARGUMENT (400)" in error and all(p in error for p in ("FP8", "BF16", "FP16")), error
    model = json.loads(ok(cli(f"models get {model_id} -o json")))
    assert model["state"] == "READY" and "status" not in model  # nothing was queued
    error = fails(cli("models prepare no-such-model --precision FP8"), 1)
    assert "NOT_FOUND (404)" in error

    # the endpoint's revision parameter (a modelyard extension): empty is 400, the answer names the commit
    path = f"/v1/accounts/{owner.id}/models/{model_id}:getDownloadEndpoint"
    empty = owner.client.get(path, params={"revision": ""})
    assert empty.status_code == 400 and empty.json()["details"][0]["reason"] == "INVALID_REVISION"
    answer = owner.client.get(path, params={"revision": "main"}).json()
    head = idle_server.store.revisions.resolve(owner.id, model_id, MAIN)
    assert answer["revision"] == head.commit_id
    assert answer["filenameToSha256"] == {
        e.path: e.sha256 for e in idle_server.store.revisions.tree(head.commit_id)
    }
    assert answer == {**owner.client.get(path).json(), "filenameToSignedUrls": answer["filenameToSignedUrls"]}


def test_prepare_wait_reports_a_failed_job(jobs_server: FilesServer, tmp_path: Path) -> None:
    """A checkpoint the job refuses (quantised already): --wait ends with the model's failure status."""
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "bfloat16",
        "quantization_config": {"quant_method": "awq", "bits": 4},
    }
    cli, owner, model_id = _ready_model(jobs_server, tmp_path, config, hidden=64, inter=96, vocab=80, kv=16)
    waited = cli(f"models prepare {model_id} --precision FP8 --wait --interval 0.1")
    assert waited.returncode == 1 and waited.stdout == "" and "Traceback" not in waited.stderr
    *progress, error = waited.stderr.strip().splitlines()  # status lines while it ran, then the error
    assert all(line.startswith("preparing FP8") for line in progress), waited.stderr
    assert error.startswith(f"error: accounts/{owner.id}/models/{model_id}: preparing FP8 failed: "), error
    assert "quantised already" in error and error.endswith("(FAILED_PRECONDITION)"), error
    model = json.loads(ok(cli(f"models get {model_id} -o json")))
    assert model["state"] == "READY" and "FP8" not in model.get("supportedPrecisions", [])
    assert model["status"]["code"] == "FAILED_PRECONDITION"
    error = fails(cli(f"models download {model_id} {tmp_path / 'y'} --revision fp8"), 1)
    assert "revision 'fp8' not found" in error  # nothing was committed


def test_ctrl_c_stops_waiting_and_the_job_goes_on(idle_server: FilesServer, tmp_path: Path) -> None:
    cli, owner, model_id = _ready_model(idle_server, tmp_path, hidden=64, inter=96, vocab=80, kv=16)
    environ = make_env(tmp_path / "home", idle_server, owner.key, owner.id)
    command = [
        sys.executable,
        "-m",
        "modelyard.cli",
        "models",
        "prepare",
        model_id,
        "--precision",
        "FP8",
        "--wait",
    ]
    waiting = subprocess.Popen(
        [*command, "--interval", "0.1"],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        first = waiting.stderr.readline()  # the first status line: the CLI is polling now
        assert first.strip() == "preparing FP8: queued", first
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            waiting.kill()
    assert waiting.returncode == 130 and out == "", (out, err)
    assert err.strip().splitlines()[-1] == (
        f"error: stopped waiting; the preparation of FP8 goes on on the server ('modelyard models get "
        f"accounts/{owner.id}/models/{model_id}' shows its status)"
    )
    assert json.loads(ok(cli(f"models get {model_id} -o json")))["state"] == "PREPARING"

    run_worker(idle_server)  # the job was not cancelled: a worker finishes it
    done = ok(cli(f"models prepare {model_id} --precision FP8 --wait"))
    assert done.strip().endswith("FP8 prepared (revision fp8)")
    fp8 = _revision_digests(idle_server, owner.id, model_id, "fp8")
    out_dir = tmp_path / "fp8"
    ok(cli(f"models download {model_id} {out_dir} --revision fp8"))
    assert {k: _sha(v) for k, v in tree(out_dir).items()} == fp8
