"""Issue 25 item 8: ``modelyard storage gc --grace 0`` keeps the partial file of a resumable upload that is
still under way (a real server with file storage, the real CLI, the resumable protocol by hand)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.support.api import uid
from tests.support.files import FilesServer

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@sqlite_only
def test_gc_with_no_grace_keeps_a_live_resumable_upload(file_storage_server: FilesServer) -> None:
    server = file_storage_server
    account = server.new_account("gc")
    model_id = uid("gc")
    created = account.client.post(
        f"/v1/accounts/{account.id}/models",
        json={"modelId": model_id, "model": {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}},
    )
    assert created.status_code == 200, created.text
    data = bytes(range(256)) * 4096  # 1 MiB
    declared = account.client.post(
        f"/v1/accounts/{account.id}/models/{model_id}:getUploadEndpoint",
        json={"filenameToSize": {"w.bin": str(len(data))}, "enableResumableUpload": True},
    )
    url = declared.json()["filenameToSignedUrls"]["w.bin"]
    half = len(data) // 2
    first = httpx.put(url, content=data[:half], headers={"Content-Range": f"bytes 0-{half - 1}/{len(data)}"})
    assert first.status_code == 308, first.text
    assert list((server.root / "partial").iterdir())  # the first half waits there

    gc = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", "storage", "gc", "--db", server.db_url,
         "--storage", server.storage_url, "--grace", "0"],
        capture_output=True, text=True, timeout=120, env={**server.env},
    )  # fmt: skip
    assert gc.returncode == 0, gc.stderr
    status = httpx.put(url, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.status_code == 308 and status.headers["range"] == f"bytes=0-{half - 1}"  # still there
    rest = httpx.put(
        url, content=data[half:], headers={"Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"}
    )
    assert rest.status_code == 200, rest.text
