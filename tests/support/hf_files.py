"""The building blocks of the tiny Hugging Face checkpoints in ``tests.support.hf_fixtures``: chat
templates, writers (JSON, safetensors), tensor shapes and configs of the llama-like architectures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

Shapes = dict[str, tuple[int, ...]]

# Tiny dimensions shared by the llama-like builders.
HIDDEN = 16
INTERMEDIATE = 32
VOCAB = 64
HEADS = 4
KV_HEADS = 2
HEAD_DIM = HIDDEN // HEADS  # 4, so k_proj / v_proj have KV_HEADS * HEAD_DIM = 8 outputs


@dataclass
class Checkpoint:
    path: Path
    parameter_count: int


# --------------------------------------------------------------------------------------------------
# Chat templates

#: Trimmed from Qwen2.5-Instruct: uses ``tools`` as a variable and ``message.tool_calls``.
TOOLS_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.' }}\n"
    "    {%- for tool in tools %}\n"
    '        {{- "\\n" }}\n'
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- '<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.role == 'assistant' and message.tool_calls %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {{- '\\n<tool_call>\\n' + tool_call.function.name + '\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

#: Plain ChatML: no tools.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)

#: Mentions tools only in literal text and a comment, never as a variable.
LITERAL_TOOLS_TEMPLATE = (
    "{# no tools here #}This assistant has no tools or tool_calls.\n"
    "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}"
)

#: Subscript access to ``message['tool_calls']`` (Mistral style).
SUBSCRIPT_TOOLS_TEMPLATE = (
    "{% for message in messages %}{% if message['tool_calls'] is defined %}[TOOL_CALLS]"
    "{% else %}{{ message['content'] }}{% endif %}{% endfor %}"
)

LLAVA_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' }}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>\\n' }}{% else %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def tokenizer_config(chat_template: Any = None, **extra: Any) -> dict[str, Any]:
    """A Qwen2-style tokenizer_config.json; ``chat_template`` omitted when None."""
    data: dict[str, Any] = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            "151643": {"content": "<|endoftext|>", "lstrip": False, "special": True},
            "151644": {"content": "<|im_start|>", "lstrip": False, "special": True},
            "151645": {"content": "<|im_end|>", "lstrip": False, "special": True},
        },
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    if chat_template is not None:
        data["chat_template"] = chat_template
    data.update(extra)
    return data


# --------------------------------------------------------------------------------------------------
# Writers


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def count(shapes: Shapes) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


def write_safetensors(path: Path, shapes: Shapes, dtype: Any = np.float16) -> int:
    """Write zero tensors of the given shapes; returns their total element count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.zeros(shape, dtype=dtype) for name, shape in shapes.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    return count(shapes)


def header_end(path: Path) -> int:
    """The byte offset where a safetensors file's tensor data starts."""
    with path.open("rb") as f:
        return 8 + int.from_bytes(f.read(8), "little")


def build_checkpoint(
    directory: Path,
    config: dict[str, Any],
    shapes: Shapes,
    *,
    tokenizer: dict[str, Any] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Checkpoint:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "config.json", config)
    write_json(
        directory / "generation_config.json", {"_from_model_config": True, "transformers_version": "4"}
    )
    n = write_safetensors(directory / "model.safetensors", shapes)
    if tokenizer is not None:
        write_json(directory / "tokenizer_config.json", tokenizer)
    for name, text in (extra_files or {}).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    return Checkpoint(directory, n)


# --------------------------------------------------------------------------------------------------
# Shapes


def attention_shapes(prefix: str, *, bias: bool = False) -> Shapes:
    kv = KV_HEADS * HEAD_DIM
    shapes: Shapes = {
        f"{prefix}.self_attn.q_proj.weight": (HIDDEN, HIDDEN),
        f"{prefix}.self_attn.k_proj.weight": (kv, HIDDEN),
        f"{prefix}.self_attn.v_proj.weight": (kv, HIDDEN),
        f"{prefix}.self_attn.o_proj.weight": (HIDDEN, HIDDEN),
        f"{prefix}.input_layernorm.weight": (HIDDEN,),
        f"{prefix}.post_attention_layernorm.weight": (HIDDEN,),
    }
    if bias:
        shapes[f"{prefix}.self_attn.q_proj.bias"] = (HIDDEN,)
        shapes[f"{prefix}.self_attn.k_proj.bias"] = (kv,)
        shapes[f"{prefix}.self_attn.v_proj.bias"] = (kv,)
    return shapes


def mlp_shapes(prefix: str, intermediate: int = INTERMEDIATE) -> Shapes:
    return {
        f"{prefix}.gate_proj.weight": (intermediate, HIDDEN),
        f"{prefix}.up_proj.weight": (intermediate, HIDDEN),
        f"{prefix}.down_proj.weight": (HIDDEN, intermediate),
    }


def llama_shapes(layers: int = 2, *, bias: bool = False, tied: bool = False) -> Shapes:
    """Per layer: q 256 + k 128 + v 128 + o 256 + norms 32 + gate/up/down 3 * 512 = 2336 (+32 with bias)."""
    shapes: Shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(layers):
        shapes |= attention_shapes(f"model.layers.{i}", bias=bias)
        shapes |= mlp_shapes(f"model.layers.{i}.mlp")
    shapes["model.norm.weight"] = (HIDDEN,)
    if not tied:
        shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return shapes


# --------------------------------------------------------------------------------------------------
# Configs


def llama_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 128000,
        "eos_token_id": 128001,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": 131072,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": HEADS,
        "num_hidden_layers": 2,
        "num_key_value_heads": KV_HEADS,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    config.update(overrides)
    return config


def qwen2_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": 32768,
        "max_window_layers": 21,
        "model_type": "qwen2",
        "num_attention_heads": HEADS,
        "num_hidden_layers": 2,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.1",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }
    config.update(overrides)
    return config


# --------------------------------------------------------------------------------------------------
