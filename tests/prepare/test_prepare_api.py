"""``:prepare`` through the official ``fireworks-ai`` SDK (``client.models.prepare``) against a real
``modelyard serve`` (SQLite and PostgreSQL; file storage and S3 through moto's server), its jobs run by a
real ``modelyard worker --once`` process; the variant read back from the precision's branch through the
storage layer and checked as the conversion tests check it (decisions.md, "Prepared precisions").

The servers run no jobs themselves here (``MODELYARD_SERVER_JOBS=0``): the worker process runs what is
queued and exits, so nothing waits on a clock."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fireworks import BadRequestError, Fireworks, NotFoundError, PermissionDeniedError

from modelyard.storage import open_storage
from modelyard.storage.base import FileRef
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.prepare.checkpoints import (
    assert_fp8_block_close,
    dense_tensors,
    load,
    moe_tensors,
    write_checkpoint,
)
from tests.support.api import uid
from tests.support.files import FilesServer, S3Server, checkpoint_files, storage_for, upload
from tests.support.identity import make_team
from tests.support.server import start_server, stop_server


@contextlib.contextmanager
def _serving(backend: str, kind: str, tmp_root: Path, s3: S3Server | None) -> Iterator[FilesServer]:
    storage_url, env = storage_for(kind, tmp_root, s3)
    store = Store(make_engine(backend))
    upgrade(store.engine)
    env = {**env, "MODELYARD_GC_INTERVAL": "0", "MODELYARD_SERVER_JOBS": "0"}
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
def prep(request: pytest.FixtureRequest, backend: str, tmp_root: Path) -> Iterator[FilesServer]:
    kind: str = request.param
    s3: S3Server | None = request.getfixturevalue("s3_server") if kind == "s3" else None
    with _serving(backend, kind, tmp_root, s3) as srv:
        yield srv


def run_worker(srv: FilesServer) -> subprocess.CompletedProcess[str]:
    """``modelyard worker --once`` on the server's database and storage: runs the queued jobs, exits."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelyard.cli",
            "worker",
            "--once",
            "--db",
            srv.db_url,
            "--storage",
            srv.storage_url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **srv.env},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def ready_model(srv: FilesServer, client: Fireworks, folder: Path) -> str:
    model_id = uid("prep")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, checkpoint_files(folder))
    client.models.validate_upload(model_id)
    assert client.models.get(model_id).state == "READY"
    return model_id


def branch_files(srv: FilesServer, account: str, model_id: str, branch: str) -> dict[str, bytes]:
    """Every file of a branch's head, read through the storage layer by its blob."""
    store = srv.store
    head = store.revisions.resolve(account, model_id, branch)
    storage = open_storage(srv.storage_url) if srv.storage_kind == "file" else _s3_storage(srv)
    out = {}
    for entry in store.revisions.tree(head.commit_id):
        ref = FileRef(account, model_id, entry.path, entry.size, "", f"sha256:{entry.sha256}")
        reader = storage.open_reader(ref)
        out[entry.path] = reader.read(0, entry.size)
    return out


def _s3_storage(srv: FilesServer):  # type: ignore[no-untyped-def]
    from modelyard.storage.s3 import S3Storage

    assert srv.s3 is not None
    bucket, _, prefix = srv.storage_url[len("s3://") :].partition("/")
    return S3Storage(bucket, prefix, client=srv.s3.client())


def test_prepare_fp8_through_the_sdk(prep: FilesServer, tmp_path: Path) -> None:
    account = prep.new_account()
    client = prep.sdk(account)
    tensors = dense_tensors(layers=1)
    write_checkpoint(tmp_path / "ck", tensors, shards=2)
    model_id = ready_model(prep, client, tmp_path / "ck")

    assert client.models.prepare(model_id, precision="FP8") == {}
    model = client.models.get(model_id)
    assert model.state == "PREPARING" and "preparing FP8" in (model.status.message if model.status else "")
    assert client.models.prepare(model_id, precision="FP8") == {}  # queued: the same job
    jobs = prep.store.jobs.for_model(account.id, model_id)
    assert [(j.argument, j.state) for j in jobs] == [("FP8", "queued")]

    run_worker(prep)
    model = client.models.get(model_id)
    assert model.state == "READY" and model.supported_precisions == ["FP8"]
    assert [j.state for j in prep.store.jobs.for_model(account.id, model_id)] == ["done"]

    main = branch_files(prep, account.id, model_id, "main")
    fp8 = branch_files(prep, account.id, model_id, "fp8")
    assert set(fp8) == set(main)
    for carried in ("tokenizer.json", "generation_config.json"):
        assert fp8[carried] == main[carried]
    config = json.loads(fp8["config.json"])
    assert config["quantization_config"]["weight_block_size"] == [128, 128]
    converted: dict[str, np.ndarray] = {}
    for name, data in fp8.items():
        if name.endswith(".safetensors"):
            (tmp_path / name).write_bytes(data)
            converted.update(load(tmp_path / name))
    index = json.loads(fp8["model.safetensors.index.json"])
    assert set(index["weight_map"]) == set(converted)
    for name, original in tensors.items():
        if name.endswith("_proj.weight"):
            assert_fp8_block_close(original, converted[name], converted[name + "_scale_inv"])
        else:
            assert converted[name].tobytes() == original.tobytes()
    head = prep.store.revisions.resolve(account.id, model_id, "fp8")
    assert head.parent_id == prep.store.revisions.resolve(account.id, model_id, "main").commit_id

    # Preparing again: {} and no job.
    assert client.models.prepare(model_id, precision="FP8") == {}
    assert len(prep.store.jobs.for_model(account.id, model_id)) == 1


def test_prepare_bf16_and_fp16_of_one_model(prep: FilesServer, tmp_path: Path) -> None:
    account = prep.new_account()
    client = prep.sdk(account)
    write_checkpoint(tmp_path / "ck", moe_tensors())
    model_id = ready_model(prep, client, tmp_path / "ck")
    assert client.models.prepare(model_id, precision="FP16") == {}
    assert client.models.prepare(model_id, precision="BF16") == {}
    run_worker(prep)
    model = client.models.get(model_id)
    assert model.state == "READY" and sorted(model.supported_precisions or []) == ["BF16", "FP16"]
    fp16 = branch_files(prep, account.id, model_id, "fp16")
    assert json.loads(fp16["config.json"])["torch_dtype"] == "float16"
    (tmp_path / "fp16.safetensors").write_bytes(fp16["model.safetensors"])
    assert load(tmp_path / "fp16.safetensors")["model.layers.0.mlp.gate.weight"].dtype == np.float16


def test_refusals(prep: FilesServer, tmp_path: Path) -> None:
    account = prep.new_account()
    client = prep.sdk(account)
    write_checkpoint(tmp_path / "ck", dense_tensors(layers=1))
    model_id = ready_model(prep, client, tmp_path / "ck")
    for precision in ("NF4", "FP8_MM", "PRECISION_UNSPECIFIED"):
        with pytest.raises(BadRequestError) as refused:
            client.models.prepare(model_id, precision=precision)  # type: ignore[arg-type]
        assert "FP8, BF16, FP16" in str(refused.value)
    with pytest.raises(BadRequestError):
        client.models.prepare(model_id)  # no precision

    adapter = uid("lora")
    client.models.create(
        model_id=adapter,
        model={
            "kind": "HF_PEFT_ADDON",
            "peft_details": {
                "base_model": f"accounts/{account.id}/models/{model_id}",
                "r": 8,
                "target_modules": ["q_proj"],
            },
        },
    )
    with pytest.raises(BadRequestError) as refused:
        client.models.prepare(adapter, precision="FP8")
    assert "adapter" in str(refused.value)

    uploading = uid("up")
    client.models.create(model_id=uploading, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    with pytest.raises(BadRequestError):  # FAILED_PRECONDITION: 400 as the SDK sees it
        client.models.prepare(uploading, precision="FP8")

    prep.store.create_model(account.id, "no-files", {"kind": "HF_BASE_MODEL", "state": "READY"})
    with pytest.raises(BadRequestError) as refused:  # READY (imported) but nothing uploaded
        client.models.prepare("no-files", precision="FP8")
    assert "no files" in str(refused.value)

    other = prep.sdk(prep.new_account())
    with pytest.raises(NotFoundError):
        other.models.prepare(model_id, account_id=account.id, precision="FP8")
    team = make_team(prep)  # type: ignore[arg-type]
    team_client = Fireworks(
        api_key=team.keys["admin"], base_url=prep.base_url, account_id=team.account, max_retries=0
    )
    prep.clients.append(team_client)
    team_model = ready_model(prep, team_client, tmp_path / "ck")
    for role in ("inference-user",):
        limited = prep.sdk(type(account)(team.account, team.keys[role], account.client))
        with pytest.raises(PermissionDeniedError):
            limited.models.prepare(team_model, precision="FP8")
    assert client.models.get(model_id).state == "READY"
    assert prep.store.jobs.for_model(account.id, model_id) == []


def test_a_failed_preparation_leaves_the_model_ready_and_says_why(prep: FilesServer, tmp_path: Path) -> None:
    account = prep.new_account()
    client = prep.sdk(account)
    tensors = dense_tensors(layers=1)
    tensors["model.layers.0.mlp.up_proj.weight"][3, 3] = np.inf
    write_checkpoint(tmp_path / "ck", tensors)
    model_id = ready_model(prep, client, tmp_path / "ck")
    assert client.models.prepare(model_id, precision="FP8") == {}
    run_worker(prep)
    model = client.models.get(model_id)
    assert model.state == "READY" and not model.supported_precisions
    assert model.status is not None and "preparing FP8 failed" in (model.status.message or "")
    assert "up_proj.weight" in (model.status.message or "")
    from modelyard.store.revisions import RevisionNotFound

    with pytest.raises(RevisionNotFound):  # nothing committed
        prep.store.revisions.resolve(account.id, model_id, "fp8")
    assert [j.state for j in prep.store.jobs.for_model(account.id, model_id)] == ["failed"]


def test_a_worker_killed_mid_job_leaves_nothing_and_the_job_completes(
    prep: FilesServer, tmp_path: Path
) -> None:
    """A ``modelyard worker`` killed with SIGKILL once it has taken the job (wherever it was: reading,
    converting, writing blobs, committing): the model stays PREPARING with no half-written variant
    visible, and the next worker takes the job again (the killed one's 50 ms lease has long expired by
    the time a new process runs) and completes it."""
    account = prep.new_account()
    client = prep.sdk(account)
    tensors = dense_tensors(layers=4, hidden=512, inter=1024)
    write_checkpoint(tmp_path / "ck", tensors, shards=2)
    model_id = ready_model(prep, client, tmp_path / "ck")
    assert client.models.prepare(model_id, precision="FP8") == {}
    worker = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli", "worker", "--lease", "0.05", "--db", prep.db_url,
         "--storage", prep.storage_url],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **prep.env},
    )  # fmt: skip
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            if " taken: prepare FP8 of " in line:
                break
        worker.send_signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    model = client.models.get(model_id)
    if model.state == "PREPARING":  # killed before it finished: nothing of the variant is visible
        assert not model.supported_precisions
        assert [j.state for j in prep.store.jobs.for_model(account.id, model_id)] == ["running"]
    run_worker(prep)
    model = client.models.get(model_id)
    assert model.state == "READY" and model.supported_precisions == ["FP8"]
    fp8 = branch_files(prep, account.id, model_id, "fp8")
    converted: dict[str, np.ndarray] = {}
    for name, data in fp8.items():
        if name.endswith(".safetensors"):
            (tmp_path / name).write_bytes(data)
            converted.update(load(tmp_path / name))
    for name, original in tensors.items():
        if name.endswith("_proj.weight"):
            assert_fp8_block_close(original, converted[name], converted[name + "_scale_inv"])
    assert [j.state for j in prep.store.jobs.for_model(account.id, model_id)] == ["done"]
