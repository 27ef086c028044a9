"""The Hugging Face importer (modelyard.importers.huggingface): PEFT adapters, paths that are not
checkpoints, the Hugging Face hub cache and find_checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelyard.importers.huggingface import (
    NotACheckpoint,
    find_checkpoints,
    inspect_checkpoint,
    scan_cache,
)
from tests.support.hf_checks import details, inspect
from tests.support.hf_files import (
    TOOLS_TEMPLATE,
    tokenizer_config,
    write_json,
)
from tests.support.hf_fixtures import (
    LLAMA_NEW_REV,
    LLAMA_OLD_REV,
    QWEN_REV,
    make_gpt2,
    make_hf_cache,
    make_llama,
    make_not_a_checkpoint,
    make_peft,
)

# --------------------------------------------------------------------------------------------------
# PEFT adapters


def test_peft_adapter_full_resource(tmp_path: Path) -> None:
    ckpt = make_peft(tmp_path / "llama-lora", tokenizer=tokenizer_config(TOOLS_TEMPLATE))
    imported = inspect(ckpt.path)
    assert imported.warnings == []
    assert imported.model_id == "llama-lora"
    assert imported.resource == {
        "displayName": "llama-lora",
        "description": "Hugging Face LoRA adapter (r=16) for meta-llama/Llama-3.1-8B-Instruct, "
        "targeting k_proj, o_proj, q_proj, v_proj.",
        "state": "READY",
        "kind": "HF_PEFT_ADDON",
        "peftDetails": {
            "baseModel": "meta-llama/Llama-3.1-8B-Instruct",
            "r": 16,
            "targetModules": ["k_proj", "o_proj", "q_proj", "v_proj"],
        },
        "conversationConfig": {"style": "jinja", "template": TOOLS_TEMPLATE},
        "supportsTools": True,
    }


@pytest.mark.parametrize("r", [2, 128])
def test_peft_rank_out_of_range_kept_with_warning(tmp_path: Path, r: int) -> None:
    imported = inspect(make_peft(tmp_path / "a", r=r).path)
    assert imported.resource["peftDetails"]["r"] == r
    assert imported.warnings == [f"LoRA rank r={r} is outside 4..64 (the API rejects it on create)"]


def test_peft_target_modules_string_is_one_element(tmp_path: Path) -> None:
    regex = r".*decoder.*(self_attn|mlp)\.(q_proj|v_proj)$"
    imported = inspect(make_peft(tmp_path / "a", target_modules=regex).path)
    assert imported.resource["peftDetails"]["targetModules"] == [regex]
    imported = inspect(make_peft(tmp_path / "b", target_modules="all-linear").path)
    assert imported.resource["peftDetails"]["targetModules"] == ["all-linear"]


def test_peft_missing_fields_warn(tmp_path: Path) -> None:
    ckpt = make_peft(
        tmp_path / "a", peft_type="IA3", r=None, target_modules=None, base_model_name_or_path=None
    )
    imported = inspect(ckpt.path)
    assert imported.resource["kind"] == "HF_PEFT_ADDON"
    assert "peftDetails" not in imported.resource
    assert imported.warnings == [
        "peft_type is IA3, not LORA",
        "adapter_config.json has no base_model_name_or_path",
        "adapter_config.json has no integer r",
        "adapter_config.json has no target_modules",
    ]


def test_adapter_config_next_to_full_weights_is_base_model(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "merged")
    write_json(ckpt.path / "adapter_config.json", {"base_model_name_or_path": "x", "r": 8})
    imported = inspect(ckpt.path)
    assert imported.resource["kind"] == "HF_BASE_MODEL"
    assert imported.warnings == ["adapter_config.json ignored: the directory holds full model weights"]


def test_adapter_with_base_config_json_is_adapter(tmp_path: Path) -> None:
    ckpt = make_peft(tmp_path / "a")
    write_json(ckpt.path / "config.json", {"model_type": "llama"})  # some trainers copy it
    imported = inspect(ckpt.path)
    assert imported.resource["kind"] == "HF_PEFT_ADDON"
    assert "baseModelDetails" not in imported.resource


# --------------------------------------------------------------------------------------------------
# Not a checkpoint


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = make_not_a_checkpoint(tmp_path / "notes")
    with pytest.raises(NotACheckpoint) as err:
        inspect_checkpoint(path)
    assert str(err.value) == f"{path}: no config.json or adapter_config.json found"
    assert err.value.path == path


def test_missing_path_and_file(tmp_path: Path) -> None:
    with pytest.raises(NotACheckpoint, match="no such directory"):
        inspect_checkpoint(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    with pytest.raises(NotACheckpoint, match="not a directory"):
        inspect_checkpoint(tmp_path / "file.txt")


@pytest.mark.parametrize("content", ["{broken", "[1, 2]"])
def test_unreadable_config_json(tmp_path: Path, content: str) -> None:
    ckpt = make_llama(tmp_path / "c")
    (ckpt.path / "config.json").write_text(content, encoding="utf-8")
    with pytest.raises(NotACheckpoint, match=r"config\.json is not"):
        inspect_checkpoint(ckpt.path)


# --------------------------------------------------------------------------------------------------
# The Hugging Face cache


def test_scan_cache(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    assert scan_cache(cache.hub) == [
        (
            "Qwen/Qwen2.5-0.5B-Instruct",
            cache.hub / "models--Qwen--Qwen2.5-0.5B-Instruct" / "snapshots" / QWEN_REV,
        ),
        (
            "meta-llama/Llama-3.2-1B",
            cache.hub / "models--meta-llama--Llama-3.2-1B" / "snapshots" / LLAMA_NEW_REV,
        ),
        ("my-org/llama-lora", cache.snapshots["my-org/llama-lora"]),
    ]


def test_scan_cache_most_recent_revision(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    old = cache.snapshots["meta-llama/Llama-3.2-1B@old"]
    assert old.name == LLAMA_OLD_REV
    for link in old.iterdir():
        os.utime(link.resolve(), (1_800_000_000.0, 1_800_000_000.0))
    assert dict(scan_cache(cache.hub))["meta-llama/Llama-3.2-1B"] == old


def test_scan_cache_missing_dir(tmp_path: Path) -> None:
    assert scan_cache(tmp_path / "no-cache") == []


def test_inspect_cache_snapshot(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    snapshot = cache.snapshots["Qwen/Qwen2.5-0.5B-Instruct"]
    assert (snapshot / "model.safetensors").is_symlink()
    imported = inspect(snapshot)
    r = imported.resource
    assert imported.model_id == "qwen2-5-0-5b-instruct"
    assert imported.source == snapshot
    assert r["displayName"] == "Qwen2.5-0.5B-Instruct"
    assert r["importedFrom"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert r["huggingFaceUrl"] == "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"
    assert r["description"].endswith(" Imported from Hugging Face Qwen/Qwen2.5-0.5B-Instruct.")
    assert details(imported)["parameterCount"] == str(cache.counts["Qwen/Qwen2.5-0.5B-Instruct"]) == "5776"
    assert r["supportsTools"] is True
    assert "model.safetensors" in details(imported)["huggingfaceFiles"]


def test_inspect_cache_repo_dir_uses_refs_main(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    repo_dir = cache.hub / "models--meta-llama--Llama-3.2-1B"
    imported = inspect(repo_dir)
    assert imported.source == cache.snapshots["meta-llama/Llama-3.2-1B"]
    assert imported.resource["contextLength"] == 131072  # the old revision had 8192
    assert imported.resource["importedFrom"] == "meta-llama/Llama-3.2-1B"
    assert imported.model_id == "llama-3-2-1b"


def test_inspect_cache_adapter(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    imported = inspect(cache.snapshots["my-org/llama-lora"])
    assert imported.resource["kind"] == "HF_PEFT_ADDON"
    assert imported.resource["huggingFaceUrl"] == "https://huggingface.co/my-org/llama-lora"
    assert imported.resource["importedFrom"] == "my-org/llama-lora"


def test_every_cached_repo_imports(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path)
    results = [inspect(path) for _, path in scan_cache(cache.hub)]
    assert [m.resource["importedFrom"] for m in results] == [
        "Qwen/Qwen2.5-0.5B-Instruct",
        "meta-llama/Llama-3.2-1B",
        "my-org/llama-lora",
    ]


# --------------------------------------------------------------------------------------------------
# find_checkpoints


def test_find_checkpoints(tmp_path: Path) -> None:
    cache = make_hf_cache(tmp_path / "cache")
    single = make_gpt2(tmp_path / "single").path
    parent = tmp_path / "models"
    a = make_llama(parent / "a").path
    b = make_peft(parent / "b").path
    make_not_a_checkpoint(parent / "c")
    junk = make_not_a_checkpoint(tmp_path / "junk")
    found = list(find_checkpoints([single, cache.hub, parent, junk, tmp_path / "missing"]))
    paths = [f for f in found if isinstance(f, Path)]
    errors = [f for f in found if isinstance(f, NotACheckpoint)]
    assert paths == [
        single,
        cache.snapshots["Qwen/Qwen2.5-0.5B-Instruct"],
        cache.snapshots["meta-llama/Llama-3.2-1B"],
        cache.snapshots["my-org/llama-lora"],
        a,
        b,
    ]
    assert [str(e) for e in errors] == [
        f"{junk}: no config.json or adapter_config.json found",
        f"{tmp_path / 'missing'}: no such directory",
    ]
