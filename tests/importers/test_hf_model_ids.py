"""The Hugging Face importer (modelyard.importers.huggingface): model ids derived from names, explicit
ids, names and provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.importers import huggingface as hf
from modelyard.importers.huggingface import (
    derive_model_id,
    human_count,
    inspect_checkpoint,
    is_valid_model_id,
)
from tests.support.hf_checks import details, inspect
from tests.support.hf_fixtures import (
    make_llama,
)

# --------------------------------------------------------------------------------------------------
# Model ids


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Qwen2.5-0.5B-Instruct", "qwen2-5-0-5b-instruct"),
        ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2-5-0-5b-instruct"),
        ("meta-llama/Llama-3.1-8B", "llama-3-1-8b"),
        ("Mixtral-8x7B-v0.1", "mixtral-8x7b-v0-1"),
        ("my_model  v2", "my-model-v2"),
        ("__Foo..Bar__", "foo-bar"),
        ("3b-chat", "m-3b-chat"),
        ("Café Modèle", "cafe-modele"),
        ("???", "model"),
        ("x" * 100, "x" * 63),
        ("a" * 62 + ".b", "a" * 62),
    ],
)
def test_derive_model_id(name: str, expected: str) -> None:
    assert derive_model_id(name) == expected
    assert is_valid_model_id(expected)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_derive_model_id_always_valid(name: str) -> None:
    model_id = derive_model_id(name)
    assert is_valid_model_id(model_id)
    assert len(model_id) <= 63


@pytest.mark.parametrize(
    ("model_id", "valid"),
    [
        ("a", True),
        ("a-1", True),
        ("1a", False),
        ("a-", False),
        ("A", False),
        ("a_b", False),
        ("a" * 64, False),
    ],
)
def test_is_valid_model_id(model_id: str, valid: bool) -> None:
    assert is_valid_model_id(model_id) is valid


# --------------------------------------------------------------------------------------------------
# Names, ids and provenance


def test_explicit_model_id(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "Llama")
    assert inspect(ckpt.path, model_id="my-llama").model_id == "my-llama"
    with pytest.raises(ValueError, match="invalid model id 'My_Llama'"):
        inspect_checkpoint(ckpt.path, model_id="My_Llama")


def test_long_directory_name(tmp_path: Path) -> None:
    name = "A-Very-Long-Model-Name-" + "x" * 60
    imported = inspect(make_llama(tmp_path / name).path)
    assert imported.resource["displayName"] == name[:63]
    assert imported.model_id == ("a-very-long-model-name-" + "x" * 60)[:63]
    assert imported.warnings == ["display name cut to 63 characters"]


def test_local_path_is_not_imported_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # importedFrom is the Hugging Face repo id when known; a local path (the importing machine's folders,
    # shown to every reader) is not recorded.
    make_llama(tmp_path / "rel-model")
    monkeypatch.chdir(tmp_path)
    imported = inspect(Path("rel-model"))
    assert "importedFrom" not in imported.resource
    assert imported.resource["displayName"] == "rel-model"
    assert "huggingFaceUrl" not in imported.resource


def test_hidden_files_not_listed(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "h")
    (ckpt.path / ".gitattributes").write_text("*.safetensors filter=lfs\n", encoding="utf-8")
    (ckpt.path / ".cache" / "huggingface").mkdir(parents=True)
    (ckpt.path / ".cache" / "huggingface" / "model.safetensors.metadata").write_text("x", encoding="utf-8")
    (ckpt.path / "original").mkdir()
    (ckpt.path / "original" / "params.json").write_text("{}", encoding="utf-8")
    assert details(inspect(ckpt.path))["huggingfaceFiles"] == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "original/params.json",
    ]


@pytest.mark.parametrize(
    ("path", "repo_id"),
    [
        ("/c/hub/models--Qwen--Qwen2.5-0.5B-Instruct/snapshots/abc", "Qwen/Qwen2.5-0.5B-Instruct"),
        ("/c/hub/models--gpt2/snapshots/abc", "gpt2"),
        ("/c/hub/models--org--name/snapshots/abc/sub/dir", "org/name"),
        ("/c/hub/models--org--name", "org/name"),
        ("/home/u/models--mine/checkpoint-100", None),
        ("/home/u/Llama-3.1-8B", None),
    ],
)
def test_repo_id_from_path(path: str, repo_id: str | None) -> None:
    assert hf.repo_id_from_path(Path(path)) == repo_id


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (7, "7"),
        (999, "999"),
        (6736, "6.74K"),
        (999_999, "1M"),
        (494_032_768, "494M"),
        (7_241_732_096, "7.24B"),
    ],
)
def test_human_count(n: int, text: str) -> None:
    assert human_count(n) == text
