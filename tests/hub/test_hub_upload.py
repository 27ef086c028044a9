"""Pushing to modelyard through its Hugging Face Hub door with the real ``huggingface_hub`` client
(``HF_HUB_DISABLE_XET=1``), against a real server on SQLite with file storage: repositories, commits of
every kind, tags and branches, the LFS batch API (basic and multipart), the validation of every commit,
roles and the audit log. ``test_hub_upload_clients.py`` runs whole client processes (Xet, a push killed
halfway, transformers), ``test_hub_upload_s3.py`` the same flows on PostgreSQL with S3."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    constants,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.support.hf_fixtures import make_peft, make_qwen2
from tests.support.hub_upload import MULTIPART_THRESHOLD, PART_SIZE, HubServer, Team, serving


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``HF_HUB_DISABLE_XET=1`` does (read once, at import)."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)


@pytest.fixture(scope="module")
def hub(tmp_root: Path) -> Iterator[HubServer]:
    with serving(f"sqlite:///{tmp_root / 'hub-upload.db'}", "file", tmp_root) as srv:
        yield srv


@pytest.fixture()
def team(hub: HubServer) -> Team:
    return hub.team()


def checkpoint(tmp_path: Path) -> Path:
    return make_qwen2(tmp_path / "ckpt").path


def tree(hub: HubServer, repo: str, rev: str = "main") -> dict[str, tuple[str, int]]:
    account, model = repo.split("/")
    head = hub.store.revisions.resolve(account, model, rev)
    return {e.path: (e.sha256, e.size) for e in hub.store.revisions.tree(head.commit_id)}


def model(hub: HubServer, repo: str) -> dict[str, Any]:
    account, name = repo.split("/")
    found = hub.store.get_model(f"accounts/{account}/models/{name}")
    assert found is not None
    return found[0]


def blob_bytes(hub: HubServer, sha: str) -> bytes:
    return (hub.root / "blobs" / "sha256" / sha[:2] / sha[2:4] / sha).read_bytes()


# -- repositories ----------------------------------------------------------------------------------------


def test_create_repo_private_public_and_exist_ok(hub: HubServer, team: Team) -> None:
    api = team.api()
    url = api.create_repo(f"{team.account}/Qwen2.5-Tiny_x", private=True)
    assert url.repo_id == f"{team.account}/qwen2p5-tiny-x"  # the one id mapping (decisions.md)
    created = model(hub, f"{team.account}/qwen2p5-tiny-x")
    assert created["state"] == "UPLOADING"
    assert created["kind"] == "HF_BASE_MODEL"
    assert not created.get("public", False)
    assert created["displayName"] == "Qwen2.5-Tiny_x"
    # Like a new repository on the Hub, it has a first (here: empty) commit on main.
    (first,) = hub.store.revisions.log(team.account, "qwen2p5-tiny-x", "main")
    assert hub.store.revisions.tree(first.commit_id) == []

    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(f"{team.account}/qwen2p5-tiny-x")
    assert exc.value.response.status_code == 409
    again = api.create_repo(f"{team.account}/qwen2p5-tiny-x", exist_ok=True)
    assert again.repo_id == f"{team.account}/qwen2p5-tiny-x"

    api.create_repo(f"{team.account}/open", private=False)
    assert model(hub, f"{team.account}/open")["public"] is True
    # Without a namespace the repository is the caller's account's.
    assert api.create_repo("solo").repo_id == f"{team.account}/solo"


def test_create_repo_refusals(hub: HubServer, team: Team) -> None:
    api = team.api()
    with pytest.raises(BadRequestError, match="invalid repo id"):
        api.create_repo(f"{team.account}/9lives")
    with pytest.raises(BadRequestError, match="models only"):
        api.create_repo(f"{team.account}/ds", repo_type="dataset")


def test_delete_repo(hub: HubServer, team: Team) -> None:
    api = team.api("user")
    repo = team.repo()
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="notes.txt", repo_id=repo)
    api.delete_repo(repo)
    account, name = repo.split("/")
    assert hub.store.get_model(f"accounts/{account}/models/{name}") is None
    assert hub.store.revisions.refs(account, name) == []
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo)
    api.delete_repo(repo, missing_ok=True)


def test_uploads_for_a_deleted_repository_do_not_carry_over(hub: HubServer, team: Team) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    data = os.urandom(4000)
    sha = hashlib.sha256(data).hexdigest()
    action = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])["objects"][0]["actions"]
    with httpx.Client(timeout=30) as http:
        assert http.put(action["upload"]["href"], content=data).status_code == 200
    api.delete_repo(repo)  # before any commit named the object
    api.create_repo(repo)
    again = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])
    assert "upload" in again["objects"][0]["actions"]  # the new repository must send the bytes itself


# -- commits ---------------------------------------------------------------------------------------------


def test_upload_folder_validates_and_makes_the_model_ready(
    hub: HubServer, team: Team, tmp_path: Path
) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = checkpoint(tmp_path)
    info = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="first weights")
    assert len(info.oid) == 40
    assert info.commit_url.endswith(f"/hf/{repo}/commit/{info.oid}")
    ready = model(hub, repo)
    assert ready["state"] == "READY"
    assert ready["baseModelDetails"]["parameterCount"] == "5776"
    assert ready["baseModelDetails"]["modelType"] == "qwen2"
    files = tree(hub, repo)
    local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert set(files) == set(local)
    for path, data in local.items():
        sha, size = files[path]
        assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert blob_bytes(hub, sha) == data
    account, name = repo.split("/")
    head = hub.store.revisions.resolve(account, name, "main")
    assert head.commit_id == info.oid
    assert head.message == "first weights"
    assert head.author == f"accounts/{team.account}/users/admin"
    # The round trip: what was pushed is what the download side of the door gives back.
    pulled = Path(snapshot_download(repo, endpoint=hub.endpoint, token=team.keys["inference-user"],
                                    cache_dir=tmp_path / "cache"))  # fmt: skip
    assert {
        p.relative_to(pulled).as_posix(): p.read_bytes() for p in pulled.rglob("*") if p.is_file()
    } == local


def test_a_commit_that_breaks_a_ready_model_is_refused(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    api.upload_folder(repo_id=repo, folder_path=checkpoint(tmp_path))
    before = tree(hub, repo)
    with pytest.raises(BadRequestError) as exc:
        api.delete_file("config.json", repo_id=repo)
    assert "would leave main" in str(exc.value) and "config.json" in str(exc.value)
    with pytest.raises(BadRequestError, match=r"model\.safetensors"):
        api.upload_file(
            path_or_fileobj=b"\x00not safetensors", path_in_repo="model.safetensors", repo_id=repo
        )
    assert tree(hub, repo) == before
    assert model(hub, repo)["state"] == "READY"
    # A model card alone is fine.
    card = b"---\nlicense: apache-2.0\ntags: [tiny]\n---\n# Tiny\n"
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo)
    assert tree(hub, repo)["README.md"][1] == len(card)
    with pytest.raises(ValueError, match=r"Invalid metadata in README\.md"):
        api.upload_file(path_or_fileobj=b"---\n- a\n- b\n---\n", path_in_repo="README.md", repo_id=repo)


def test_an_incomplete_push_keeps_the_model_uploading(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = checkpoint(tmp_path)
    api.upload_file(path_or_fileobj=folder / "config.json", path_in_repo="config.json", repo_id=repo)
    waiting = model(hub, repo)
    assert waiting["state"] == "UPLOADING"
    assert "safetensors" in waiting["status"]["message"]
    api.upload_file(
        path_or_fileobj=folder / "model.safetensors", path_in_repo="model.safetensors", repo_id=repo
    )
    assert model(hub, repo)["state"] == "READY"
    assert "status" not in model(hub, repo)


def test_create_commit_with_additions_deletions_and_copies(
    hub: HubServer, team: Team, tmp_path: Path
) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = checkpoint(tmp_path)
    api.upload_folder(repo_id=repo, folder_path=folder)
    api.upload_file(path_or_fileobj=b"a\n", path_in_repo="extra/a.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"b\n", path_in_repo="extra/b.txt", repo_id=repo)
    before = tree(hub, repo)
    info = api.create_commit(
        repo_id=repo,
        operations=[
            CommitOperationAdd("notes/new.txt", b"new file\n"),
            CommitOperationCopy("model.safetensors", "copies/model.safetensors"),
            CommitOperationCopy("vocab.json", "copies/vocab.json"),
            CommitOperationDelete("extra/"),
            CommitOperationDelete("merges.txt"),
        ],
        commit_message="many things",
        commit_description="adds, copies and deletes",
    )
    after = tree(hub, repo)
    assert after["copies/model.safetensors"] == before["model.safetensors"]
    assert after["copies/vocab.json"] == before["vocab.json"]
    assert after["notes/new.txt"] == (hashlib.sha256(b"new file\n").hexdigest(), 9)
    assert not any(p.startswith("extra/") for p in after)
    assert "merges.txt" not in after
    account, name = repo.split("/")
    head = hub.store.revisions.resolve(account, name, "main")
    assert head.commit_id == info.oid
    assert head.message == "many things\n\nadds, copies and deletes"
    with pytest.raises(HfHubHTTPError) as exc:
        api.delete_file("no/such/file.txt", repo_id=repo)
    assert exc.value.response.status_code == 404
    assert tree(hub, repo) == after


def test_parent_commit_must_be_the_head(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo)
    api.upload_file(path_or_fileobj=b"2", path_in_repo="two.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as exc:
        api.upload_file(path_or_fileobj=b"3", path_in_repo="three.txt", repo_id=repo, parent_commit=first.oid)
    assert exc.value.response.status_code == 412
    assert "three.txt" not in tree(hub, repo)


def test_unchanged_files_are_not_sent_again(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = checkpoint(tmp_path)
    first = api.upload_folder(repo_id=repo, folder_path=folder)
    again = api.upload_folder(repo_id=repo, folder_path=folder)
    assert again.oid == first.oid  # nothing changed: no empty commit
    account, name = repo.split("/")
    log = hub.store.revisions.log(account, name, "main")
    assert [r.message for r in log] == ["Upload folder using huggingface_hub", "initial commit"]


# -- tags and branches -----------------------------------------------------------------------------------


def test_tags_and_branches(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    account, name = repo.split("/")
    api.create_repo(repo)
    first = api.upload_folder(repo_id=repo, folder_path=checkpoint(tmp_path))
    api.create_tag(repo, tag="v1", tag_message="first release")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_tag(repo, tag="v1")
    assert exc.value.response.status_code == 409
    api.create_tag(repo, tag="v1", exist_ok=True)
    api.create_branch(repo, branch="experiments", revision="v1")
    # Branches other than main are not validated: anything may be tried there.
    on_branch = api.upload_file(
        path_or_fileobj=b"scratch", path_in_repo="scratch.txt", repo_id=repo, revision="experiments"
    )
    api.delete_file("config.json", repo_id=repo, revision="experiments")
    refs = {r.name: (r.kind, r.commit_id) for r in hub.store.revisions.refs(account, name)}
    assert refs["v1"] == ("tag", first.oid)
    assert refs["main"] == ("branch", first.oid)
    assert refs["experiments"][0] == "branch" and refs["experiments"][1] != on_branch.oid
    assert "config.json" in tree(hub, repo) and "config.json" not in tree(hub, repo, "experiments")
    with pytest.raises(BadRequestError, match="tag"):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="v1")
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(repo, branch="other", revision="no-such-rev")
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, revision="nowhere")
    api.create_branch(repo, branch="experiments", exist_ok=True)
    api.delete_tag(repo, tag="v1")
    api.delete_branch(repo, branch="experiments")
    assert {r.name for r in hub.store.revisions.refs(account, name)} == {"main"}
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo, tag="v1")


# -- the LFS batch API -----------------------------------------------------------------------------------


def _batch(hub: HubServer, key: str, repo: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    response = hub.http(key).post(
        f"/hf/{repo}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic", "multipart"], "objects": objects,
              "hash_algo": "sha256"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_large_file_goes_multipart_and_round_trips(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    data = os.urandom(3 * MULTIPART_THRESHOLD + 123)
    sha = hashlib.sha256(data).hexdigest()
    answer = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])
    header = answer["objects"][0]["actions"]["upload"]["header"]
    assert answer["transfer"] == "multipart"
    assert int(header["chunk_size"]) == PART_SIZE
    assert sorted(k for k in header if k.isdigit()) == [
        f"{n:05d}" for n in range(1, -(-len(data) // PART_SIZE) + 1)
    ]

    info = api.upload_file(path_or_fileobj=data, path_in_repo="weights/big.bin", repo_id=repo)
    assert tree(hub, repo)["weights/big.bin"] == (sha, len(data))
    assert blob_bytes(hub, sha) == data
    pulled = hf_hub_download(repo, "weights/big.bin", revision=info.oid, endpoint=hub.endpoint,
                             token=team.keys["admin"], cache_dir=tmp_path / "cache")  # fmt: skip
    assert Path(pulled).read_bytes() == data
    assert not any(hub.root.joinpath("tmp").iterdir())  # no part left behind
    # The object is stored now: a second batch asks for nothing.
    again = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])
    assert "actions" not in again["objects"][0]


def test_bytes_that_do_not_hash_to_the_oid_are_refused(hub: HubServer, team: Team) -> None:
    repo = team.repo()
    team.api().create_repo(repo)
    claimed = os.urandom(1000)
    sha = hashlib.sha256(claimed).hexdigest()
    answer = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": 1000}])
    action = answer["objects"][0]["actions"]
    with httpx.Client(timeout=30) as http:
        refused = http.put(action["upload"]["href"], content=os.urandom(1000))
        assert refused.status_code == 400
        assert "not to the LFS oid" in refused.json()["error"]
        short = http.put(action["upload"]["href"], content=claimed[:10])
        assert short.status_code == 400
        tampered = http.put(action["upload"]["href"].replace("size=1000", "size=10"), content=claimed[:10])
        assert tampered.status_code == 403
    verify = hub.http(team.keys["admin"]).post(action["verify"]["href"], json={"oid": sha, "size": 1000})
    assert verify.status_code == 400
    assert hub.store.files.blob_size(sha) is None
    # The commit cannot name it either.
    ops = b'{"key":"header","value":{"summary":"x"}}\n' + (
        b'{"key":"lfsFile","value":{"path":"w.bin","algo":"sha256","oid":"%s","size":1000}}\n' % sha.encode()
    )
    commit = hub.http(team.keys["admin"]).post(
        f"/hf/api/models/{repo}/commit/main", content=ops, headers={"Content-Type": "application/x-ndjson"}
    )
    assert commit.status_code == 400 and "was not uploaded" in commit.json()["error"]


def test_pull_requests_are_refused(hub: HubServer, team: Team) -> None:
    repo = team.repo()
    api = team.api()
    api.create_repo(repo)
    with pytest.raises(BadRequestError, match="pull requests"):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo, create_pr=True)


# -- access and audit ------------------------------------------------------------------------------------


def test_roles(hub: HubServer, team: Team, tmp_path: Path) -> None:
    repo = team.repo()
    team.api("user").create_repo(repo)
    reader = team.api("inference-user")
    for attempt in (
        lambda: reader.create_repo(team.repo()),
        lambda: reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo),
        lambda: reader.create_tag(repo, tag="t"),
        lambda: reader.delete_repo(repo),
    ):
        with pytest.raises(HfHubHTTPError) as exc:
            attempt()
        assert exc.value.response.status_code == 403
        assert "inference-user" in str(exc.value)
    contributor = team.api("contributor")
    contributor.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as exc:
        contributor.delete_repo(repo)
    assert exc.value.response.status_code == 403
    assert "cannot delete models" in str(exc.value)

    other = hub.team("other").api()
    with pytest.raises(RepositoryNotFoundError):  # another account's private repository
        other.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    public = team.repo()
    team.api().create_repo(public, private=False)
    with pytest.raises(HfHubHTTPError) as exc:
        other.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public)
    assert exc.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as exc:
        hub.api("not-a-key").create_repo(team.repo())
    assert exc.value.response.status_code == 401
    team.api("user").delete_repo(repo)


def test_every_write_is_audited_with_the_status_the_client_saw(
    hub: HubServer, team: Team, tmp_path: Path
) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = checkpoint(tmp_path)
    (folder / "extra.bin").write_bytes(os.urandom(2000))  # new bytes: sent through LFS and verified
    api.upload_folder(repo_id=repo, folder_path=folder)
    with pytest.raises(BadRequestError):
        api.delete_file("config.json", repo_id=repo)
    api.create_tag(repo, tag="v1")
    with pytest.raises(HfHubHTTPError):
        team.api("inference-user").create_branch(repo, branch="b")
    api.delete_repo(repo)
    entries = hub.http(team.keys["admin"]).get(f"/v1/accounts/{team.account}/auditLogs").json()["auditLogs"]
    seen = [(e["method"], int(e["responseCode"])) for e in reversed(entries)]
    assert seen[0] == ("HubCreateRepo", 200)
    assert ("HubLfsBatch", 200) in seen and ("HubLfsVerify", 200) in seen, seen
    assert seen[-4:] == [
        ("HubCommit", 400),
        ("HubCreateTag", 200),
        ("HubCreateBranch", 403),
        ("HubDeleteRepo", 200),
    ]
    account, name = repo.split("/")
    refused = next(e for e in entries if e["method"] == "HubCommit" and int(e["responseCode"]) == 400)
    assert "would leave main" in refused["message"]
    assert refused["resource"] == f"accounts/{account}/models/{name}"
    branch = next(e for e in entries if e["method"] == "HubCreateBranch")
    assert branch["principal"].startswith("inference-user") or "inference-user" in branch["principal"]


def test_the_rate_limit_counts_hub_writes(tmp_root: Path) -> None:
    with serving(
        f"sqlite:///{tmp_root / 'hub-rate.db'}", "file", tmp_root, extra_env={"MODELYARD_RATE_LIMIT": "1/2"}
    ) as srv:
        team = srv.team()
        api = team.api()
        statuses = []
        for n in range(4):
            try:
                api.create_repo(team.repo(f"r{n}"))
                statuses.append(200)
            except HfHubHTTPError as e:
                statuses.append(e.response.status_code)
                assert e.response.headers.get("Retry-After")
        assert 429 in statuses


def test_knowing_a_sha256_does_not_give_another_repository_s_bytes(hub: HubServer, team: Team) -> None:
    secret = os.urandom(5000)
    sha = hashlib.sha256(secret).hexdigest()
    private = team.repo()
    team.api().create_repo(private)
    team.api().upload_file(path_or_fileobj=secret, path_in_repo="secret.bin", repo_id=private)
    other = hub.team("other")
    mine = other.repo()
    other.api().create_repo(mine)
    # The registry holds the bytes, but not for this repository: the batch asks for them ...
    answer = _batch(hub, other.keys["admin"], mine, [{"oid": sha, "size": len(secret)}])
    assert "upload" in answer["objects"][0]["actions"]
    # ... and a commit that names them without sending them is refused.
    ops = b'{"key":"header","value":{"summary":"steal"}}\n' + (
        b'{"key":"lfsFile","value":{"path":"s.bin","algo":"sha256","oid":"%s","size":%d}}\n'
        % (sha.encode(), len(secret))
    )
    commit = hub.http(other.keys["admin"]).post(
        f"/hf/api/models/{mine}/commit/main", content=ops, headers={"Content-Type": "application/x-ndjson"}
    )
    assert commit.status_code == 400 and "not uploaded to this repository" in commit.json()["error"]
    # Whoever has the same bytes pushes them as usual (they are stored once).
    other.api().upload_file(path_or_fileobj=secret, path_in_repo="same.bin", repo_id=mine)
    assert tree(hub, mine)["same.bin"] == (sha, len(secret))


def test_two_replicas_serve_one_multipart_upload(tmp_root: Path, tmp_path: Path) -> None:
    """Parts sent to either replica, completed on the other: the URLs are signed with the database's
    secret and the parts wait on the shared storage."""
    db = f"sqlite:///{tmp_root / 'hub-replicas.db'}"
    with (
        serving(db, "file", tmp_root) as first,
        serving(db, "file", tmp_root, storage_url=first.storage_url) as second,
    ):
        team = first.team()
        repo = team.repo()
        team.api().create_repo(repo)
        data = os.urandom(4 * PART_SIZE + 7)
        sha = hashlib.sha256(data).hexdigest()
        answer = _batch(first, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])
        upload = answer["objects"][0]["actions"]["upload"]
        parts = sorted((k, v) for k, v in upload["header"].items() if k.isdigit())
        etags = []
        with httpx.Client(timeout=60) as http:
            for n, (_, url) in enumerate(parts):
                target = url if n % 2 == 0 else url.replace(first.base_url, second.base_url)
                sent = http.put(target, content=data[n * PART_SIZE : (n + 1) * PART_SIZE])
                assert sent.status_code == 200, sent.text
                etags.append({"partNumber": n + 1, "etag": sent.headers["etag"]})
            done = http.post(
                upload["href"].replace(first.base_url, second.base_url), json={"oid": sha, "parts": etags}
            )
            assert done.status_code == 200, done.text
        verify = answer["objects"][0]["actions"]["verify"]["href"].replace(first.base_url, second.base_url)
        assert (
            second.http(team.keys["admin"]).post(verify, json={"oid": sha, "size": len(data)}).status_code
            == 200
        )
        # The client finds the object stored for this repository: nothing is sent again.
        second.api(team.keys["admin"]).upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo)
        assert tree(first, repo)["w.bin"] == (sha, len(data))
        assert blob_bytes(first, sha) == data


def test_an_adapter_of_a_registry_model_becomes_a_peft_addon(
    hub: HubServer, team: Team, tmp_path: Path
) -> None:
    api = team.api()
    base = f"{team.account}/Tiny-Base_1.0"  # Hub-style: the model tiny-base-1p0
    api.create_repo(base)
    api.upload_folder(repo_id=f"{team.account}/tiny-base-1p0", folder_path=checkpoint(tmp_path))
    lora = team.repo("tiny-lora")
    api.create_repo(lora)
    adapter = make_peft(tmp_path / "lora", base_model_name_or_path=base, r=8).path
    api.upload_folder(repo_id=lora, folder_path=adapter)
    found = model(hub, lora)
    assert found["state"] == "READY"
    assert found["kind"] == "HF_PEFT_ADDON"
    assert "baseModelDetails" not in found
    assert found["peftDetails"]["baseModel"] == f"accounts/{team.account}/models/tiny-base-1p0"
    assert found["peftDetails"]["r"] == 8

    # An adapter of a model this registry does not have waits, saying why.
    stray = team.repo("stray-lora")
    api.create_repo(stray)
    api.upload_folder(repo_id=stray, folder_path=make_peft(tmp_path / "stray").path)
    waiting = model(hub, stray)
    assert waiting["state"] == "UPLOADING" and waiting["kind"] == "HF_BASE_MODEL"
    assert "push the base model" in waiting["status"]["message"]


def test_files_a_gitignore_names_are_not_committed(hub: HubServer, team: Team, tmp_path: Path) -> None:
    api = team.api()
    repo = team.repo()
    api.create_repo(repo)
    folder = tmp_path / "push"
    folder.mkdir()
    (folder / ".gitignore").write_text("*.log\nscratch/\n")
    (folder / "notes.txt").write_text("kept")
    (folder / "train.log").write_bytes(os.urandom(3000))  # an LFS file the .gitignore names
    (folder / "scratch").mkdir()
    (folder / "scratch" / "tmp.bin").write_bytes(os.urandom(3000))
    api.upload_folder(repo_id=repo, folder_path=folder)
    assert set(tree(hub, repo)) == {".gitignore", "notes.txt"}


def test_a_part_sent_again_with_other_bytes_is_caught(hub: HubServer, team: Team) -> None:
    repo = team.repo()
    team.api().create_repo(repo)
    data = os.urandom(3 * PART_SIZE + 5)
    sha = hashlib.sha256(data).hexdigest()
    answer = _batch(hub, team.keys["admin"], repo, [{"oid": sha, "size": len(data)}])
    upload = answer["objects"][0]["actions"]["upload"]
    urls = [url for key, url in sorted(upload["header"].items()) if key.isdigit()]
    with httpx.Client(timeout=60) as http:
        etags = []
        for n, url in enumerate(urls):
            sent = http.put(url, content=data[n * PART_SIZE : (n + 1) * PART_SIZE])
            etags.append({"partNumber": n + 1, "etag": sent.headers["etag"]})
        # Every part arrived in order (the running hash is the oid's); then part 2 is replaced.
        assert http.put(urls[1], content=os.urandom(PART_SIZE)).status_code == 200
        done = http.post(upload["href"], json={"oid": sha, "parts": etags})
    assert done.status_code == 400 and "not to the LFS oid" in done.json()["error"]
    assert hub.store.files.blob_size(sha) is None


def test_creating_a_repository_in_another_account_is_forbidden(hub: HubServer, team: Team) -> None:
    other = hub.team("other")
    with pytest.raises(HfHubHTTPError) as exc:
        other.api().create_repo(team.repo())
    assert exc.value.response.status_code == 403
    assert "cannot create repositories" in str(exc.value)


def test_concurrent_pushes_to_one_branch_all_land(hub: HubServer, team: Team) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = team.api()
    repo = team.repo()
    api.create_repo(repo)

    def push(n: int) -> str:
        info = api.upload_file(path_or_fileobj=f"file {n}\n".encode(), path_in_repo=f"f{n}.txt", repo_id=repo)
        return str(info.oid)

    with ThreadPoolExecutor(6) as pool:
        oids = list(pool.map(push, range(6)))
    assert set(tree(hub, repo)) == {f"f{n}.txt" for n in range(6)}
    account, name = repo.split("/")
    log = hub.store.revisions.log(account, name, "main")
    assert len(log) == 7 and set(oids) <= {r.commit_id for r in log}
