"""Helpers of the OCI tests: models uploaded through the Fireworks flow, skopeo runs, file maps."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

from tests.support.accounts import Account
from tests.support.files import FilesServer, qwen2_files, upload

SKOPEO = "/usr/bin/skopeo"


def uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def host(server: FilesServer) -> str:
    return server.base_url.removeprefix("http://")


def fireworks_model(
    server: FilesServer, account: Account, tmp_path: Path, *, public: bool = False
) -> tuple[str, dict[str, bytes]]:
    """A READY model uploaded through the Fireworks flow (create, upload, validate); its id and files."""
    client = server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("oci")
    client.models.create(
        model_id=model_id,
        model={
            "kind": "HF_BASE_MODEL",
            "base_model_details": {},
            "display_name": "Tiny Qwen",
            "public": public,
        },
    )
    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    return model_id, files


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def skopeo_json(*args: str) -> Any:
    return json.loads(skopeo(*args).stdout)


def read_tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def fireworks_download(server: FilesServer, account: Account, model_id: str) -> dict[str, bytes]:
    """Every file of a model, through the Fireworks flow (``:getDownloadEndpoint``, then the signed URLs)."""
    import httpx

    urls = server.sdk(account).models.get_download_endpoint(model_id).filename_to_signed_urls or {}
    with httpx.Client(timeout=60, follow_redirects=True) as http:
        return {name: http.get(url).raise_for_status().content for name, url in urls.items()}
