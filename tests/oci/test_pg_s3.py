"""The OCI door on PostgreSQL with two workers and S3 storage (moto's server): a model uploaded through
the Fireworks flow pulls byte for byte with skopeo (blobs redirect to presigned URLs of the store), and
an oras push downloads byte for byte through the Fireworks flow."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import oras.client

from tests.oci.helpers import fireworks_download, fireworks_model, host, read_tree, skopeo, uid
from tests.oci.test_pull import _layout_files
from tests.support.files import FilesServer, qwen2_files


def test_fireworks_upload_pulls_through_oci(oci_pg_s3_server: FilesServer, tmp_path: Path) -> None:
    server = oci_pg_s3_server
    account = server.new_account()
    model_id, files = fireworks_model(server, account, tmp_path)
    ref = f"docker://{host(server)}/{account.id}/{model_id}:latest"
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", f"me:{account.key}", ref, f"oci:{layout}:latest")
    assert _layout_files(layout) == files
    digest = "sha256:" + hashlib.sha256(files["model.safetensors"]).hexdigest()
    blob = httpx.get(f"{server.base_url}/v2/{account.id}/{model_id}/blobs/{digest}", auth=("me", account.key))
    assert blob.status_code == 307
    assert blob.headers["location"].startswith(server.s3.endpoint if server.s3 else "")
    assert httpx.get(blob.headers["location"]).content == files["model.safetensors"]
    head = httpx.head(
        f"{server.base_url}/v2/{account.id}/{model_id}/blobs/{digest}", auth=("me", account.key)
    )
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(files["model.safetensors"]))


def test_oras_push_downloads_through_fireworks(oci_pg_s3_server: FilesServer, tmp_path: Path) -> None:
    server = oci_pg_s3_server
    account = server.new_account()
    files, _ = qwen2_files(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    model_id = uid("s3push")
    target = f"{host(server)}/{account.id}/{model_id}:latest"
    client = oras.client.OrasClient(hostname=host(server), insecure=True)
    client.login(username="me", password=account.key, hostname=host(server))
    client.push(
        target=target, files=[str(src / n) for n in files], disable_path_validation=True, do_chunked=True
    )
    assert fireworks_download(server, account, model_id) == files
    out = tmp_path / "out"
    client.pull(target=target, outdir=str(out))
    assert read_tree(out) == files
    tags = httpx.get(f"{server.base_url}/v2/{account.id}/{model_id}/tags/list", auth=("me", account.key))
    assert json.loads(tags.content)["tags"] == ["latest", "main"]


def test_hostile_input_gets_oci_errors(oci_pg_s3_server: FilesServer, tmp_path: Path) -> None:
    """NUL bytes, overlong and malformed references, parameters and bodies: each an OCI error, never a 500
    (PostgreSQL refuses NUL in text, so nothing unchecked may reach it)."""
    server = oci_pg_s3_server
    account = server.new_account()
    model_id, _ = fireworks_model(server, account, tmp_path)
    http = httpx.Client(base_url=server.base_url, auth=("me", account.key), timeout=60)
    base = f"/v2/{account.id}/{model_id}"
    cases = [
        ("GET", f"{base}/manifests/%00", None, {}),
        ("GET", f"{base}/manifests/{'x' * 300}", None, {}),
        ("GET", f"{base}/manifests/sha256:%00", None, {}),
        ("GET", f"{base}/blobs/sha512:{'a' * 128}", None, {}),
        ("GET", f"{base}/tags/list?n=-1", None, {}),
        ("GET", f"{base}/referrers/not-a-digest", None, {}),
        ("GET", f"/v2/{account.id}/a%00b/manifests/latest", None, {}),
        ("GET", f"{base}/blobs/uploads/%00", None, {}),
        ("POST", f"{base}/blobs/uploads/?digest=sha256:nope", b"x", {}),
        (
            "PUT",
            f"{base}/manifests/latest",
            b"{not json",
            {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ),
        ("PUT", f"{base}/manifests/latest", b'{"schemaVersion": 2, "layers": [{"digest": 5}]}', {}),
        ("PUT", f"{base}/manifests/bad%00tag", b"{}", {}),
        ("DELETE", f"{base}/manifests/%00", None, {}),
    ]
    for method, url, body, headers in cases:
        response = http.request(method, url, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (method, url, response.status_code, response.text)
        if method != "HEAD":
            assert response.json()["errors"][0]["code"], (method, url)
    # a mount from a repository that cannot exist falls back to an upload session, as the spec says
    mount = http.post(f"{base}/blobs/uploads/", params={"mount": "sha256:" + "0" * 64, "from": "a\0/b"})
    assert mount.status_code == 202
    after_nul = http.get(f"{base}/tags/list", params={"last": "\0"})  # a NUL is just a low string here
    assert after_nul.status_code == 200 and after_nul.json()["tags"] == ["latest", "main"]
