"""Tools on top of huggingface_hub against the Hub door, run as users run them (subprocesses with
``HF_ENDPOINT`` and ``HF_TOKEN``): transformers' ``AutoConfig``/``AutoTokenizer``, the ``hf`` CLI, the
calls vLLM's weight loader makes, and a tree long enough to be paged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx

from modelyard.store.revisions import MAIN
from tests.support.files import FilesServer
from tests.support.hub import hub_model, run_python, tiny_tokenizer


def test_transformers_loads_config_and_tokenizer(file_storage_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(file_storage_server, tmp_path)
    # transformers 5 takes a config's own tokenizer class (Qwen2's here): the word-level tokenizer made
    # for the test lives in a tokenizer-only repo of the same account.
    words = tiny_tokenizer(tmp_path / "tok")
    tok = hub_model(file_storage_server, tmp_path, files=words, kind="CUSTOM_MODEL")
    result = run_python(
        f"""
        import json
        from transformers import AutoConfig, AutoTokenizer
        config = AutoConfig.from_pretrained({model.repo!r})
        tokenizer = AutoTokenizer.from_pretrained({tok.repo!r}, token={tok.key!r})
        print(json.dumps({{"model_type": config.model_type, "hidden": config.hidden_size,
                           "ids": tokenizer("hello world")["input_ids"]}}))
        """,
        model.env(tmp_path / "hf-home"),
        tmp_path,
    )
    expected = json.loads(model.files["config.json"])
    assert result == {"model_type": "qwen2", "hidden": expected["hidden_size"], "ids": [2, 3]}


def test_public_model_with_transformers_and_no_token(
    file_storage_server: FilesServer, tmp_path: Path
) -> None:
    words = tiny_tokenizer(tmp_path / "tok")
    model = hub_model(file_storage_server, tmp_path, public=True, files=words, kind="CUSTOM_MODEL")
    result = run_python(
        f"""
        import json
        from transformers import AutoTokenizer
        print(json.dumps(AutoTokenizer.from_pretrained({model.repo!r}).tokenize("tiny model")))
        """,
        model.env(tmp_path / "anon-home", token=False),
        tmp_path,
    )
    assert result == ["tiny", "model"]


def test_the_hf_cli_downloads_and_says_who_is_logged_in(
    file_storage_server: FilesServer, tmp_path: Path
) -> None:
    model = hub_model(file_storage_server, tmp_path)
    env = model.env(tmp_path / "hf-home")
    hf = [sys.executable, "-m", "huggingface_hub.cli.hf"]
    target = tmp_path / "out"
    out = subprocess.run(
        [*hf, "download", model.repo, "--include", "*.json", "--exclude", "generation_config.json",
         "--local-dir", str(target)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = sorted(p.name for p in target.iterdir() if p.is_file())
    assert got == sorted(n for n in model.files if n.endswith(".json") and n != "generation_config.json")
    for name in got:
        assert (target / name).read_bytes() == model.files[name]
    # A second run finds everything in place and downloads nothing again.
    again = subprocess.run(
        [*hf, "download", model.repo, "--include", "*.json", "--local-dir", str(target)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    who = subprocess.run([*hf, "auth", "whoami"], env=env, capture_output=True, text=True, timeout=120)
    assert who.returncode == 0, who.stderr
    assert model.account in who.stdout


def test_the_calls_vllms_weight_loader_makes(files_server: FilesServer, tmp_path: Path) -> None:
    """``vllm/model_executor/model_loader/weight_utils.py``: ``HfFileSystem().ls`` to pick the weights
    format, ``snapshot_download`` with ``allow_patterns`` (weights; ``*.json`` for quantization configs)
    and ``hf_hub_download`` of ``model.safetensors.index.json``, whose absence (EntryNotFoundError) is
    normal for a single-file checkpoint. The README lists them."""
    model = hub_model(files_server, tmp_path)
    cache = tmp_path / "vllm-cache"
    result = run_python(
        f"""
        import fnmatch, hashlib, json, pathlib
        import huggingface_hub.constants
        from huggingface_hub import HfFileSystem, hf_hub_download, snapshot_download
        from huggingface_hub.utils import EntryNotFoundError
        repo, cache = {model.repo!r}, {str(cache)!r}
        listed = HfFileSystem().ls(repo, detail=False, revision=None)
        patterns = ["*.safetensors", "*.bin", "*.pt"]
        for pattern in patterns:
            if fnmatch.filter(listed, pattern):
                patterns = [pattern]
                break
        weights = snapshot_download(repo, allow_patterns=patterns, cache_dir=cache, revision=None,
                                    local_files_only=huggingface_hub.constants.HF_HUB_OFFLINE)
        configs = snapshot_download(repo, allow_patterns="*.json", cache_dir=cache, revision=None)
        try:
            hf_hub_download(repo_id=repo, filename="model.safetensors.index.json", cache_dir=cache)
            index = "found"
        except EntryNotFoundError:
            index = "missing"
        print(json.dumps({{
            "listed": sorted(listed), "patterns": patterns, "index": index,
            "weights": sorted(p.name for p in pathlib.Path(weights).iterdir()),
            "configs": sorted(p.name for p in pathlib.Path(configs).iterdir()),
            "tensor": hashlib.sha256(pathlib.Path(weights, "model.safetensors").read_bytes()).hexdigest(),
        }}))
        """,
        model.env(tmp_path / "hf-home"),
        tmp_path,
    )
    assert result["listed"] == sorted(f"{model.repo}/{name}" for name in model.files)
    assert result["patterns"] == ["*.safetensors"] and result["index"] == "missing"
    json_names = sorted(n for n in model.files if n.endswith(".json"))
    assert result["weights"] == sorted({"model.safetensors", *json_names})  # the json came meanwhile
    assert result["configs"] == result["weights"]
    assert result["tensor"] == hashlib.sha256(model.files["model.safetensors"]).hexdigest()


def test_a_long_tree_is_paged_with_link_headers(file_storage_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(file_storage_server, tmp_path)
    revs = file_storage_server.store.revisions
    head = revs.resolve(model.account, model.model_id, MAIN)
    blob = next(e for e in revs.tree(head.commit_id) if e.path == "config.json")
    extra = {f"shards/part-{i:04d}.json": (blob.sha256, blob.size) for i in range(1100)}
    revs.commit(model.account, model.model_id, changes=extra, author="accounts/x/users/y", message="many")
    first_page = httpx.get(
        f"{model.endpoint}/api/models/{model.repo}/tree/main",
        params={"recursive": "true"},
        headers={"Authorization": f"Bearer {model.key}"},
        timeout=30,
    )
    assert first_page.status_code == 200 and len(first_page.json()) == 1000
    assert 'rel="next"' in first_page.headers["link"]
    listed = [f.path for f in model.api().list_repo_tree(model.repo, recursive=True)]
    assert len(listed) == len(set(listed)) == len(model.files) + len(extra) + 1  # + the shards/ folder
    top = [f.path for f in model.api().list_repo_tree(model.repo)]
    assert sorted(top) == sorted([*model.files, "shards"])
    inside = list(model.api().list_repo_tree(model.repo, path_in_repo="shards"))
    assert len(inside) == 1100 and all(getattr(f, "size", 0) == blob.size for f in inside)


def test_paths_info_and_hf_file_system(file_storage_server: FilesServer, tmp_path: Path) -> None:
    model = hub_model(file_storage_server, tmp_path)
    revs = file_storage_server.store.revisions
    config = revs.entry(revs.resolve(model.account, model.model_id, MAIN).commit_id, "config.json")
    assert config is not None
    revs.commit(
        model.account, model.model_id, changes={"sub/dir/config.json": (config.sha256, config.size)},
        author="accounts/x/users/y", message="a folder",
    )  # fmt: skip
    infos = model.api().get_paths_info(model.repo, ["config.json", "sub", "sub/dir/config.json", "nope"])
    assert [(i.path, type(i).__name__) for i in infos] == [
        ("config.json", "RepoFile"), ("sub", "RepoFolder"), ("sub/dir/config.json", "RepoFile")
    ]  # fmt: skip
    result = run_python(
        f"""
        import json
        from huggingface_hub import HfFileSystem
        fs = HfFileSystem()
        repo = {model.repo!r}
        print(json.dumps({{
            "info": fs.info(repo + "/config.json")["size"],
            "dir": fs.isdir(repo + "/sub/dir"),
            "missing": fs.exists(repo + "/nope.json"),
            "read": fs.read_text(repo + "/sub/dir/config.json"),
            "glob": sorted(fs.glob(repo + "/**/*.json")),
        }}))
        """,
        model.env(tmp_path / "hf-home"),
        tmp_path,
    )
    assert result["info"] == config.size and result["dir"] is True and result["missing"] is False
    assert result["read"] == model.files["config.json"].decode()
    json_files = sorted([*(n for n in model.files if n.endswith(".json")), "sub/dir/config.json"])
    assert result["glob"] == [f"{model.repo}/{n}" for n in json_files]
