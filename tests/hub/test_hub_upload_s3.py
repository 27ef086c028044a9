"""Pushing through the Hub door on PostgreSQL with two workers and S3 storage (moto's S3 server): LFS
objects go straight to presigned URLs of the bucket (basic ``PUT`` and multipart ``UploadPart``), are
hashed once by the server before they count, and land at their content-addressed keys; commits validate
as on file storage."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import BadRequestError

from modelyard.store.files import FileStore
from tests.support.databases import fresh_pg_database
from tests.support.files import S3Server
from tests.support.hf_fixtures import make_qwen2
from tests.support.hub_upload import HubServer, serving

#: moto wants parts of 5 MiB (but the last).
PART = 5 * 1024 * 1024


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)


@pytest.fixture(scope="module")
def hub(tmp_root: Path, s3_server: S3Server) -> Iterator[HubServer]:
    """PostgreSQL, two worker processes and S3 (moto's server, ``tests/files``' ``s3_server``), on a
    database of its own: blobs are content-addressed in one table per database, and the session's database
    is shared with servers on other storage whose garbage collection (``grace=0`` in tests) would free a
    row this server's bucket still needs, as no real deployment (one database, one storage) would."""
    with (
        fresh_pg_database() as database,
        serving(database, "s3", tmp_root, s3_server, threshold=PART, part_size=PART, workers=2) as srv,
    ):
        yield srv


def _objects(hub: HubServer, s3: S3Server) -> dict[str, int]:
    bucket, _, prefix = hub.storage_url[len("s3://") :].partition("/")
    found: dict[str, int] = {}
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = int(item["Size"])
    return found


def _read(hub: HubServer, s3: S3Server, sha: str) -> bytes:
    bucket, _, prefix = hub.storage_url[len("s3://") :].partition("/")
    key = f"{prefix.strip('/')}/blobs/sha256/{sha}"
    data: bytes = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def test_push_to_s3_basic_and_multipart(hub: HubServer, s3_server: S3Server, tmp_path: Path) -> None:
    s3 = s3_server
    team = hub.team("s3")
    api = team.api()
    repo = team.repo()
    account, name = repo.split("/")
    api.create_repo(repo)
    folder = make_qwen2(tmp_path / "ckpt").path
    big = os.urandom(2 * PART + 4321)
    (folder / "extra").mkdir()
    (folder / "extra" / "big.bin").write_bytes(big)
    info = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="weights")
    found = hub.store.get_model(f"accounts/{account}/models/{name}")
    assert found is not None and found[0]["state"] == "READY", found[0]
    head = hub.store.revisions.resolve(account, name, "main")
    assert head.commit_id == info.oid
    files = {e.path: (e.sha256, e.size) for e in hub.store.revisions.tree(head.commit_id)}
    for path in ("extra/big.bin", "model.safetensors", "config.json"):
        data = (folder / path).read_bytes()
        assert files[path] == (hashlib.sha256(data).hexdigest(), len(data))
        assert _read(hub, s3, files[path][0]) == data
    # Only content-addressed blobs are left: the uploads were moved and removed.
    assert all("/blobs/sha256/" in key for key in _objects(hub, s3)), _objects(hub, s3)

    with pytest.raises(BadRequestError, match="would leave main"):
        api.delete_file("model.safetensors", repo_id=repo)


def test_s3_bytes_that_do_not_hash_to_the_oid_are_dropped(hub: HubServer, s3_server: S3Server) -> None:
    s3 = s3_server
    team = hub.team("s3")
    repo = team.repo()
    team.api().create_repo(repo)
    claimed = os.urandom(4096)
    sha = hashlib.sha256(claimed).hexdigest()
    http = hub.http(team.keys["admin"])
    answer: dict[str, Any] = http.post(
        f"/hf/{repo}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": sha, "size": 4096}]},
    ).json()
    actions = answer["objects"][0]["actions"]
    assert actions["upload"]["href"].startswith(s3.endpoint)  # straight to the bucket
    with httpx.Client(timeout=30) as raw:
        assert raw.put(actions["upload"]["href"], content=os.urandom(4096)).status_code == 200
    verify = http.post(actions["verify"]["href"], json={"oid": sha, "size": 4096})
    assert verify.status_code == 400
    assert "not to the LFS oid" in verify.json()["error"]
    assert FileStore(hub.store.engine).blob_size(sha) is None
    assert not any(sha in key for key in _objects(hub, s3))
