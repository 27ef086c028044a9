"""``modelyard import hf`` end to end: tiny real checkpoints in, models listed through the API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import hf_fixtures as hf
from tests.support.server import Server


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )


def test_import_hf_directories(server: Server, tmp_path: Path) -> None:
    account = server.new_account("hf")
    qwen = hf.make_qwen2(tmp_path / "Qwen2.5-Tiny-Instruct")
    mixtral = hf.make_mixtral(tmp_path / "Mixtral-Tiny")
    sharded = hf.make_sharded(tmp_path / "sharded-llama")
    adapter = hf.make_peft(tmp_path / "my-lora")
    junk = hf.make_not_a_checkpoint(tmp_path / "not-a-model")
    result = _cli(
        "import",
        "hf",
        str(qwen.path),
        str(mixtral.path),
        str(sharded.path),
        str(adapter.path),
        str(junk),
        "--account",
        account.id,
        "--db",
        server.db_url,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # two directories were skipped
    assert "not-a-model" in result.stderr
    said = " ".join(result.stderr.split())
    assert "3 imported, 2 skipped" in said
    # the adapter's base is a Hugging Face id no model was imported from (see test_newcomer_admin.py)
    assert "'meta-llama/Llama-3.1-8B-Instruct' is a Hugging Face id" in said

    models = {
        m["name"].rsplit("/", 1)[1]: m
        for m in account.client.get(account.url(), params={"pageSize": 50}).json()["models"]
    }
    assert len(models) == 3
    q = models["qwen2-5-tiny-instruct"]
    assert q["state"] == "READY" and q["kind"] == "HF_BASE_MODEL"
    assert q["baseModelDetails"]["parameterCount"] == str(qwen.parameter_count)
    assert q["baseModelDetails"]["checkpointFormat"] == "HUGGINGFACE"
    assert q["baseModelDetails"]["modelType"] == "qwen2"
    assert q["conversationConfig"]["style"] == "jinja"
    assert q["supportsTools"] is True
    assert models["mixtral-tiny"]["baseModelDetails"]["moe"] is True
    assert models["sharded-llama"]["baseModelDetails"]["parameterCount"] == str(sharded.parameter_count)
    assert "my-lora" not in models

    filtered = account.client.get(account.url(), params={"filter": "base_model_details.moe"}).json()
    assert [m["name"].rsplit("/", 1)[1] for m in filtered["models"]] == ["mixtral-tiny"]


def test_import_hf_scan_cache(server: Server, tmp_path: Path) -> None:
    account = server.new_account("hfcache")
    cache = hf.make_hf_cache(tmp_path / "cache")
    result = _cli(
        "import",
        "hf",
        "--scan-cache",
        "--account",
        account.id,
        "--db",
        server.db_url,
        env={"HF_HUB_CACHE": str(cache.hub), "HF_HOME": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(m["name"].rsplit("/", 1)[1] for m in account.client.get(account.url()).json()["models"])
    assert len(names) == 3, names
