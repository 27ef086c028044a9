"""The Hub door's download side through the real huggingface_hub client against a real server (both
databases, file and S3 storage): model_info, trees, refs, commits, resolve, snapshot_download and
hf_hub_download with revisions, patterns, local_dir and the cache; access and the errors clients raise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from modelyard.store.revisions import MAIN
from tests.support.files import FilesServer
from tests.support.hub import HubModel, hub_model, run_python


def _second_commit(model: HubModel) -> str:
    """A second revision on main that drops README.md; returns the first revision's id."""
    revs = model.server.store.revisions
    first = revs.resolve(model.account, model.model_id, MAIN)
    revs.create_tag(model.account, model.model_id, "v1")
    revs.create_branch(model.account, model.model_id, "fp8")
    revs.commit(
        model.account, model.model_id, changes={"README.md": None},
        author=f"accounts/{model.account}/users/admin", message="Drop the card\n\nIt was only a test.",
    )  # fmt: skip
    return first.commit_id


def test_model_info_trees_refs_and_commits(files_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(files_server, tmp_path)
    api = model.api()
    info = api.model_info(model.repo, files_metadata=True)
    head = files_server.store.revisions.resolve(model.account, model.model_id, MAIN)
    assert info.id == model.repo and info.sha == head.commit_id and info.private is True
    assert info.last_modified is not None
    assert info.siblings is not None
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == set(model.files)
    for name, data in model.files.items():
        assert siblings[name].size == len(data)
        lfs = siblings[name].lfs
        assert lfs is not None and lfs.sha256 == hashlib.sha256(data).hexdigest()
    assert info.card_data is not None
    assert info.card_data.license == "apache-2.0" and info.card_data.base_model == "Qwen/Qwen2.5-0.5B"
    assert info.pipeline_tag == "text-generation" and "tiny" in (info.tags or [])

    assert sorted(api.list_repo_files(model.repo)) == sorted(model.files)
    tree = {f.path: f for f in api.list_repo_tree(model.repo, recursive=True)}
    assert {p: getattr(f, "size", None) for p, f in tree.items()} == {
        p: len(d) for p, d in model.files.items()
    }
    assert api.file_exists(model.repo, "config.json") and not api.file_exists(model.repo, "nope.json")

    first = _second_commit(model)
    refs = api.list_repo_refs(model.repo)
    assert {(b.name, b.ref) for b in refs.branches} == {
        ("main", "refs/heads/main"),
        ("fp8", "refs/heads/fp8"),
    }
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", first)]
    commits = api.list_repo_commits(model.repo)
    assert [c.commit_id for c in commits][1:] == [first]
    assert commits[0].title == "Drop the card" and commits[0].message == "It was only a test."
    assert commits[0].authors == [f"accounts/{model.account}/users/admin"]
    # Revisions: a tag, a branch, a commit id; the card is gone from main only.
    assert api.model_info(model.repo).card_data is None
    for rev in ("v1", "fp8", first):
        old = api.model_info(model.repo, revision=rev)
        assert old.sha == first and old.card_data is not None
        assert "README.md" in api.list_repo_files(model.repo, revision=rev)
    assert "README.md" not in api.list_repo_files(model.repo)
    assert api.list_repo_commits(model.repo, revision="v1")[0].commit_id == first


def test_resolve_headers_redirects_and_ranges(files_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(files_server, tmp_path)
    auth = {"Authorization": f"Bearer {model.key}"}
    head_rev = files_server.store.revisions.resolve(model.account, model.model_id, MAIN)
    name = "model.safetensors"
    data = model.files[name]
    sha = hashlib.sha256(data).hexdigest()
    with httpx.Client(timeout=30) as http:
        url = f"{model.endpoint}/{model.repo}/resolve/main/{name}"
        head = http.head(url, headers=auth)
        assert head.status_code == 200
        assert head.headers["x-repo-commit"] == head_rev.commit_id
        assert head.headers["etag"] == head.headers["x-linked-etag"] == f'"{sha}"'
        assert head.headers["x-linked-size"] == head.headers["content-length"] == str(len(data))
        get = http.get(url, headers=auth)
        assert get.status_code == 302 and get.headers["x-repo-commit"] == head_rev.commit_id
        assert http.get(get.headers["location"]).content == data
        ranged = http.get(url, headers={**auth, "Range": "bytes=8-99"}, follow_redirects=True)
        assert ranged.status_code == 206 and ranged.content == data[8:100]
        # Errors as the Hub sends them (headers for HEAD, which has no body).
        missing = http.head(f"{model.endpoint}/{model.repo}/resolve/main/nope.bin", headers=auth)
        assert (missing.status_code, missing.headers["x-error-code"]) == (404, "EntryNotFound")
        bad_rev = http.get(f"{model.endpoint}/{model.repo}/resolve/nope/{name}", headers=auth)
        assert bad_rev.headers["x-error-code"] == "RevisionNotFound" and "error" in bad_rev.json()
        anonymous = http.head(url)  # a private model, without a key
        assert (anonymous.status_code, anonymous.headers["x-error-code"]) == (404, "RepoNotFound")


def test_snapshot_download_with_revisions_patterns_local_dir_and_cache(
    files_server: FilesServer, tmp_path: Path
) -> None:
    model = hub_model(files_server, tmp_path)
    first = _second_commit(model)
    home = tmp_path / "hf-home"
    result = run_python(
        f"""
        import json, os, pathlib
        from huggingface_hub import hf_hub_download, snapshot_download
        repo = {model.repo!r}
        out = {{}}
        main = snapshot_download(repo)
        out["main"] = sorted(p.name for p in pathlib.Path(main).iterdir())
        for rev in ("v1", "fp8", {first!r}):
            path = snapshot_download(repo, revision=rev)
            out[rev] = [pathlib.Path(path).name, sorted(p.name for p in pathlib.Path(path).iterdir())]
        js = snapshot_download(repo, allow_patterns=["*.json"], local_dir={str(tmp_path / "json")!r})
        out["json"] = sorted(p.name for p in pathlib.Path(js).iterdir() if p.is_file())
        no_weights = snapshot_download(repo, ignore_patterns=["*.safetensors"], revision="v1",
                                       local_dir={str(tmp_path / "noweights")!r})
        out["noweights"] = sorted(p.name for p in pathlib.Path(no_weights).iterdir() if p.is_file())
        one = hf_hub_download(repo, "config.json", revision={first!r})
        out["one"] = pathlib.Path(one).read_text()
        refs = pathlib.Path(os.environ["HF_HOME"], "hub", "models--" + repo.replace("/", "--"), "refs")
        out["refs"] = {{p.name: p.read_text() for p in refs.iterdir() if p.is_file()}}
        print(json.dumps(out))
        """,
        model.env(home),
        tmp_path,
    )
    names = sorted(model.files)
    assert result["main"] == sorted(set(names) - {"README.md"})
    for rev in ("v1", "fp8", first):
        assert result[rev] == [first, names]  # the snapshot folder is named by the commit id
    assert result["json"] == sorted(n for n in names if n.endswith(".json"))
    assert result["noweights"] == sorted(n for n in names if not n.endswith(".safetensors"))
    assert result["one"] == model.files["config.json"].decode()
    head = files_server.store.revisions.resolve(model.account, model.model_id, MAIN)
    assert result["refs"]["main"] == head.commit_id and result["refs"]["v1"] == first
    # The files in the cache are the committed bytes.
    blobs = home / "hub" / f"models--{model.account}--{model.model_id}" / "blobs"
    for data in model.files.values():
        assert (blobs / hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_access_and_errors(files_server: FilesServer, tmp_path: Path) -> None:
    private = hub_model(files_server, tmp_path)
    public = hub_model(files_server, tmp_path, public=True)
    stranger = hub_model(files_server, tmp_path)  # another account, with a key of its own

    # Public models need no token; another account reads them too.
    anonymous = public.api(token=False)
    assert anonymous.model_info(public.repo).private is False
    assert sorted(anonymous.list_repo_files(public.repo)) == sorted(public.files)
    path = anonymous.hf_hub_download(public.repo, "config.json", cache_dir=tmp_path / "anon-cache")
    assert Path(path).read_bytes() == public.files["config.json"]
    assert stranger.api().model_info(public.repo).id == public.repo

    # A private model of another account answers as a missing one, with and without a key.
    for api in (private.api(token=False), stranger.api()):
        with pytest.raises(RepositoryNotFoundError):
            api.model_info(private.repo)
        with pytest.raises(RepositoryNotFoundError):
            api.hf_hub_download(private.repo, "config.json", cache_dir=tmp_path / "denied")
    with pytest.raises(RepositoryNotFoundError):
        private.api().model_info(f"{private.account}/no-such-model")

    api = private.api()
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download(private.repo, "missing.bin", cache_dir=tmp_path / "c1")
    with pytest.raises(RevisionNotFoundError):
        api.hf_hub_download(private.repo, "config.json", revision="no-such-branch", cache_dir=tmp_path / "c2")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(private.repo, revision="0" * 40)
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_tree(private.repo, revision="nope").__iter__().__next__()
    with pytest.raises(HfHubHTTPError) as bad_id:
        api.model_info(f"{private.account}/9-starts-with-a-digit")
    assert bad_id.value.response is not None and bad_id.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as bad_key:
        private.api(token="not-a-key").model_info(public.repo)
    assert not isinstance(bad_key.value, RepositoryNotFoundError)
    assert bad_key.value.response is not None and bad_key.value.response.status_code == 401


def test_hub_style_names_map_to_ids(files_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(files_server, tmp_path)
    # acct/Tiny_X.Y names the model tiny-x-y... only when it is that model's id: here the mapping of the
    # upper-case, dotted, underscored spelling of the model's own id.
    spelled = model.model_id.upper().replace("-", "_")
    info = model.api().model_info(f"{model.account.upper()}/{spelled}")
    assert info.id == model.repo
    whoami = model.api().whoami()
    assert whoami["name"] == model.account and whoami["auth"]["accessToken"]["role"] == "write"


def test_hostile_paths_get_hub_errors_not_500(file_storage_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(file_storage_server, tmp_path)
    auth = {"Authorization": f"Bearer {model.key}"}
    base = f"{model.endpoint}/{model.repo}"
    api = f"{model.endpoint}/api/models/{model.repo}"
    with httpx.Client(headers=auth, timeout=30) as http:
        for url in (
            f"{base}/resolve/ma%00in/config.json",
            f"{base}/resolve/main/config%00.json",
            f"{base}/resolve/main/%FF%FE",
            f"{api}/tree/main/%00",
            f"{api}/commits/ma%00in",
            f"{api}/revision/{'x' * 5000}",
        ):
            response = http.get(url)
            assert response.status_code in (400, 404), (url, response.status_code, response.text)
            assert "error" in response.json()
        listing = http.get(f"{model.endpoint}/api/models", params={"author": "a\x00b"})
        assert listing.status_code == 400 and "error" in listing.json()
        commits = http.get(f"{api}/commits/main", params={"cursor": "\x00"})
        assert commits.status_code == 400
