"""Pulling models through the OCI door with real clients: skopeo (inspect, list-tags, copy to an OCI
layout) and the oras Python client, against a model uploaded through the Fireworks flow."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from modelyard.oci import modelpack
from tests.oci.helpers import fireworks_model, host, skopeo, skopeo_json
from tests.support.files import FilesServer


def _layout_files(layout: Path) -> dict[str, bytes]:
    """The files of the single image in an OCI layout, by their filepath annotation."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
    out = {}
    for layer in manifest["layers"]:
        data = (layout / "blobs" / "sha256" / layer["digest"].split(":")[1]).read_bytes()
        out[layer["annotations"][modelpack.FILEPATH]] = data
    return out


def test_skopeo_inspect_and_copy(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path)
    ref = f"docker://{host(oci_server)}/{account.id}/{model_id}:latest"
    creds = f"user:{account.key}"
    raw = skopeo("inspect", "--tls-verify=false", "--raw", "--creds", creds, ref).stdout.encode()
    manifest = json.loads(raw)
    assert manifest["artifactType"] == modelpack.ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == modelpack.CONFIG_MEDIA_TYPE
    by_path = {layer["annotations"][modelpack.FILEPATH]: layer for layer in manifest["layers"]}
    assert set(by_path) == set(files)
    for path, data in files.items():
        assert by_path[path]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert by_path[path]["annotations"][modelpack.TITLE] == path
    assert by_path["model.safetensors"]["mediaType"] == modelpack.WEIGHT
    assert by_path["config.json"]["mediaType"] == modelpack.WEIGHT_CONFIG

    # byte-stable: the same bytes again, and by digest
    again = skopeo("inspect", "--tls-verify=false", "--raw", "--creds", creds, ref).stdout.encode()
    assert again == raw
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    by_digest = f"docker://{host(oci_server)}/{account.id}/{model_id}@{digest}"
    assert (
        skopeo("inspect", "--tls-verify=false", "--raw", "--creds", creds, by_digest).stdout.encode() == raw
    )

    config = skopeo_json("inspect", "--tls-verify=false", "--config", "--raw", "--creds", creds, ref)
    assert config["descriptor"]["name"] == f"{account.id}/{model_id}"
    assert config["descriptor"]["title"] == "Tiny Qwen"
    assert config["config"]["format"] == "safetensors"
    assert config["modelfs"]["diffIds"] == [layer["digest"] for layer in manifest["layers"]]

    tags = skopeo_json(
        "list-tags",
        "--tls-verify=false",
        "--creds",
        creds,
        f"docker://{host(oci_server)}/{account.id}/{model_id}",
    )
    assert "latest" in tags["Tags"]

    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, ref, f"oci:{layout}:latest")
    assert _layout_files(layout) == files


def test_anonymous_pull_of_public_model(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path, public=True)
    ref = f"docker://{host(oci_server)}/{account.id}/{model_id}:latest"
    layout = tmp_path / "anon"
    skopeo("copy", "--src-tls-verify=false", "--src-no-creds", ref, f"oci:{layout}:latest")
    assert _layout_files(layout) == files
    # a private one is refused to anonymous callers with the token challenge
    private_id, _ = fireworks_model(oci_server, account, tmp_path)
    response = httpx.get(f"{oci_server.base_url}/v2/{account.id}/{private_id}/manifests/latest")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="')
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_catalog_page_shows_the_pull_reference(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, _ = fireworks_model(oci_server, account, tmp_path, public=True)
    page = httpx.get(f"{oci_server.base_url}/catalog/accounts/{account.id}/models/{model_id}")
    assert page.status_code == 200
    reference = f"{host(oci_server)}/{account.id}/{model_id}:latest"
    assert f"oras pull --plain-http {reference}" in page.text
    assert f"docker model pull {reference}" in page.text
    assert f"storageUri: oci://{reference}" in page.text
