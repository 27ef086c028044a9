"""The oras Python client against the OCI door: pull with the token flow (an API key as the password,
and anonymously for a public model), artifacts pushed with a ``subject`` found by the referrers API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import oras.client
import oras.oci
import pytest

from tests.oci.helpers import fireworks_model, host, read_tree
from tests.support.files import FilesServer


def oras_client(server: FilesServer, key: str | None) -> oras.client.OrasClient:
    client = oras.client.OrasClient(hostname=host(server), insecure=True)
    if key is not None:
        client.login(username="anyone", password=key, hostname=host(server))
    return client


@pytest.mark.parametrize("public", [False, True])
def test_oras_pull(oci_server: FilesServer, tmp_path: Path, public: bool) -> None:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path, public=public)
    client = oras_client(oci_server, None if public else account.key)
    out = tmp_path / "pulled"
    client.pull(target=f"{host(oci_server)}/{account.id}/{model_id}:latest", outdir=str(out))
    assert read_tree(out) == files


def test_oras_artifact_with_subject_and_referrers(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, _ = fireworks_model(oci_server, account, tmp_path)
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    target = f"{host(oci_server)}/{account.id}/{model_id}"
    manifest = http.get(
        f"/v2/{account.id}/{model_id}/manifests/latest",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    subject = manifest.headers["docker-content-digest"]
    empty = http.get(f"/v2/{account.id}/{model_id}/referrers/{subject}")
    assert empty.status_code == 200 and empty.json()["manifests"] == []

    sbom = tmp_path / "sbom.spdx.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": model_id}))
    client = oras_client(oci_server, account.key)
    # oras-py pushes chunked (POST, PATCH, PUT) when asked: the upload protocol with a real client
    client.push(
        target=f"{target}:sbom",
        files=[str(sbom)],
        subject=oras.oci.Subject(  # type: ignore[arg-type]
            mediaType=manifest.headers["content-type"], digest=subject, size=len(manifest.content)
        ),
        disable_path_validation=True,
        do_chunked=True,
        chunk_size=64,
    )
    found = http.get(f"/v2/{account.id}/{model_id}/referrers/{subject}").json()
    assert found["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert len(found["manifests"]) == 1
    referrer = found["manifests"][0]["digest"]
    got = http.get(f"/v2/{account.id}/{model_id}/manifests/{referrer}")
    assert got.status_code == 200 and json.loads(got.content)["subject"]["digest"] == subject
    # the SBOM itself pulls back, and the model's own tag still serves the model
    out = tmp_path / "sbom-out"
    client.pull(target=f"{target}:sbom", outdir=str(out))
    assert (out / "sbom.spdx.json").read_bytes() == sbom.read_bytes()
    assert (
        http.get(f"/v2/{account.id}/{model_id}/manifests/latest").headers["docker-content-digest"] == subject
    )
    tags = http.get(f"/v2/{account.id}/{model_id}/tags/list").json()["tags"]
    assert tags == ["latest", "main", "sbom"]
    # deleting the artifact's tag and then the artifact
    assert http.delete(f"/v2/{account.id}/{model_id}/manifests/sbom").status_code == 202
    assert http.delete(f"/v2/{account.id}/{model_id}/manifests/{referrer}").status_code == 202
    assert http.get(f"/v2/{account.id}/{model_id}/referrers/{subject}").json()["manifests"] == []
    gone = http.get(f"/v2/{account.id}/{model_id}/manifests/{referrer}")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
