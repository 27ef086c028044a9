"""A full disk under file storage (issue 25, item 25): an upload that does not fit is a 507
``RESOURCE_EXHAUSTED`` (reason ``STORAGE_FULL``) saying so, not a 500, and its partial data is removed
(a whole PUT) or cut back to the chunks stored before (a resumable chunk). The storage is a real 1 MiB
tmpfs mounted for the test (root only: skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import migrated_store, sqlite_url
from tests.support.server import start_server, stop_server

ROOM = 1024 * 1024


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={ROOM}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _used(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_an_upload_past_the_free_space_is_a_507(small_disk: Path, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path, "full.db")
    with migrated_store(url) as store:
        key = store.create_api_key("full", "test")
        proc, base = start_server(
            url, "--storage", f"file://{small_disk}", env={"MODELYARD_GC_INTERVAL": "0"}
        )
        try:
            client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)
            created = client.post(
                "/v1/accounts/full/models",
                json={"modelId": "big", "model": {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}},
            )
            assert created.status_code == 200, created.text
            sizes = {"w.bin": str(4 * ROOM), "small.json": "1000"}
            urls = client.post(
                "/v1/accounts/full/models/big:getUploadEndpoint", json={"filenameToSize": sizes}
            ).json()["filenameToSignedUrls"]
            put = httpx.put(urls["w.bin"], content=b"\1" * (4 * ROOM), timeout=60)
            assert put.status_code == 507, put.text
            body = put.json()
            assert body["code"] == 8 and body["details"][0]["reason"] == "STORAGE_FULL", body
            assert body["message"].startswith("w.bin: the server's storage is full")
            assert "nothing was stored" in body["message"]
            assert _used(small_disk) == 0  # the partial file is gone
            assert httpx.put(urls["small.json"], content=b"{}" * 500, timeout=60).status_code == 200

            # A resumable upload: the chunk that does not fit is cut off; the earlier ones stay.
            resumable = client.post(
                "/v1/accounts/full/models/big:getUploadEndpoint",
                json={"filenameToSize": {"r.bin": str(2 * ROOM)}, "enableResumableUpload": True},
            ).json()["filenameToSignedUrls"]["r.bin"]
            total = 2 * ROOM
            first = httpx.put(
                resumable, content=b"\2" * 262144, headers={"Content-Range": f"bytes 0-262143/{total}"}
            )
            assert first.status_code == 308, first.text
            second = httpx.put(
                resumable,
                content=b"\3" * ROOM,
                headers={"Content-Range": f"bytes 262144-{262144 + ROOM - 1}/{total}"},
                timeout=60,
            )
            assert second.status_code == 507, second.text
            message = second.json()["message"]
            assert "storage is full" in message and "resume from 262144" in message
            status = httpx.put(resumable, headers={"Content-Range": f"bytes */{total}"})
            assert status.status_code == 308 and status.headers["range"] == "bytes=0-262143"
            client.close()
        finally:
            stop_server(proc)
