"""Issue 15 item 14: --version, shell completion, help text, model text shown as it is, the HF cache
named, importedFrom without local paths. Run as the installed command."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support import hf_fixtures as hf
from tests.support.accounts import Account
from tests.support.installed import one_error_line, run_modelyard
from tests.support.server import Server

COMMANDS = [
    "", "serve", "export", "login", "keys", "keys create", "import", "import jsonl", "import hf", "models",
    "models list", "models get", "models create", "models update", "models delete", "models config",
]  # fmt: skip


def test_version() -> None:
    result = run_modelyard("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"modelyard {version('modelyard')}\n"


def test_shell_completion() -> None:
    words = {"modelyard mo": ("1", "models"), "modelyard models l": ("2", "list")}
    for line, (cword, expected) in words.items():
        result = run_modelyard(_MODELYARD_COMPLETE="complete_bash", COMP_WORDS=line, COMP_CWORD=cword)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [expected]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain(command: str) -> None:
    result = run_modelyard(*command.split(), "--help", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float|list|Path|int range)", text), text  # no type tags
    assert "``" not in text, text  # no RST
    assert not re.search(r"\{[a-z_]+\}", text), text  # no {argument}
    assert "Usage: modelyard" in text


def test_help_shows_conventional_values() -> None:
    text = run_modelyard("models", "get", "--help", COLUMNS="200").stdout
    assert "Usage: modelyard models get [OPTIONS] MODEL" in text
    assert re.search(r"--output\s+-o\s+\[table\|json\]", text), text
    text = run_modelyard("import", "jsonl", "--help", COLUMNS="200").stdout
    assert re.search(r"--batch-size\s+INTEGER", text) and re.search(r"--db\s+TEXT", text), text
    assert "[PATHS]..." in run_modelyard("import", "hf", "--help", COLUMNS="200").stdout


def test_model_text_is_not_markup(server: Server, account: Account) -> None:
    name = "FLUX.1 [dev] FP8"
    r = account.client.post(
        account.url(), json={"modelId": "flux", "model": {"displayName": name, "kind": "FLUMINA_BASE_MODEL"}}
    )
    assert r.status_code == 200, r.text
    conn = ("--base-url", server.base_url, "--api-key", account.key, "-a", account.id)
    listed = run_modelyard("models", "list", *conn)
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout
    shown = run_modelyard("models", "get", "flux", *conn)
    assert shown.returncode == 0, shown.stderr
    assert name in shown.stdout


def test_scan_cache_names_the_empty_cache(tmp_path: Path) -> None:
    cache = tmp_path / "hf-hub"
    line = one_error_line(
        run_modelyard(
            "import", "hf", "--scan-cache", "-a", "acme", "--db", f"sqlite:///{tmp_path / 'h.db'}",
            HF_HUB_CACHE=str(cache), COLUMNS="80",
        ),
        2,
    )  # fmt: skip
    assert f"the Hugging Face cache {cache} holds no models" in line and "HF_HUB_CACHE" in line


def test_imported_from_is_the_repo_id_or_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hf.db'}"
    local = hf.make_qwen2(tmp_path / "Qwen2.5-Tiny-Instruct")
    cache = hf.make_hf_cache(tmp_path / "cache")
    for args in ((str(local.path),), ("--scan-cache",)):
        result = run_modelyard("import", "hf", *args, "-a", "acme", "--db", db, HF_HUB_CACHE=str(cache.hub))
        assert result.returncode == 0, result.stderr
    exported = run_modelyard("export", "-a", "acme", "--db", db)
    assert exported.returncode == 0, exported.stderr
    imported_from = {
        m["name"].rsplit("/", 1)[1]: m.get("importedFrom")
        for m in map(json.loads, exported.stdout.splitlines())
    }
    assert imported_from["qwen2-5-tiny-instruct"] is None
    assert sorted(v for v in imported_from.values() if v) == [
        "Qwen/Qwen2.5-0.5B-Instruct",
        "meta-llama/Llama-3.2-1B",
        "my-org/llama-lora",
    ]
    assert str(tmp_path) not in exported.stdout
