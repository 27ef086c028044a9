"""Operating model files: a server killed with SIGKILL in the middle of a PUT, two replicas serving one
upload's URLs, the sweep of expired uploads, and ``modelyard storage gc`` (real servers, both databases)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fireworks import Fireworks
from sqlalchemy import select

from modelyard.api.files import file_service
from modelyard.files.gc import collect
from modelyard.storage import open_storage
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from modelyard.store.tables import model_files
from tests.support.api import uid
from tests.support.files import S3Server, checkpoint_files, put_all, sizes
from tests.support.hf_fixtures import make_qwen2
from tests.support.server import start_server, stop_server

NO_SWEEP = {"MODELYARD_GC_INTERVAL": "0"}


@pytest.fixture()
def store(backend: str) -> Iterator[Store]:
    s = Store(make_engine(backend))
    upgrade(s.engine)
    yield s
    s.engine.dispose()


def _on(base: str, url: str) -> str:
    """The same signed URL, sent to another replica."""
    parts = urlsplit(url)
    return base + parts.path + "?" + parts.query


def _create(base: str, key: str, account: str, model_id: str) -> None:
    response = httpx.post(
        f"{base}/v1/accounts/{account}/models",
        headers={"Authorization": f"Bearer {key}"},
        json={"modelId": model_id, "model": {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}},
    )
    assert response.status_code == 200, response.text


def _declare(base: str, key: str, account: str, model_id: str, sizes: dict[str, str]) -> dict[str, str]:
    """:getUploadEndpoint: the signed PUT URL of each file."""
    response = httpx.post(
        f"{base}/v1/accounts/{account}/models/{model_id}:getUploadEndpoint",
        headers={"Authorization": f"Bearer {key}"},
        json={"filenameToSize": sizes},
    )
    assert response.status_code == 200, response.text
    return response.json()["filenameToSignedUrls"]  # type: ignore[no-any-return]


def _rows(store: Store, account: str, model_id: str) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(model_files.c.path, model_files.c.location).where(
                model_files.c.account_id == account, model_files.c.model_id == model_id
            )
        ).all()
    return {r.path: r.location for r in rows}


def test_kill_9_in_the_middle_of_a_put(backend: str, store: Store, tmp_path: Path) -> None:
    root = tmp_path / "store"
    storage = f"file://{root}"
    account = uid("crash")
    key = store.create_api_key(account)
    data = os.urandom(8 * 1024 * 1024)
    proc, base = start_server(backend, "--storage", storage, env=NO_SWEEP)
    try:
        model_id = uid("m")
        _create(base, key, account, model_id)
        url = _declare(base, key, account, model_id, {"weights.bin": str(len(data))})["weights.bin"]
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            head = (
                f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Length: {len(data)}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            sock.sendall(head.encode() + data[: 6 * 1024 * 1024])
            # Wait (bounded) until the server has written part of the body to its temporary file.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                parts_on_disk = list((root / "tmp").iterdir())
                if parts_on_disk and parts_on_disk[0].stat().st_size >= 4 * 1024 * 1024:
                    break
                time.sleep(0.05)
            assert parts_on_disk, "the server never started writing the body"
            proc.kill()  # SIGKILL: no cleanup of any kind
            proc.wait(timeout=30)
    finally:
        stop_server(proc)

    # Nothing half-stored: no blob, the file is not complete; only a temporary file is left.
    assert [p for p in (root / "blobs").rglob("*") if p.is_file()] == []
    assert _rows(store, account, model_id) == {"weights.bin": None}
    leftovers = list((root / "tmp").iterdir())
    assert len(leftovers) == 1

    proc, base = start_server(backend, "--storage", storage, env=NO_SWEEP)
    try:
        retry = httpx.put(_on(base, url), content=data, timeout=60)  # the same URL, on the new process
        assert retry.status_code == 200, retry.text
        digest = hashlib.sha256(data).hexdigest()
        assert retry.headers["x-modelyard-sha256"] == digest
        assert _rows(store, account, model_id) == {"weights.bin": f"sha256:{digest}"}
        assert (root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest).read_bytes() == data
    finally:
        stop_server(proc)

    # The leftover of the killed PUT goes with the next collection (here: no grace period).
    out = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "storage", "gc", "--db", backend, "--storage", storage,
         "--grace", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "1 temporary files removed" in out.stdout
    assert list((root / "tmp").iterdir()) == []
    assert _rows(store, account, model_id) == {"weights.bin": f"sha256:{digest}"}


def test_two_replicas_serve_one_uploads_urls(backend: str, store: Store, tmp_path: Path) -> None:
    storage = f"file://{tmp_path / 'replicas-storage'}"
    account = uid("rep")
    key = store.create_api_key(account)
    ck = make_qwen2(tmp_path / "ck")
    files = checkpoint_files(ck.path)
    a, base_a = start_server(backend, "--storage", storage, env=NO_SWEEP)
    b, base_b = start_server(backend, "--storage", storage, env=NO_SWEEP)
    try:
        on_a = Fireworks(api_key=key, base_url=base_a, account_id=account, max_retries=0)
        on_b = Fireworks(api_key=key, base_url=base_b, account_id=account, max_retries=0)
        model_id = uid("m")
        on_a.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
        urls = on_a.models.get_upload_endpoint(
            model_id, filename_to_size=sizes(files)
        ).filename_to_signed_urls
        assert urls is not None
        names = sorted(files)
        # Half of the files go to replica A, the other half (same URLs, other host) to replica B.
        put_all({n: urls[n] for n in names[::2]}, {n: files[n] for n in names[::2]})
        put_all({n: _on(base_b, urls[n]) for n in names[1::2]}, {n: files[n] for n in names[1::2]})
        on_b.models.validate_upload(model_id)
        assert on_a.models.get(model_id).state == "READY"
        downloads = on_a.models.get_download_endpoint(model_id).filename_to_signed_urls
        assert downloads is not None
        for name, url in downloads.items():
            assert httpx.get(_on(base_b, url), timeout=30).content == files[name]
        on_a.close()
        on_b.close()
    finally:
        stop_server(a)
        stop_server(b)


def test_a_resumable_upload_whose_chunks_go_to_two_replicas(
    backend: str, store: Store, tmp_path: Path
) -> None:
    """Each replica hashes the chunks it receives when it knows the digest of the bytes before them; a
    chunk stored by the other replica breaks the chain, and the completed file is then read once to hash
    it. Either way the blob is stored under the SHA-256 of the whole file."""
    storage = f"file://{tmp_path / 'resumable-storage'}"
    account = uid("rs")
    key = store.create_api_key(account)
    data = os.urandom(5 * 256 * 1024 + 1000)
    chunk = 256 * 1024
    a, base_a = start_server(backend, "--storage", storage, env=NO_SWEEP)
    b, base_b = start_server(backend, "--storage", storage, env=NO_SWEEP)
    try:
        sdk = Fireworks(api_key=key, base_url=base_a, account_id=account, max_retries=0)
        model_id = uid("m")
        sdk.models.create(model_id=model_id, model={"kind": "CUSTOM_MODEL"})
        endpoint = sdk.models.get_upload_endpoint(
            model_id, filename_to_size={"w.bin": str(len(data))}, enable_resumable_upload=True
        )
        assert endpoint.filename_to_signed_urls is not None
        url = endpoint.filename_to_signed_urls["w.bin"]
        # A, A, B, A, A, A: the chain of digests is unbroken on A for two chunks, then broken.
        hosts = [url, url, _on(base_b, url), url, url, url]
        offset = 0
        for host in hosts:
            end = min(offset + chunk, len(data))
            headers = {"Content-Range": f"bytes {offset}-{end - 1}/{len(data)}"}
            response = httpx.put(host, content=data[offset:end], headers=headers, timeout=30)
            assert response.status_code == (200 if end == len(data) else 308), response.text
            offset = end
        assert response.headers["x-modelyard-sha256"] == hashlib.sha256(data).hexdigest()
        sdk.models.validate_upload(model_id)
        download = sdk.models.get_download_endpoint(model_id).filename_to_signed_urls
        assert download is not None
        assert httpx.get(_on(base_b, download["w.bin"]), timeout=30).content == data
        sdk.close()
    finally:
        stop_server(a)
        stop_server(b)


def test_sweep_of_expired_uploads_and_unreferenced_blobs(backend: str, store: Store, tmp_path: Path) -> None:
    root = tmp_path / "store"
    storage = f"file://{root}"
    account = uid("gc")
    key = store.create_api_key(account)
    proc, base = start_server(backend, "--storage", storage, env=NO_SWEEP)
    try:
        model_id = uid("m")
        _create(base, key, account, model_id)
        urls = _declare(base, key, account, model_id, {"sent.bin": "5", "never.bin": "7"})
        assert httpx.put(urls["sent.bin"], content=b"hello").status_code == 200

        service = file_service(store, open_storage(storage))
        collect(service)
        assert set(_rows(store, account, model_id)) == {"sent.bin", "never.bin"}  # the URLs still work
        # (The database is shared with other tests: their expired uploads go too.)
        report = collect(service, now=time.time() + 2 * 3600)  # after they expired
        assert report.expired_files >= 1
        assert set(_rows(store, account, model_id)) == {"sent.bin"}

        # A blob nobody refers to and a stale temporary file, as a crash could leave them.
        stray = hashlib.sha256(b"stray").hexdigest()
        stray_path = root / "blobs" / "sha256" / stray[:2] / stray[2:4] / stray
        stray_path.parent.mkdir(parents=True, exist_ok=True)
        stray_path.write_bytes(b"stray")
        (root / "tmp" / "dead.part").write_bytes(b"partial")
        old = time.time() - 3 * 3600
        os.utime(stray_path, (old, old))
        os.utime(root / "tmp" / "dead.part", (old, old))
        out = subprocess.run(
            [sys.executable, "-m", "modelyard.cli", "storage", "gc", "--db", backend, "--storage", storage],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "1 unreferenced blobs/objects and 1 temporary files removed; 12 bytes freed" in out.stdout
        assert not stray_path.exists()
        sent = hashlib.sha256(b"hello").hexdigest()
        assert (root / "blobs" / "sha256" / sent[:2] / sent[2:4] / sent).exists()

        # Deleting the model frees its blob at once.
        deleted = httpx.delete(
            f"{base}/v1/accounts/{account}/models/{model_id}", headers={"Authorization": f"Bearer {key}"}
        )
        assert deleted.status_code == 200
        assert not (root / "blobs" / "sha256" / sent[:2] / sent[2:4] / sent).exists()
        assert _rows(store, account, model_id) == {}
    finally:
        stop_server(proc)


def test_s3_sweep_removes_objects_of_replaced_lists(
    backend: str, store: Store, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    storage = f"s3://{bucket}/gc"
    account = uid("s3gc")
    key = store.create_api_key(account)
    proc, base = start_server(backend, "--storage", storage, env={**s3_server.env(), **NO_SWEEP})
    try:
        model_id = uid("m")
        _create(base, key, account, model_id)

        stale = _declare(base, key, account, model_id, {"a.bin": "3"})
        current = _declare(base, key, account, model_id, {"b.bin": "3"})
        # A presigned S3 URL of the replaced list still works at the store: the sweep removes its object.
        assert httpx.put(stale["a.bin"], content=b"old").status_code == 200
        assert httpx.put(current["b.bin"], content=b"new").status_code == 200
        client = s3_server.client()

        def keys() -> list[str]:
            return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]

        assert len(keys()) == 2
        os.environ.update(s3_server.env())
        try:
            report = collect(file_service(store, open_storage(storage)))
        finally:
            for name in s3_server.env():
                os.environ.pop(name, None)
        assert report.blobs == 1 and report.bytes_freed == 3
        assert len(keys()) == 1 and keys()[0].endswith("/b.bin")
    finally:
        stop_server(proc)


def test_s3_put_of_the_wrong_length_is_never_accepted(
    backend: str, store: Store, s3_server: S3Server, tmp_path: Path
) -> None:
    """The presigned PUT signs Content-Length; a store that does not enforce it still gets caught by
    :validateUpload, which checks every object's size and removes the wrong one."""
    bucket = s3_server.new_bucket()
    account = uid("s3len")
    key = store.create_api_key(account)
    proc, base = start_server(backend, "--storage", f"s3://{bucket}", env={**s3_server.env(), **NO_SWEEP})
    try:
        model_id = uid("m")
        _create(base, key, account, model_id)
        auth = {"Authorization": f"Bearer {key}"}
        url = _declare(base, key, account, model_id, {"config.json": "5"})["config.json"]
        assert "content-length" in urlsplit(url).query.lower()
        put = httpx.put(url, content=b"toolong")
        client = s3_server.client()
        if put.status_code == 200:  # the store took it: validation must refuse it
            check = httpx.get(f"{base}/v1/accounts/{account}/models/{model_id}:validateUpload", headers=auth)
            assert check.status_code == 400, check.text
            body = check.json()
            assert body["code"] == 3 and body["details"][0]["reason"] == "FILE_SIZE_MISMATCH"
            assert "config.json" in body["message"] and "7 bytes" in body["message"]
        else:
            assert put.status_code == 403, put.text
        assert client.list_objects_v2(Bucket=bucket).get("Contents", []) == []
        # The right length is accepted; past the size check, validation reads the file itself.
        assert httpx.put(url, content=b"right").status_code == 200
        check = httpx.get(f"{base}/v1/accounts/{account}/models/{model_id}:validateUpload", headers=auth)
        assert check.status_code == 400 and check.json()["details"][0]["reason"] == "INVALID_JSON_FILE"
    finally:
        stop_server(proc)
