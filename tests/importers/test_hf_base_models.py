"""The Hugging Face importer (modelyard.importers.huggingface): base-model checkpoints of each
architecture, sharded checkpoints and safetensors headers (read, never the tensor data)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from modelyard.importers import huggingface as hf
from modelyard.importers import safetensors
from tests.support.hf_checks import details, inspect
from tests.support.hf_files import (
    CHATML_TEMPLATE,
    LLAVA_TEMPLATE,
    TOOLS_TEMPLATE,
    header_end,
    write_json,
    write_safetensors,
)
from tests.support.hf_fixtures import (
    make_deepseek_v3,
    make_gpt2,
    make_llama,
    make_llava,
    make_mixtral,
    make_qwen2,
    make_qwen2_5_vl,
    make_sharded,
)

# --------------------------------------------------------------------------------------------------
# Base models


def test_llama_full_resource(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "Llama-3.1-8B")
    assert ckpt.parameter_count == 6736  # 1024 + 2 * 2336 + 16 + 1024
    imported = inspect(ckpt.path)
    assert imported.model_id == "llama-3-1-8b"
    assert imported.source == ckpt.path
    assert imported.warnings == []
    assert imported.resource == {
        "displayName": "Llama-3.1-8B",
        "description": "Hugging Face LlamaForCausalLM checkpoint (model type llama), 6.74K parameters, "
        "131072-token context.",
        "state": "READY",
        "kind": "HF_BASE_MODEL",
        "baseModelDetails": {
            "checkpointFormat": "HUGGINGFACE",
            "huggingfaceFiles": ["config.json", "generation_config.json", "model.safetensors"],
            "parameterCount": "6736",
            "modelType": "llama",
        },
        "contextLength": 131072,
    }
    # Canonical JSON round-trips unchanged.
    assert json.loads(json.dumps(imported.resource)) == imported.resource


def test_qwen2_tool_template(tmp_path: Path) -> None:
    ckpt = make_qwen2(tmp_path / "Qwen2.5-0.5B-Instruct")
    imported = inspect(ckpt.path)
    r = imported.resource
    assert imported.model_id == "qwen2-5-0-5b-instruct"
    assert details(imported)["parameterCount"] == "5776"  # 1024 + 2 * 2368 + 16 (tied, qkv bias)
    assert details(imported)["modelType"] == "qwen2"
    assert "moe" not in details(imported)
    assert details(imported)["huggingfaceFiles"] == [
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.json",
    ]
    assert r["contextLength"] == 32768
    assert r["conversationConfig"] == {"style": "jinja", "template": TOOLS_TEMPLATE}
    assert r["supportsTools"] is True
    assert "supportsImageInput" not in r


def test_template_without_tools(tmp_path: Path) -> None:
    imported = inspect(make_qwen2(tmp_path / "q", chat_template=CHATML_TEMPLATE).path)
    assert imported.resource["conversationConfig"] == {"style": "jinja", "template": CHATML_TEMPLATE}
    assert "supportsTools" not in imported.resource


def test_mixtral_moe(tmp_path: Path) -> None:
    imported = inspect(make_mixtral(tmp_path / "Mixtral-8x7B-v0.1").path)
    assert imported.model_id == "mixtral-8x7b-v0-1"
    assert details(imported)["moe"] is True
    assert details(imported)["parameterCount"] == "15280"  # 1024 + (768 + 128 + 8*1536 + 32) + 16 + 1024
    assert details(imported)["modelType"] == "mixtral"
    assert imported.resource["contextLength"] == 32768
    assert "mixture of experts" in imported.resource["description"]
    assert imported.warnings == []


def test_deepseek_v3_routed_experts_and_quantization_warning(tmp_path: Path) -> None:
    imported = inspect(make_deepseek_v3(tmp_path / "DeepSeek-V3").path)
    assert details(imported)["moe"] is True
    assert details(imported)["modelType"] == "deepseek_v3"
    assert details(imported)["parameterCount"] == "5120"
    assert "modeling_deepseek.py" in details(imported)["huggingfaceFiles"]
    assert imported.resource["contextLength"] == 163840
    assert len(imported.warnings) == 1
    assert "quantized (fp8)" in imported.warnings[0]


def test_llava_text_config_and_chat_template_json(tmp_path: Path) -> None:
    imported = inspect(make_llava(tmp_path / "llava-1.5-7b-hf").path)
    r = imported.resource
    assert r["supportsImageInput"] is True
    assert r["contextLength"] == 4096  # only in text_config
    assert details(imported)["modelType"] == "llava"
    assert details(imported)["parameterCount"] == "2496"  # 192 + 256 + 1024 + 1024
    assert "moe" not in details(imported)
    # tokenizer_config.json has no template: the processor's chat_template.json supplies it.
    assert r["conversationConfig"] == {"style": "jinja", "template": LLAVA_TEMPLATE}
    assert "supportsTools" not in r
    assert r["description"] == (
        "Hugging Face LlavaForConditionalGeneration checkpoint (model type llava), 2.5K parameters, "
        "image input, 4096-token context."
    )


def test_qwen2_5_vl_chat_template_jinja_wins(tmp_path: Path) -> None:
    imported = inspect(make_qwen2_5_vl(tmp_path / "Qwen2.5-VL-7B-Instruct").path)
    r = imported.resource
    assert r["supportsImageInput"] is True
    assert r["contextLength"] == 128000
    assert details(imported)["parameterCount"] == "2432"  # 384 + 1024 + 1024
    assert r["conversationConfig"] == {"style": "jinja", "template": CHATML_TEMPLATE}
    assert "supportsTools" not in r  # the tool template in tokenizer_config.json is not used


def test_gpt2_n_positions(tmp_path: Path) -> None:
    imported = inspect(make_gpt2(tmp_path / "gpt2").path)
    r = imported.resource
    assert r["contextLength"] == 1024
    assert details(imported)["parameterCount"] == "9592"  # 512 + 8192 + 872 + 16
    assert details(imported)["modelType"] == "gpt2"
    assert "conversationConfig" not in r
    assert "supportsImageInput" not in r


def test_sharded_checkpoint_uses_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = make_sharded(tmp_path / "Mistral-Sharded")
    assert ckpt.parameter_count == 6736
    reads: list[str] = []
    real = hf.read_safetensors_header

    def spy(path: Path) -> dict[str, Any]:
        reads.append(path.name)
        return real(path)

    monkeypatch.setattr(safetensors, "read_safetensors_header", spy)  # where the importer reads headers
    imported = inspect(ckpt.path)
    # consolidated.safetensors (1000 elements) is not in the index and is not counted.
    assert details(imported)["parameterCount"] == "6736"
    assert sorted(reads) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert details(imported)["huggingfaceFiles"] == [
        "config.json",
        "consolidated.safetensors",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "params.json",
    ]
    assert imported.warnings == []


def test_sharded_missing_shard(tmp_path: Path) -> None:
    ckpt = make_sharded(tmp_path / "s")
    (ckpt.path / "model-00002-of-00002.safetensors").unlink()
    imported = inspect(ckpt.path)
    assert "parameterCount" not in details(imported)
    assert imported.warnings == [
        "shard model-00002-of-00002.safetensors listed in model.safetensors.index.json is missing"
    ]


def test_sharded_bad_index(tmp_path: Path) -> None:
    ckpt = make_sharded(tmp_path / "s")
    (ckpt.path / "model.safetensors.index.json").write_text("{not json", encoding="utf-8")
    imported = inspect(ckpt.path)
    assert "parameterCount" not in details(imported)
    assert len(imported.warnings) == 1 and "not valid JSON" in imported.warnings[0]


def test_sharded_index_outside_paths_rejected(tmp_path: Path) -> None:
    ckpt = make_sharded(tmp_path / "s")
    write_json(ckpt.path / "model.safetensors.index.json", {"weight_map": {"a": "../evil.safetensors"}})
    imported = inspect(ckpt.path)
    assert "parameterCount" not in details(imported)
    assert "outside the checkpoint" in imported.warnings[0]


def test_multiple_unindexed_safetensors_are_summed(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "m")
    (ckpt.path / "model.safetensors").unlink()
    write_safetensors(ckpt.path / "part-a.safetensors", {"a": (3, 5)})
    write_safetensors(ckpt.path / "part-b.safetensors", {"b": (7,), "scalar": ()})
    assert details(inspect(ckpt.path))["parameterCount"] == "23"  # 15 + 7 + 1


# --------------------------------------------------------------------------------------------------
# Safetensors headers: never the data


def test_tensor_data_is_never_read_truncated(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "t")
    weights = ckpt.path / "model.safetensors"
    end = header_end(weights)
    assert weights.stat().st_size > end
    with weights.open("r+b") as f:
        f.truncate(end)
    imported = inspect(ckpt.path)
    assert details(imported)["parameterCount"] == "6736"
    assert imported.warnings == []


def test_tensor_data_is_never_read_garbage_and_sparse(tmp_path: Path) -> None:
    ckpt = make_sharded(tmp_path / "g")
    for shard in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        path = ckpt.path / shard
        end = header_end(path)
        with path.open("r+b") as f:
            f.seek(end)
            f.write(b"\xff\x00garbage" * 64)
            f.truncate(2 * 1024**3)  # sparse: 2 GiB of "data" that must not be read
    imported = inspect(ckpt.path)
    assert details(imported)["parameterCount"] == "6736"


def _write_raw(path: Path, header: bytes, length: int | None = None) -> None:
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: _write_raw(p, b"", length=200 * 1024 * 1024), "implausible header length 209715200"),
        (lambda p: _write_raw(p, b"", length=0), "implausible header length 0"),
        (lambda p: p.write_bytes(b"\x01\x02"), "shorter than the 8-byte header length"),
        (lambda p: _write_raw(p, b'{"a": {"dtype": "F16", "shape": [2]}}', length=1000), "header truncated"),
        (lambda p: _write_raw(p, b"{not json}"), "header is not valid JSON"),
        (lambda p: _write_raw(p, b"\xff\xfe{}"), "header is not valid JSON"),
        (lambda p: _write_raw(p, b"[1, 2]"), "header is not a JSON object"),
        (lambda p: _write_raw(p, b'{"w": {"dtype": "F16", "shape": [2, -1]}}'), "has no valid shape"),
        (lambda p: _write_raw(p, b'{"w": {"dtype": "F16", "shape": "2x2"}}'), "has no valid shape"),
        (lambda p: _write_raw(p, b'{"w": {"dtype": "F16"}}'), "has no valid shape"),
    ],
)
def test_malformed_headers_warn(tmp_path: Path, setup: Any, message: str) -> None:
    ckpt = make_llama(tmp_path / "bad")
    setup(ckpt.path / "model.safetensors")
    imported = inspect(ckpt.path)
    assert imported.resource["kind"] == "HF_BASE_MODEL"
    assert "parameterCount" not in details(imported)
    assert "parameter count unknown" in imported.resource["description"]
    assert len(imported.warnings) == 1
    assert message in imported.warnings[0]
    assert imported.warnings[0].endswith("parameter count omitted")


def test_metadata_entry_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    header = {
        "__metadata__": {"format": "pt", "shape": [1000]},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "BF16", "shape": [], "data_offsets": [24, 26]},
    }
    _write_raw(path, json.dumps(header).encode() + b"   ")  # header padding is whitespace
    assert hf.count_safetensors_parameters([path, path]) == 7  # each file read once


def test_no_safetensors_weights(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "bin-only")
    (ckpt.path / "model.safetensors").unlink()
    (ckpt.path / "pytorch_model.bin").write_bytes(b"\x80\x02not-a-real-pickle")
    imported = inspect(ckpt.path)
    assert "parameterCount" not in details(imported)
    assert imported.warnings == ["no *.safetensors weights found; parameter count omitted"]
    assert details(imported)["huggingfaceFiles"] == [
        "config.json",
        "generation_config.json",
        "pytorch_model.bin",
    ]
