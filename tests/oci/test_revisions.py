"""Revisions through the OCI door: branches and commit ids as tags, a revision's manifest frozen while the
Model changes, revisions not deletable, and garbage collection keeping what OCI repositories link."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx

from modelyard.files.gc import collect
from modelyard.files.opening import file_service
from modelyard.storage import open_storage
from tests.oci.helpers import fireworks_model, uid
from tests.support.files import FilesServer


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def test_branches_and_commit_ids_are_tags(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path)
    revisions = oci_server.store.revisions
    main = revisions.resolve(account.id, model_id, "main")
    readme = b"# A card\n"
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key), timeout=60)
    base = f"/v2/{account.id}/{model_id}"
    # a branch "fp8" made by pushing to it (as :prepare would make one), after creating it at main
    revisions.create_branch(account.id, model_id, "fp8", revision="main")
    http.post(base + "/blobs/uploads/", params={"digest": _digest(readme)}, content=readme).raise_for_status()
    latest = json.loads(http.get(base + "/manifests/latest").content)
    layers = [
        *latest["layers"],
        {
            "mediaType": "application/vnd.cncf.model.doc.v1.raw",
            "digest": _digest(readme),
            "size": len(readme),
            "annotations": {"org.cncf.model.filepath": "README.md"},
        },
    ]
    config = http.get(f"{base}/blobs/{latest['config']['digest']}").content
    http.post(base + "/blobs/uploads/", params={"digest": _digest(config)}, content=config).raise_for_status()
    pushed = json.dumps({**latest, "layers": layers}).encode()
    put = http.put(
        base + "/manifests/fp8",
        content=pushed,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    fp8 = revisions.resolve(account.id, model_id, "fp8")
    assert fp8.parent_id == main.commit_id
    assert {e.path for e in revisions.tree(fp8.commit_id)} == {*files, "README.md"}
    assert revisions.resolve(account.id, model_id, "main").commit_id == main.commit_id  # main untouched
    assert http.get(base + "/manifests/fp8").content == pushed
    tags = http.get(base + "/tags/list").json()["tags"]
    assert tags == ["fp8", "latest", "main"]
    by_commit = http.get(f"{base}/manifests/{main.commit_id}")
    assert by_commit.status_code == 200
    assert (
        by_commit.headers["docker-content-digest"]
        == http.get(base + "/manifests/latest").headers["docker-content-digest"]
    )
    # a revision cannot be deleted through OCI
    refused = http.delete(f"{base}/manifests/{by_commit.headers['docker-content-digest']}")
    assert refused.status_code == 405 and _code(refused) == "UNSUPPORTED"
    branch = http.delete(f"{base}/manifests/fp8")
    assert branch.status_code == 405 and _code(branch) == "UNSUPPORTED"


def test_manifest_of_a_revision_never_changes(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, _ = fireworks_model(oci_server, account, tmp_path)
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    first = http.get(f"/v2/{account.id}/{model_id}/manifests/latest")
    account.client.patch(
        f"/v1/accounts/{account.id}/models/{model_id}", json={"displayName": "Renamed"}
    ).raise_for_status()
    again = http.get(f"/v2/{account.id}/{model_id}/manifests/latest")
    assert again.content == first.content
    assert again.headers["docker-content-digest"] == first.headers["docker-content-digest"]


def test_gc_keeps_linked_blobs_and_forgets_abandoned_pushes(oci_server: FilesServer, tmp_path: Path) -> None:
    account = oci_server.new_account()
    model_id, _ = fireworks_model(oci_server, account, tmp_path)
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    kept, abandoned = b"an SBOM's bytes", b"a push that never got its manifest"
    http.post(f"/v2/{account.id}/{model_id}/blobs/uploads/", params={"digest": _digest(kept)}, content=kept)
    nowhere = uid("never")
    http.post(
        f"/v2/{account.id}/{nowhere}/blobs/uploads/", params={"digest": _digest(abandoned)}, content=abandoned
    )
    store = oci_server.store
    service = file_service(store, open_storage(oci_server.storage_url))
    collect(service, grace=0)  # forgets the link of the model that never came, then the blob it held
    assert http.get(f"/v2/{account.id}/{model_id}/blobs/{_digest(kept)}").content == kept

    def path(data: bytes) -> Path:
        hexdigest = hashlib.sha256(data).hexdigest()
        return oci_server.root / "blobs" / "sha256" / hexdigest[:2] / hexdigest[2:4] / hexdigest

    assert path(kept).exists()
    assert not path(abandoned).exists()
