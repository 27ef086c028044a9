"""``:validateUpload`` commits a revision on ``main``; committed files are immutable and content-addressed
on both storages; garbage collection keeps every blob any revision holds (real servers, both databases,
file and S3 storage)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fireworks import Fireworks

from modelyard.api.files import file_service
from modelyard.files.gc import collect
from modelyard.files.service import FileService
from modelyard.storage import open_storage
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.store.revisions import MAIN
from tests.support.api import uid
from tests.support.files import FilesServer, put_all, qwen2_files, sizes, upload


@contextlib.contextmanager
def _service(server: FilesServer) -> Iterator[FileService]:
    """The server's file service, in this process (``modelyard storage gc`` does the same)."""
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield file_service(server.store, open_storage(server.storage_url))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ready_model(
    server: FilesServer, tmp_path: Path
) -> tuple[str, str, dict[str, bytes], dict[str, str], Fireworks]:
    """A READY base model uploaded through the Fireworks flow: (account, model, files, PUT URLs, client)."""
    account = server.new_account()
    client = server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("rev")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    endpoint = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    assert endpoint.filename_to_signed_urls is not None
    put_all(endpoint.filename_to_signed_urls, files)
    client.models.validate_upload(model_id)
    return account.id, model_id, files, endpoint.filename_to_signed_urls, client


def test_validate_upload_commits_a_revision_on_main(files_server: FilesServer, tmp_path: Path) -> None:
    account, model_id, files, _, client = _ready_model(files_server, tmp_path)
    revs = files_server.store.revisions
    head = revs.resolve(account, model_id, MAIN)
    assert head.author == f"accounts/{account}/users/admin" and head.parent_id is None
    tree = {e.path: (e.sha256, e.size) for e in revs.tree(head.commit_id)}
    assert tree == {p: (hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()}
    # Validating again changes nothing: same head, the model stays READY.
    client.models.validate_upload(model_id)
    assert revs.resolve(account, model_id, MAIN) == head
    # getDownloadEndpoint serves main.
    urls = client.models.get_download_endpoint(model_id).filename_to_signed_urls
    assert urls is not None and set(urls) == set(files)
    for name, url in urls.items():
        assert httpx.get(url, timeout=30).content == files[name]


def test_old_upload_urls_cannot_change_committed_files(files_server: FilesServer, tmp_path: Path) -> None:
    """Issue 25 item 17: once committed, a file is immutable; the upload URLs of its file list no longer
    change what downloads return (file storage refuses the PUT; on S3 the object the URL names is no
    longer what is served)."""
    account, model_id, files, put_urls, client = _ready_model(files_server, tmp_path)
    name = "config.json"
    forged = files[name][:-2] + b"}}"  # same length: the signed size still matches
    assert len(forged) == len(files[name]) and forged != files[name]
    response = httpx.put(put_urls[name], content=forged, timeout=30)
    if files_server.storage_kind == "file":
        assert response.status_code == 400, response.text
        assert "committed" in response.json()["message"]
    urls = client.models.get_download_endpoint(model_id).filename_to_signed_urls
    assert urls is not None
    assert httpx.get(urls[name], timeout=30).content == files[name]
    head = files_server.store.revisions.resolve(account, model_id, MAIN)
    entry = files_server.store.revisions.entry(head.commit_id, name)
    assert entry is not None and entry.sha256 == hashlib.sha256(files[name]).hexdigest()


def test_gc_keeps_every_blob_a_revision_holds(files_server: FilesServer, tmp_path: Path) -> None:
    account, model_id, files, _, _ = _ready_model(files_server, tmp_path)
    revs = files_server.store.revisions
    first = revs.resolve(account, model_id, MAIN)
    # A second revision on main drops the weights; only the first revision (and a tag) hold them now.
    weights = "model.safetensors"
    revs.create_tag(account, model_id, "v1")
    second = revs.commit(account, model_id, changes={weights: None}, author="accounts/x/users/y", message="m")
    assert second.parent_id == first.commit_id
    weights_sha = hashlib.sha256(files[weights]).hexdigest()
    with _service(files_server) as service:
        collect(service, grace=0)
        assert service.files.blob_known(weights_sha)
        revs.delete_tag(account, model_id, "v1")
        collect(service, grace=0)  # the revision itself still holds it
        assert service.files.blob_known(weights_sha)
        entry = revs.entry(first.commit_id, weights)
        assert entry is not None
        url = service.download_url(account, model_id, entry, files_server.base_url, 2**40)
    assert httpx.get(url, timeout=30).content == files[weights]  # an old revision's file downloads


def test_upload_after_a_commit_needs_no_second_copy(files_server: FilesServer, tmp_path: Path) -> None:
    """Identical files of two models are one blob on both storages."""
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    ids = [uid("same"), uid("same")]
    for model_id in ids:
        client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
        upload(client, model_id, files)
        client.models.validate_upload(model_id)
    revs = files_server.store.revisions
    trees = [{e.path: e.sha256 for e in revs.tree(revs.resolve(account.id, m, MAIN).commit_id)} for m in ids]
    assert trees[0] == trees[1]
    if files_server.storage_kind == "s3":
        assert files_server.s3 is not None
        bucket, _, prefix = files_server.storage_url[len("s3://") :].partition("/")
        s3 = files_server.s3.client()
        for sha in trees[0].values():
            s3.head_object(Bucket=bucket, Key=f"{prefix}/blobs/sha256/{sha}")
        # The upload objects went with the commit.
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/accounts/{account.id}/")
        assert listing.get("Contents", []) == []
    else:
        for sha in trees[0].values():
            assert (files_server.root / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha).exists()


def test_s3_files_from_before_revisions_are_hashed_and_committed_when_first_read(
    files_server: FilesServer, tmp_path: Path
) -> None:
    """A READY model whose files were recorded on S3 before revisions (object keys, no SHA-256): the
    migration cannot hash them, so the first read does, commits them to main (author ``modelyard``) and
    serves them."""
    if files_server.storage_kind != "s3":
        pytest.skip("file storage hashes every PUT; migration 0008 commits its files")
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("legacy")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, files)
    store = files_server.store
    with _service(files_server) as service:
        # What 0007 left behind: each declared file at its upload's object key, the model READY.
        for f in service.files.files(account.id, model_id):
            assert isinstance(service.storage, S3Storage)
            service.files.set_location(f.ref, service.storage.key(f.ref))
        store.update_model(f"accounts/{account.id}/models/{model_id}", lambda m: {**m, "state": "READY"})
    urls = client.models.get_download_endpoint(model_id).filename_to_signed_urls
    assert urls is not None
    for name, url in urls.items():
        assert httpx.get(url, timeout=30).content == files[name]
    head = store.revisions.resolve(account.id, model_id, MAIN)
    assert head.author == "modelyard"
    tree = {e.path: e.sha256 for e in store.revisions.tree(head.commit_id)}
    assert tree == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}


def test_a_blob_waiting_for_its_commit_is_kept_for_the_grace_period(
    files_server: FilesServer, tmp_path: Path
) -> None:
    """``FileStore.add_blob`` (bytes that arrive before the commit naming them, as a Hub LFS upload
    does): garbage collection keeps such a blob for its grace period, and for as long as any revision
    holds it once committed."""
    account, model_id, _, _, _ = _ready_model(files_server, tmp_path)
    revs = files_server.store.revisions
    waiting, orphan = os.urandom(1000), os.urandom(1000)
    with _service(files_server) as service:
        storage = service.storage

        def add(data: bytes) -> str:
            sha = hashlib.sha256(data).hexdigest()
            if isinstance(storage, S3Storage):
                key = storage.blob_key(sha)
                place = functools.partial(
                    storage.client.put_object, Bucket=storage.bucket, Key=key, Body=data
                )
            else:
                assert isinstance(storage, LocalStorage)
                temp = storage.tmp / f"{sha}.part"
                temp.write_bytes(data)
                place = functools.partial(storage.place, temp, sha)
            service.files.add_blob(sha, len(data), place)
            return sha

        sha, orphan_sha = add(waiting), add(orphan)
        collect(service)  # within the grace period: both stay
        assert service.files.blob_known(sha) and service.files.blob_known(orphan_sha)
        revs.commit(
            account, model_id, changes={"extra.bin": (sha, 1000)}, author="accounts/a/users/u", message="m"
        )
        revs.commit(account, model_id, changes={"extra.bin": None}, author="accounts/a/users/u", message="m")
        collect(service, grace=0)
        assert service.files.blob_known(sha)  # an older revision still holds it
        assert not service.files.blob_known(orphan_sha)  # never committed, past its grace: freed
        first_with_it = revs.log(account, model_id, MAIN)[1]
        entry = revs.entry(first_with_it.commit_id, "extra.bin")
        assert entry is not None
        url = service.download_url(account, model_id, entry, files_server.base_url, 2**40)
    assert httpx.get(url, timeout=30).content == waiting
