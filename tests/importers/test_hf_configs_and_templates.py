"""The Hugging Face importer (modelyard.importers.huggingface): config.json rules on plain dicts and
chat templates (tool use, named templates, template files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelyard.importers.huggingface import (
    context_length_of,
    is_moe,
    supports_image_input,
    template_uses_tools,
)
from tests.support.hf_checks import details, inspect
from tests.support.hf_files import (
    CHATML_TEMPLATE,
    LITERAL_TOOLS_TEMPLATE,
    SUBSCRIPT_TOOLS_TEMPLATE,
    TOOLS_TEMPLATE,
    tokenizer_config,
    write_json,
)
from tests.support.hf_fixtures import (
    make_llama,
    make_qwen2,
)

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
