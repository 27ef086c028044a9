"""The distribution-spec's wire protocol, request by request, on a real server: the auth flow, errors,
blob uploads (monolithic, chunked, resumed, mounted, refused), ranges, tag paging, roles and audit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.oci.helpers import fireworks_model, uid
from tests.support.files import FilesServer
from tests.support.identity import make_team
from tests.support.server import Server


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


@pytest.fixture()
def model(oci_server: FilesServer, tmp_path: Path) -> tuple[Any, str, dict[str, bytes]]:
    account = oci_server.new_account()
    model_id, files = fireworks_model(oci_server, account, tmp_path)
    return account, model_id, files


def test_base_and_token_flow(oci_server: FilesServer, model: tuple[Any, str, dict[str, bytes]]) -> None:
    account, model_id, _ = model
    anon = httpx.Client(base_url=oci_server.base_url)
    challenge = anon.get("/v2/")
    assert challenge.status_code == 401 and _code(challenge) == "UNAUTHORIZED"
    assert challenge.headers["www-authenticate"] == (
        f'Bearer realm="{oci_server.base_url}/v2/token",service="modelyard"'
    )
    assert challenge.headers["docker-distribution-api-version"] == "registry/2.0"
    # basic auth with any user name and the key; the key as a bearer token; a bad key
    ok = anon.get("/v2/", auth=("whoever", account.key))
    assert ok.status_code == 200 and ok.headers["docker-distribution-api-version"] == "registry/2.0"
    assert anon.get("/v2/", headers={"Authorization": f"Bearer {account.key}"}).status_code == 200
    assert anon.get("/v2/", auth=("x", "not-a-key")).status_code == 401
    # the token endpoint: basic -> a token that works; anonymous -> a token that pulls public models only
    scope = f"repository:{account.id}/{model_id}:pull"
    token = anon.get("/v2/token", params={"service": "modelyard", "scope": scope}, auth=("u", account.key))
    assert token.status_code == 200
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    assert anon.get(f"/v2/{account.id}/{model_id}/manifests/latest", headers=bearer).status_code == 200
    anonymous = anon.get("/v2/token", params={"service": "modelyard", "scope": scope}).json()["token"]
    assert anon.get("/v2/", headers={"Authorization": f"Bearer {anonymous}"}).status_code == 200
    refused = anon.get(
        f"/v2/{account.id}/{model_id}/manifests/latest", headers={"Authorization": f"Bearer {anonymous}"}
    )
    assert refused.status_code == 401
    assert f'scope="repository:{account.id}/{model_id}:pull"' in refused.headers["www-authenticate"]
    forged = anonymous[:-1] + ("0" if anonymous[-1] != "0" else "1")
    assert anon.get("/v2/", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_errors_and_visibility(oci_server: FilesServer, model: tuple[Any, str, dict[str, bytes]]) -> None:
    account, model_id, _ = model
    other = oci_server.new_account()
    auth = ("u", other.key)
    base = f"/v2/{account.id}/{model_id}"
    http = httpx.Client(base_url=oci_server.base_url, auth=auth)
    # another account's private model does not exist for this key
    for path in ("/manifests/latest", "/tags/list", f"/blobs/{_digest(b'x')}"):
        response = http.get(base + path)
        assert response.status_code == 404 and _code(response) == "NAME_UNKNOWN", path
    assert _code(http.post(base + "/blobs/uploads/")) == "NAME_UNKNOWN"
    mine = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    assert _code(mine.get(base + "/manifests/nope")) == "MANIFEST_UNKNOWN"
    assert _code(mine.get(base + f"/manifests/{_digest(b'nothing')}")) == "MANIFEST_UNKNOWN"
    assert _code(mine.get(base + f"/blobs/{_digest(b'nothing')}")) == "BLOB_UNKNOWN"
    assert _code(mine.get(base + "/blobs/sha256:xyz")) == "DIGEST_INVALID"
    assert _code(mine.get(f"/v2/{account.id}/Bad_Name/manifests/latest")) == "NAME_INVALID"
    assert _code(mine.get(f"/v2/{account.id}/{uid('missing')}/manifests/latest")) == "NAME_UNKNOWN"
    head = mine.head(base + "/manifests/nope")
    assert head.status_code == 404 and head.content == b""
    # another account cannot push into this account
    assert _code(http.post(f"/v2/{account.id}/{uid('new')}/blobs/uploads/")) == "DENIED"


def test_blob_uploads(oci_server: FilesServer, model: tuple[Any, str, dict[str, bytes]]) -> None:
    account, model_id, files = model
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    base = f"/v2/{account.id}/{model_id}"
    # monolithic
    data = os.urandom(100_000)
    done = http.post(base + "/blobs/uploads/", params={"digest": _digest(data)}, content=data)
    assert done.status_code == 201 and done.headers["docker-content-digest"] == _digest(data)
    assert http.get(done.headers["location"]).content == data
    # chunked, with a status query between chunks (resume), a chunk at a wrong offset refused
    data = os.urandom(250_000)
    started = http.post(base + "/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["location"]
    first = http.patch(location, content=data[:100_000], headers={"Content-Range": "0-99999"})
    assert first.status_code == 202 and first.headers["range"] == "0-99999"
    wrong = http.patch(location, content=data[:10], headers={"Content-Range": "5-14"})
    assert wrong.status_code == 416 and wrong.headers["range"] == "0-99999"
    status = http.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-99999"
    second = http.patch(location, content=data[100_000:200_000], headers={"Content-Range": "100000-199999"})
    assert second.headers["range"] == "0-199999"
    bad = http.put(location, params={"digest": _digest(b"other")}, content=data[200_000:])
    assert bad.status_code == 400 and _code(bad) == "DIGEST_INVALID"
    assert _code(http.get(location)) == "BLOB_UPLOAD_UNKNOWN"  # a refused upload is gone
    again = http.post(base + "/blobs/uploads/").headers["location"]
    http.patch(again, content=data[:200_000])
    put = http.put(again, params={"digest": _digest(data)}, content=data[200_000:])
    assert put.status_code == 201
    # ranges
    ranged = http.get(f"{base}/blobs/{_digest(data)}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    head = http.head(f"{base}/blobs/{_digest(data)}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    # cancel
    cancelled = http.post(base + "/blobs/uploads/").headers["location"]
    assert http.delete(cancelled).status_code == 204
    assert http.get(cancelled).status_code == 404
    # mount a blob from another repository the caller reads (a file of the model), into a new one
    weights = files["model.safetensors"]
    target = f"/v2/{account.id}/{uid('mounted')}"
    mounted = http.post(
        target + "/blobs/uploads/", params={"mount": _digest(weights), "from": f"{account.id}/{model_id}"}
    )
    assert mounted.status_code == 201 and mounted.headers["docker-content-digest"] == _digest(weights)
    # a mount the caller may not read falls back to an upload session
    stranger = oci_server.new_account()
    private_id, _ = fireworks_model(oci_server, stranger, Path(oci_server.root) / "tmp-fixture")
    fallback = http.post(
        target + "/blobs/uploads/", params={"mount": _digest(weights), "from": f"{stranger.id}/{private_id}"}
    )
    assert fallback.status_code == 202


def test_tags_paging(oci_server: FilesServer, model: tuple[Any, str, dict[str, bytes]]) -> None:
    account, model_id, _ = model
    http = httpx.Client(base_url=oci_server.base_url, auth=("u", account.key))
    base = f"/v2/{account.id}/{model_id}"
    config = b"{}"
    http.post(base + "/blobs/uploads/", params={"digest": _digest(config)}, content=config)
    manifest = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"artifactType":"application/vnd.example.note","config":{"mediaType":"application/vnd.oci.empty.v1+json",'
        b'"digest":"' + _digest(config).encode() + b'","size":2},"layers":[]}'
    )
    for tag in ("a1", "b2", "c3"):
        put = http.put(
            f"{base}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert put.status_code == 201, put.text
    everything = http.get(base + "/tags/list").json()
    assert everything == {"name": f"{account.id}/{model_id}", "tags": ["a1", "b2", "c3", "latest", "main"]}
    page = http.get(base + "/tags/list", params={"n": 2})
    assert page.json()["tags"] == ["a1", "b2"]
    assert page.headers["link"] == f'</v2/{account.id}/{model_id}/tags/list?n=2&last=b2>; rel="next"'
    middle = http.get(base + "/tags/list", params={"n": 2, "last": "b2"})
    assert middle.json()["tags"] == ["c3", "latest"] and "last=latest" in middle.headers["link"]
    rest = http.get(base + "/tags/list", params={"n": 2, "last": "latest"})
    assert rest.json()["tags"] == ["main"] and "link" not in rest.headers
    assert _code(http.get(base + "/tags/list", params={"n": "x"})) == "PAGINATION_NUMBER_INVALID"


def test_roles_and_audit(oci_server: FilesServer, tmp_path: Path) -> None:
    team = make_team(cast(Server, oci_server), "ociteam")
    reader = httpx.Client(base_url=oci_server.base_url, auth=("u", team.keys["inference-user"]))
    writer = httpx.Client(base_url=oci_server.base_url, auth=("u", team.keys["user"]))
    base = f"/v2/{team.account}/{uid('roles')}"
    denied = reader.post(base + "/blobs/uploads/")
    assert denied.status_code == 403 and _code(denied) == "DENIED"
    data = b"some bytes"
    assert (
        writer.post(base + "/blobs/uploads/", params={"digest": _digest(data)}, content=data).status_code
        == 201
    )
    log = httpx.get(
        f"{oci_server.base_url}/v1/accounts/{team.account}/auditLogs",
        headers={"Authorization": f"Bearer {team.keys['admin']}"},
    ).json()["auditLogs"]
    pushes = [(e["method"], e["responseCode"], e["principal"]) for e in log if e["method"] == "PushBlob"]
    assert ("PushBlob", 201, "user@example.com") in pushes
    assert ("PushBlob", 403, "inference-user@example.com") in pushes
    team.close()
