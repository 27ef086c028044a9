"""Tests for the Hugging Face checkpoint importer (modelyard.importers.huggingface)."""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.aip.schema import Kind, MessageDecl
from modelyard.importers import huggingface as hf
from modelyard.importers import safetensors
from modelyard.importers.huggingface import (
    ImportedModel,
    NotACheckpoint,
    context_length_of,
    derive_model_id,
    find_checkpoints,
    human_count,
    inspect_checkpoint,
    is_moe,
    is_valid_model_id,
    scan_cache,
    supports_image_input,
    template_uses_tools,
)
from modelyard.resources.model import MODEL

# The fixtures live next to this file; make them importable whether or not tests/ is a package and
# whichever way pytest was started.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_fixtures import (
    CHATML_TEMPLATE,
    LITERAL_TOOLS_TEMPLATE,
    LLAMA_NEW_REV,
    LLAMA_OLD_REV,
    LLAVA_TEMPLATE,
    QWEN_REV,
    SUBSCRIPT_TOOLS_TEMPLATE,
    TOOLS_TEMPLATE,
    header_end,
    make_deepseek_v3,
    make_gpt2,
    make_hf_cache,
    make_llama,
    make_llava,
    make_mixtral,
    make_not_a_checkpoint,
    make_peft,
    make_qwen2,
    make_qwen2_5_vl,
    make_sharded,
    tokenizer_config,
    write_json,
    write_safetensors,
)

# --------------------------------------------------------------------------------------------------
# Canonical proto3 JSON check


def assert_canonical(resource: dict[str, Any], message: MessageDecl = MODEL) -> None:
    """Every key is a declared JSON name in declaration order, no value is a proto3 default, int64 is a
    decimal string, enums are names."""
    order = [f.json_name for f in message.fields]
    assert list(resource) == sorted(resource, key=order.index), "keys not in declaration order"
    for key, value in resource.items():
        decl = message.field(key)
        assert decl is not None and decl.json_name == key, key
        if decl.repeated:
            assert isinstance(value, list) and value, key
            items = value
        else:
            items = [value]
        for item in items:
            kind = decl.kind
            if kind is Kind.STRING:
                assert isinstance(item, str) and item, key
            elif kind is Kind.INT64:
                assert isinstance(item, str) and item.isdigit() and item != "0", key
            elif kind is Kind.INT32:
                assert isinstance(item, int) and not isinstance(item, bool) and item != 0, key
            elif kind is Kind.BOOL:
                assert item is True, key
            elif kind is Kind.ENUM:
                assert decl.type.enum is not None
                assert item in decl.type.enum.values[1:], key
            elif kind is Kind.MESSAGE:
                assert decl.type.message is not None and isinstance(item, dict) and item, key
                assert_canonical(item, decl.type.message)
            else:  # pragma: no cover
                raise AssertionError(f"unexpected field kind for {key}")


def inspect(path: Path, **kwargs: Any) -> ImportedModel:
    imported = inspect_checkpoint(path, **kwargs)
    assert_canonical(imported.resource)
    for key in ("name", "createTime", "updateTime"):
        assert key not in imported.resource
    assert is_valid_model_id(imported.model_id)
    return imported


def details(imported: ImportedModel) -> dict[str, Any]:
    result: dict[str, Any] = imported.resource["baseModelDetails"]
    return result


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


# --------------------------------------------------------------------------------------------------
# config.json rules on plain dicts


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"max_position_embeddings": 4096, "n_positions": 1024}, 4096),
        ({"n_positions": 2048, "n_ctx": 1024}, 2048),
        ({"max_sequence_length": 2048}, 2048),
        ({"seq_length": 8192}, 8192),  # chatglm
        ({"n_ctx": 512}, 512),
        ({"max_seq_len": 4096}, 4096),  # mpt
        ({"text_config": {"max_position_embeddings": 131072}}, 131072),
        ({"llm_config": {"max_position_embeddings": 32768}}, 32768),
        ({"max_position_embeddings": 8192, "text_config": {"max_position_embeddings": 4096}}, 8192),
        ({"vision_config": {"max_position_embeddings": 577}}, None),
        ({"max_position_embeddings": None, "seq_length": 4096}, 4096),
        ({"max_position_embeddings": True}, None),
        ({"max_position_embeddings": 0}, None),
        ({"max_position_embeddings": "4096"}, None),
        ({}, None),
    ],
)
def test_context_length_of(config: dict[str, Any], expected: int | None) -> None:
    assert context_length_of(config) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"num_local_experts": 8}, True),
        ({"num_experts": 60}, True),  # qwen2_moe
        ({"n_routed_experts": 256}, True),
        ({"text_config": {"num_local_experts": 16}}, True),  # llama4
        ({"num_experts": 1}, False),
        ({"num_experts": None}, False),
        ({"num_experts": 0}, False),
        ({"num_experts_per_tok": 2}, False),
        ({}, False),
    ],
)
def test_is_moe(config: dict[str, Any], expected: bool) -> None:
    assert is_moe(config) is expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"vision_config": {"model_type": "siglip_vision_model"}}, True),
        ({"vision_tower": "openai/clip-vit-large-patch14-336"}, True),
        ({"mm_vision_tower": "openai/clip-vit-large-patch14"}, True),
        ({"image_token_index": 32000}, True),
        ({"vision_config": None}, False),
        ({"mm_vision_tower": ""}, False),
        ({"text_config": {"model_type": "llama"}}, False),
        ({}, False),
    ],
)
def test_supports_image_input(config: dict[str, Any], expected: bool) -> None:
    assert supports_image_input(config) is expected


def test_config_without_model_type_or_context(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "bare")
    write_json(ckpt.path / "config.json", {"architectures": ["FooForCausalLM"], "hidden_size": 16})
    imported = inspect(ckpt.path)
    assert imported.warnings == ["config.json has no model_type", "config.json declares no context length"]
    assert "modelType" not in details(imported)
    assert "contextLength" not in imported.resource
    assert imported.resource["description"] == "Hugging Face FooForCausalLM checkpoint, 6.74K parameters."


# --------------------------------------------------------------------------------------------------
# Chat templates


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (TOOLS_TEMPLATE, True),
        (SUBSCRIPT_TOOLS_TEMPLATE, True),
        ("{% if tools is not none %}x{% endif %}", True),
        ("{{ message.tool_call.name }}", True),
        (CHATML_TEMPLATE, False),
        (LITERAL_TOOLS_TEMPLATE, False),
        ("{% for t in my_tools %}{{ t }}{% endfor %}", False),
        ("{{ toolset }}", False),
    ],
)
def test_template_uses_tools(template: str, expected: bool) -> None:
    assert template_uses_tools(template) is expected


@pytest.mark.parametrize(
    ("chat_template", "expected"),
    [
        (
            [
                {"name": "tool_use", "template": TOOLS_TEMPLATE},
                {"name": "default", "template": CHATML_TEMPLATE},
            ],
            False,
        ),
        ([{"name": "rag", "template": TOOLS_TEMPLATE}, {"name": "other", "template": CHATML_TEMPLATE}], True),
    ],
)
def test_named_chat_templates(tmp_path: Path, chat_template: list[dict[str, str]], expected: bool) -> None:
    imported = inspect(make_qwen2(tmp_path / "named", chat_template=chat_template).path)
    default = CHATML_TEMPLATE if not expected else TOOLS_TEMPLATE
    assert imported.resource["conversationConfig"] == {"style": "jinja", "template": default}
    assert imported.resource.get("supportsTools", False) is expected


def test_chat_template_jinja_file_alone(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "j")
    (ckpt.path / "chat_template.jinja").write_text(TOOLS_TEMPLATE, encoding="utf-8")
    write_json(ckpt.path / "tokenizer_config.json", tokenizer_config())
    r = inspect(ckpt.path).resource
    assert r["conversationConfig"] == {"style": "jinja", "template": TOOLS_TEMPLATE}
    assert r["supportsTools"] is True


def test_bad_tokenizer_config_warns(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "tok")
    (ckpt.path / "tokenizer_config.json").write_text("{oops", encoding="utf-8")
    imported = inspect(ckpt.path)
    assert "conversationConfig" not in imported.resource
    assert len(imported.warnings) == 1
    assert imported.warnings[0].startswith(
        "ignoring tokenizer_config.json: tokenizer_config.json is not valid JSON"
    )


def test_null_chat_template_ignored(tmp_path: Path) -> None:
    ckpt = make_llama(tmp_path / "n")
    write_json(ckpt.path / "tokenizer_config.json", tokenizer_config() | {"chat_template": None})
    imported = inspect(ckpt.path)
    assert "conversationConfig" not in imported.resource
    assert imported.warnings == []


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
    # importedFrom is the Hugging Face repo id when known; a local path (which would leak the importing
    # machine's folders to every reader) is not recorded.
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
