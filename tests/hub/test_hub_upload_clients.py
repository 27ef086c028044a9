"""Whole client processes pushing through the Hub door (their environment is read at import, as a user's
is): a push without ``HF_HUB_DISABLE_XET`` told what to do, a push killed between its LFS uploads and its
commit (nothing half-committed), and transformers' ``push_to_hub`` of a config and a tokenizer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.store.files import FileStore
from tests.support.hf_fixtures import make_qwen2
from tests.support.hub_upload import HubServer, Team, run_client, serving


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``HF_HUB_DISABLE_XET=1`` does for the in-process client (read once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)


@pytest.fixture(scope="module")
def hub(tmp_root: Path) -> Iterator[HubServer]:
    with serving(f"sqlite:///{tmp_root / 'hub-clients.db'}", "file", tmp_root) as srv:
        yield srv


@pytest.fixture()
def team(hub: HubServer) -> Team:
    return hub.team()


def _env(hub: HubServer, key: str, **more: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": key, **more}


def test_without_hf_hub_disable_xet_the_user_is_told_to_set_it(hub: HubServer, team: Team) -> None:
    repo = team.repo()
    result = run_client(
        f"""
        import os
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({repo!r})
        api.upload_file(path_or_fileobj=os.urandom(3000), path_in_repo="weights.bin", repo_id={repo!r})
        """,
        _env(hub, team.keys["admin"]),
    )
    assert result.returncode != 0
    # The warning before the upload and the URL of the failed Xet token request both say it.
    assert result.stderr.count("HF_HUB_DISABLE_XET=1") >= 2, result.stderr
    account, name = repo.split("/")
    assert [r.message for r in hub.store.revisions.log(account, name, "main")] == ["initial commit"]
    # The same push with the variable set goes through.
    again = run_client(
        f"""
        import os
        from huggingface_hub import HfApi
        HfApi().upload_file(path_or_fileobj=os.urandom(3000), path_in_repo="weights.bin", repo_id={repo!r})
        """,
        _env(hub, team.keys["admin"], HF_HUB_DISABLE_XET="1"),
    )
    assert again.returncode == 0, again.stderr
    assert len(hub.store.revisions.log(account, name, "main")) == 2


def test_a_push_killed_between_upload_and_commit_commits_nothing(
    hub: HubServer, team: Team, tmp_path: Path
) -> None:
    repo = team.repo()
    account, name = repo.split("/")
    api = team.api()
    api.create_repo(repo)
    folder = make_qwen2(tmp_path / "ckpt").path
    api.upload_folder(repo_id=repo, folder_path=folder, commit_message="v1")
    log_before = [r.commit_id for r in hub.store.revisions.log(account, name, "main")]
    model_before = hub.store.get_model(f"accounts/{account}/models/{name}")
    weights = os.urandom(200_000)
    (folder / "more.bin").write_bytes(weights)
    result = run_client(
        f"""
        import os, signal
        import huggingface_hub._commit_api as commit_api
        from huggingface_hub import HfApi

        def die(**kwargs):  # the LFS uploads are done; the process dies before it commits
            os.kill(os.getpid(), signal.SIGKILL)

        commit_api._send_commit = die
        HfApi().upload_folder(repo_id={repo!r}, folder_path={str(folder)!r}, commit_message="v2")
        """,
        _env(hub, team.keys["admin"], HF_HUB_DISABLE_XET="1"),
    )
    assert result.returncode == -9, result.stderr
    # The bytes arrived (verified) but no revision names them: main, the log and the model are unchanged.
    assert FileStore(hub.store.engine).blob_size(hashlib.sha256(weights).hexdigest()) == len(weights)
    assert [r.commit_id for r in hub.store.revisions.log(account, name, "main")] == log_before
    assert "more.bin" not in {e.path for e in hub.store.revisions.tree(log_before[0])}
    assert hub.store.get_model(f"accounts/{account}/models/{name}") == model_before


TOKENIZER_SCRIPT = """
import json, os, sys, tempfile
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerFast, Qwen2Config

repo = sys.argv[1] if len(sys.argv) > 1 else {repo!r}
vocab = {{"[UNK]": 0, "[PAD]": 1, "hello": 2, "modelyard": 3, "world": 4}}
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
config = Qwen2Config(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=1, vocab_size=5, max_position_embeddings=64)
config.push_to_hub(repo, commit_message="config")
tokenizer.push_to_hub(repo, commit_message="tokenizer")
print(json.dumps({{"ids": tokenizer("hello modelyard world")["input_ids"]}}))
"""


def test_transformers_push_to_hub_of_a_config_and_a_tokenizer(hub: HubServer, team: Team) -> None:
    repo = team.repo()
    team.api().create_repo(repo)
    result = run_client(
        TOKENIZER_SCRIPT.format(repo=repo), _env(hub, team.keys["user"], HF_HUB_DISABLE_XET="1")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    account, name = repo.split("/")
    log = hub.store.revisions.log(account, name, "main")
    assert [r.message.split("\n")[0] for r in log] == ["tokenizer", "config", "initial commit"]
    assert all(r.author == f"accounts/{account}/users/user" for r in log[:2])
    files = {e.path for e in hub.store.revisions.tree(log[0].commit_id)}
    assert {"config.json", "tokenizer.json", "tokenizer_config.json"} <= files
    # No weights yet: the model waits for them (and says so).
    found = hub.store.get_model(f"accounts/{account}/models/{name}")
    assert found is not None and found[0]["state"] == "UPLOADING"
    # transformers reads them back through the download side of the door.
    check = run_client(
        f"""
        import json
        from transformers import AutoConfig, PreTrainedTokenizerFast
        config = AutoConfig.from_pretrained({repo!r})
        # (AutoTokenizer would pick the qwen2 tokenizer class from config.json and ignore tokenizer.json)
        tokenizer = PreTrainedTokenizerFast.from_pretrained({repo!r})
        assert config.hidden_size == 16 and config.model_type == "qwen2", config
        print(json.dumps({{"ids": tokenizer("hello modelyard world")["input_ids"]}}))
        """,
        _env(hub, team.keys["inference-user"], HF_HOME=str(Path(hub.root) / "hf-home")),
    )
    assert check.returncode == 0, check.stderr[-3000:]
    pushed, pulled = json.loads(result.stdout.splitlines()[-1]), json.loads(check.stdout.splitlines()[-1])
    assert pulled == pushed, (pulled, pushed)


def test_hf_upload_command(hub: HubServer, team: Team, tmp_path: Path) -> None:
    repo = team.repo()
    folder = make_qwen2(tmp_path / "ckpt").path
    hf = str(Path(sys.executable).with_name("hf"))
    result = subprocess.run(
        [hf, "upload", repo, str(folder), ".", "--private", "--commit-message", "from the hf command"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
             **_env(hub, team.keys["user"], HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_PROGRESS_BARS="1")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    account, name = repo.split("/")
    head = hub.store.revisions.resolve(account, name, "main")
    assert head.message == "from the hf command"
    files = {e.path: e.sha256 for e in hub.store.revisions.tree(head.commit_id)}
    local = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    assert files == {path: hashlib.sha256(p.read_bytes()).hexdigest() for path, p in local.items()}
    found = hub.store.get_model(f"accounts/{account}/models/{name}")
    assert found is not None and found[0]["state"] == "READY" and not found[0].get("public", False)
