"""Issue 25, newcomer items 1, 2 and 6, through the real CLI and a real server: admin commands name the
database they wrote to and the demo prints the ``--db`` to use; ``import hf`` of a LoRA resolves its
Hugging Face base model to the registry model imported from it, or skips it saying what to do;
``models create/update --base-model ID`` expand a bare id; a second ``import`` of the same file counts
the models already there apart and exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import hf_fixtures as hf
from tests.support.client_cli import CONNECTION_VARS
from tests.support.installed import banner_value, run_modelyard, start_demo
from tests.support.server import Server

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in CONNECTION_VARS}
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**base, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )


def test_demo_prints_the_db_for_admin_commands_and_keys_create_names_it(tmp_path: Path) -> None:
    proc, banner = start_demo(TMPDIR=str(tmp_path))
    try:
        base = banner_value(banner, "modelyard listening on")
        db = banner_value(banner, "Admin commands (keys, import, export) need --db")
        assert db.startswith("sqlite:///") and db.endswith("/demo.db")
        made = run_modelyard("keys", "create", "--account", "team", "--db", db)
        assert made.returncode == 0, made.stderr
        assert f"in the database {db}" in " ".join(made.stderr.split())
        key = made.stdout.strip().splitlines()[-1]
        seen = httpx.get(f"{base}/v1/accounts/team/models", headers={"Authorization": f"Bearer {key}"})
        assert seen.status_code == 200  # the key is where the demo server looks

        elsewhere = run_modelyard(
            "keys", "create", "--account", "team", "--db", f"sqlite:///{tmp_path / 'other.db'}"
        )
        assert elsewhere.returncode == 0, elsewhere.stderr
        said = " ".join(elsewhere.stderr.split())
        assert f"in the database sqlite:///{tmp_path / 'other.db'}" in said and "does not know it" in said
    finally:
        proc.terminate()
        proc.communicate(timeout=120)


@sqlite_only
def test_a_second_import_counts_existing_models_apart_and_succeeds(server: Server, tmp_path: Path) -> None:
    account = server.new_account("again")
    lines = [json.dumps({"modelId": f"m-{i}", "kind": "EMBEDDING_MODEL"}) for i in range(5)]
    path = tmp_path / "five.jsonl"
    path.write_text("\n".join(lines) + "\n")
    first = _cli("import", "jsonl", str(path), "--account", account.id, "--db", server.db_url)
    assert first.returncode == 0, first.stderr
    again = _cli("import", "jsonl", str(path), "--account", account.id, "--db", server.db_url)
    said = " ".join(again.stderr.split())
    assert again.returncode == 0, said
    assert "5 already there, 0 lines rejected" in said and "(database sqlite:///" in said
    path.write_text("\n".join([*lines, "{not json"]) + "\n")
    broken = _cli("import", "jsonl", str(path), "--account", account.id, "--db", server.db_url)
    assert broken.returncode == 1 and "5 already there, 1 lines rejected" in " ".join(broken.stderr.split())


@sqlite_only
def test_import_hf_resolves_or_drops_the_adapters_hugging_face_base(server: Server, tmp_path: Path) -> None:
    account = server.new_account("lora")
    hub = tmp_path / "cache" / "hub"
    qwen = hf.make_qwen2(tmp_path / "staging" / "qwen")
    hf.add_cache_revision(hub, "Qwen/Qwen2.5-0.5B-Instruct", hf.QWEN_REV, qwen.path, mtime=1.7e9)
    hf.set_ref(hub, "Qwen/Qwen2.5-0.5B-Instruct", "main", hf.QWEN_REV)
    adapter = hf.make_peft(tmp_path / "staging" / "a", base_model_name_or_path="Qwen/Qwen2.5-0.5B-Instruct")
    hf.add_cache_revision(hub, "my-org/qwen-lora", hf.ADAPTER_REV, adapter.path, mtime=1.7e9)
    hf.set_ref(hub, "my-org/qwen-lora", "main", hf.ADAPTER_REV)
    orphan = hf.make_peft(tmp_path / "orphan-lora")  # its base (a Llama) was never imported

    result = _cli(
        "import", "hf", "--scan-cache", str(orphan.path), "--account", account.id, "--db", server.db_url,
        env={"HF_HUB_CACHE": str(hub), "HF_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said  # the orphan is skipped, saying why and what to do
    assert "'meta-llama/Llama-3.1-8B-Instruct' is a Hugging Face id, and no model of account" in said
    assert "2 imported, 1 skipped" in said
    models = {
        m["name"].rsplit("/", 1)[1]: m
        for m in account.client.get(account.url(), params={"pageSize": 50}).json()["models"]
    }
    base = next(m for m in models.values() if m["kind"] == "HF_BASE_MODEL")
    lora = next(m for m in models.values() if m.get("importedFrom") == "my-org/qwen-lora")
    assert lora["peftDetails"]["baseModel"] == base["name"]
    assert "orphan-lora" not in models and len(models) == 2


@sqlite_only
def test_models_create_and_update_expand_a_bare_base_model_id(server: Server, tmp_path: Path) -> None:
    account = server.new_account("bare")
    env = {
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": account.key,
        "MODELYARD_ACCOUNT": account.id,
        "MODELYARD_CONFIG": str(tmp_path / "profiles.toml"),
    }
    assert _cli("models", "create", "my-qwen", env=env).returncode == 0
    assert _cli("models", "create", "other-base", env=env).returncode == 0
    lora = ("--lora-rank", "8", "--target-modules", "q_proj")
    made = _cli("models", "create", "lora", "--base-model", "my-qwen", *lora, "-o", "json", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["peftDetails"]["baseModel"] == f"accounts/{account.id}/models/my-qwen"
    moved = _cli("models", "update", "lora", "--base-model", "other-base", "-o", "json", env=env)
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["peftDetails"]["baseModel"] == f"accounts/{account.id}/models/other-base"


@sqlite_only
def test_a_moved_catalog_says_what_moved_and_how_to_move_the_rest(server: Server, tmp_path: Path) -> None:
    source = server.new_account("from")
    line = json.dumps({"modelId": "moved", "kind": "HF_BASE_MODEL", "state": "READY", "baseModelDetails": {}})
    (tmp_path / "one.jsonl").write_text(line + "\n")
    assert (
        _cli(
            "import", "jsonl", str(tmp_path / "one.jsonl"), "-a", source.id, "--db", server.db_url
        ).returncode
        == 0
    )
    exported = _cli("export", "-a", source.id, "--db", server.db_url, "-o", str(tmp_path / "out.jsonl"))
    assert exported.returncode == 0, exported.stderr
    assert "descriptions only, not their files" in " ".join(exported.stderr.split())
    env = {
        "MODELYARD_BASE_URL": server.base_url,
        "MODELYARD_API_KEY": source.key,
        "MODELYARD_ACCOUNT": source.id,
        "MODELYARD_CONFIG": str(tmp_path / "profiles.toml"),
    }
    download = _cli("models", "download", "moved", str(tmp_path / "dl"), env=env)
    assert download.returncode == 1
    said = download.stderr.strip()
    assert "holds the model's description only" in said and "Moving a catalog" in said
    assert "run the same command again" not in said  # nothing to resume
