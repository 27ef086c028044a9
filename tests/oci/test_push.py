"""Pushing models through the OCI door with real clients: oras pushes files, skopeo copies an OCI
layout in, a KitOps-style tar layer is unpacked; each push is a revision that downloads byte for byte
through the Fireworks flow (and the Hugging Face Hub door), and pulls back with the digest that was pushed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import httpx
import oras.client

from tests.oci.helpers import fireworks_download, fireworks_model, host, read_tree, skopeo, uid
from tests.support.files import FilesServer, qwen2_files


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_oras_push_creates_a_model(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    files, _ = qwen2_files(tmp_path)
    src = tmp_path / "src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    model_id = uid("pushed")
    target = f"{host(oci_server)}/{account.id}/{model_id}"
    client = oras.client.OrasClient(hostname=host(oci_server), insecure=True)
    client.login(username="me", password=account.key, hostname=host(oci_server))
    pushed = client.push(
        target=f"{target}:latest", files=[str(src / n) for n in files], disable_path_validation=True
    )
    digest = pushed.headers["Docker-Content-Digest"]
    model = account.client.get(f"/v1/accounts/{account.id}/models/{model_id}").json()
    assert model["state"] == "READY" and model["kind"] == "HF_BASE_MODEL"
    assert fireworks_download(oci_server, account, model_id) == files
    out = tmp_path / "out"
    client.pull(target=f"{target}:latest", outdir=str(out))
    assert read_tree(out) == files
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    assert (
        http.get(f"/v2/{account.id}/{model_id}/manifests/latest").headers["docker-content-digest"] == digest
    )


def test_skopeo_copy_between_models(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path)
    creds = f"me:{account.key}"
    layout = f"oci:{tmp_path / 'layout'}:latest"
    src = f"docker://{host(oci_server)}/{account.id}/{model_id}:latest"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, src, layout)
    copy_id = uid("copy")
    dest = f"docker://{host(oci_server)}/{account.id}/{copy_id}:latest"
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, layout, dest)
    assert fireworks_download(oci_server, account, copy_id) == files
    raw_src = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, src).stdout
    raw_dest = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", creds, dest).stdout
    assert json.loads(raw_dest)["layers"] == json.loads(raw_src)["layers"]


def test_tar_layer_push(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    files, _ = qwen2_files(tmp_path)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(archive.getvalue())
    config = b'{"modelfs":{"type":"layers"}}'
    model_id = uid("kit")
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key), timeout=60)
    base = f"/v2/{account.id}/{model_id}"
    for blob in (layer, config):
        assert (
            http.post(base + "/blobs/uploads/", params={"digest": _digest(blob)}, content=blob).status_code
            == 201
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.kitops.modelkit.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.kitops.modelkit.model.v1.tar+gzip",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = http.put(
        base + "/manifests/v1",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    assert fireworks_download(oci_server, account, model_id) == files
    got = http.get(base + "/manifests/v1")
    assert got.content == manifest and got.headers["docker-content-digest"] == _digest(manifest)
    # the tag v1 names the commit; deleting it removes the tag, the revision stays on main
    assert http.get(base + "/tags/list").json()["tags"] == ["latest", "main", "v1"]
    assert http.delete(base + "/manifests/v1").status_code == 202
    assert http.get(base + "/manifests/v1").status_code == 404
    assert http.get(base + "/manifests/latest").content == manifest


def test_push_that_does_not_validate_is_refused(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    files, _ = qwen2_files(tmp_path)
    files["model.safetensors"] = files["model.safetensors"][:-10]  # truncated weights
    model_id = uid("broken")
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key), timeout=60)
    base = f"/v2/{account.id}/{model_id}"
    layers = []
    for name, data in sorted(files.items()):
        http.post(base + "/blobs/uploads/", params={"digest": _digest(data)}, content=data).raise_for_status()
        layers.append(
            {
                "mediaType": "application/vnd.cncf.model.weight.v1.raw",
                "digest": _digest(data),
                "size": len(data),
                "annotations": {"org.cncf.model.filepath": name},
            }
        )
    config = b"{}"
    http.post(base + "/blobs/uploads/", params={"digest": _digest(config)}, content=config).raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.model.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.cncf.model.config.v1+json",
                "digest": _digest(config),
                "size": 2,
            },
            "layers": layers,
        }
    ).encode()
    put = http.put(
        base + "/manifests/latest",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 400, put.text
    error = put.json()["errors"][0]
    assert error["code"] == "MANIFEST_INVALID" and "model.safetensors" in error["message"]
