"""Tiny but real Hugging Face checkpoints, built on the fly for the importer tests (their building blocks
are in ``tests.support.hf_files``), and a fake Hugging Face hub cache.

Weights are written with ``safetensors.numpy.save_file`` (small zero arrays); configs carry the keys
the real architectures use. Every builder returns a :class:`Checkpoint` with the parameter count of
the shapes it wrote, so tests can compare it with literal values computed by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.hf_files import (
    CHATML_TEMPLATE,
    HEAD_DIM,
    HEADS,
    HIDDEN,
    INTERMEDIATE,
    KV_HEADS,
    LLAVA_TEMPLATE,
    TOOLS_TEMPLATE,
    VOCAB,
    Checkpoint,
    Shapes,
    attention_shapes,
    build_checkpoint,
    llama_config,
    llama_shapes,
    mlp_shapes,
    qwen2_config,
    tokenizer_config,
    write_json,
    write_safetensors,
)

# Architectures


def make_llama(directory: Path, **config_overrides: Any) -> Checkpoint:
    """2 layers: embed 1024 + 2 * 2336 + norm 16 + lm_head 1024 = 6736 parameters, no chat template."""
    return build_checkpoint(directory, llama_config(**config_overrides), llama_shapes())


def make_qwen2(directory: Path, *, chat_template: Any = TOOLS_TEMPLATE) -> Checkpoint:
    """Tied embeddings, qkv bias: embed 1024 + 2 * 2368 + norm 16 = 5776; tool-aware template."""
    return build_checkpoint(
        directory,
        qwen2_config(),
        llama_shapes(bias=True, tied=True),
        tokenizer=tokenizer_config(chat_template),
        extra_files={"merges.txt": "#version: 0.2\n", "vocab.json": "{}"},
    )


def make_mixtral(directory: Path) -> Checkpoint:
    """1 layer, 8 experts: embed 1024 + (attn 768 + router 128 + 8 * 1536 + norms 32) + 16 + 1024 = 15280."""
    config: dict[str, Any] = {
        "architectures": ["MixtralForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": 32768,
        "model_type": "mixtral",
        "num_attention_heads": HEADS,
        "num_experts_per_tok": 2,
        "num_hidden_layers": 1,
        "num_key_value_heads": KV_HEADS,
        "num_local_experts": 8,
        "output_router_logits": False,
        "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0,
        "router_aux_loss_coef": 0.02,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.36.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    shapes: Shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    shapes |= attention_shapes("model.layers.0")
    shapes["model.layers.0.block_sparse_moe.gate.weight"] = (8, HIDDEN)
    for e in range(8):
        p = f"model.layers.0.block_sparse_moe.experts.{e}"
        shapes[f"{p}.w1.weight"] = (INTERMEDIATE, HIDDEN)
        shapes[f"{p}.w2.weight"] = (HIDDEN, INTERMEDIATE)
        shapes[f"{p}.w3.weight"] = (INTERMEDIATE, HIDDEN)
    shapes["model.norm.weight"] = (HIDDEN,)
    shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return build_checkpoint(directory, config, shapes)


def make_deepseek_v3(directory: Path) -> Checkpoint:
    """MLA + 4 routed experts + 1 shared expert, fp8 quantization_config.

    embed 1024 + layer (attn 1040 + router 64 + experts 1536 + shared 384 + norms 32 = 3056)
    + norm 16 + lm_head 1024 = 5120.
    """
    config: dict[str, Any] = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
        "first_k_dense_replace": 0,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "kv_lora_rank": 4,
        "max_position_embeddings": 163840,
        "model_type": "deepseek_v3",
        "moe_intermediate_size": 8,
        "moe_layer_freq": 1,
        "n_group": 1,
        "n_routed_experts": 4,
        "n_shared_experts": 1,
        "norm_topk_prob": True,
        "num_attention_heads": HEADS,
        "num_experts_per_tok": 2,
        "num_hidden_layers": 1,
        "num_key_value_heads": HEADS,
        "num_nextn_predict_layers": 1,
        "q_lora_rank": 8,
        "qk_nope_head_dim": 4,
        "qk_rope_head_dim": 2,
        "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128],
        },
        "rope_scaling": {"factor": 40, "original_max_position_embeddings": 4096, "type": "yarn"},
        "routed_scaling_factor": 2.5,
        "tie_word_embeddings": False,
        "topk_group": 1,
        "torch_dtype": "bfloat16",
        "v_head_dim": 4,
        "vocab_size": VOCAB,
    }
    a = "model.layers.0.self_attn"
    shapes: Shapes = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        f"{a}.q_a_proj.weight": (8, HIDDEN),
        f"{a}.q_a_layernorm.weight": (8,),
        f"{a}.q_b_proj.weight": (24, 8),
        f"{a}.kv_a_proj_with_mqa.weight": (12, HIDDEN),
        f"{a}.kv_a_layernorm.weight": (8,),
        f"{a}.kv_b_proj.weight": (32, 8),
        f"{a}.o_proj.weight": (HIDDEN, HIDDEN),
        "model.layers.0.mlp.gate.weight": (4, HIDDEN),
        "model.layers.0.input_layernorm.weight": (HIDDEN,),
        "model.layers.0.post_attention_layernorm.weight": (HIDDEN,),
    }
    for e in range(4):
        shapes |= mlp_shapes(f"model.layers.0.mlp.experts.{e}", intermediate=8)
    shapes |= mlp_shapes("model.layers.0.mlp.shared_experts", intermediate=8)
    shapes["model.norm.weight"] = (HIDDEN,)
    shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return build_checkpoint(
        directory, config, shapes, extra_files={"modeling_deepseek.py": "# remote code\n"}
    )


def make_llava(directory: Path) -> Checkpoint:
    """llava-1.5-like: context only in text_config, template in chat_template.json.

    patch embed 192 + projector 256 + embed 1024 + lm_head 1024 = 2496.
    """
    config: dict[str, Any] = {
        "architectures": ["LlavaForConditionalGeneration"],
        "ignore_index": -100,
        "image_token_index": 32000,
        "model_type": "llava",
        "pad_token_id": 32001,
        "projector_hidden_act": "gelu",
        "text_config": {
            "_name_or_path": "lmsys/vicuna-7b-v1.5",
            "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "rms_norm_eps": 1e-05,
            "torch_dtype": "float16",
            "vocab_size": 32064,
        },
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
        "transformers_version": "4.36.0.dev0",
        "vision_config": {
            "hidden_size": HIDDEN,
            "image_size": 336,
            "intermediate_size": 4096,
            "model_type": "clip_vision_model",
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "patch_size": 14,
            "projection_dim": 768,
            "vocab_size": 32000,
        },
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
        "vocab_size": 32064,
    }
    shapes: Shapes = {
        "vision_tower.vision_model.embeddings.patch_embedding.weight": (HIDDEN, 3, 2, 2),
        "multi_modal_projector.linear_1.weight": (HIDDEN, HIDDEN),
        "language_model.model.embed_tokens.weight": (VOCAB, HIDDEN),
        "language_model.lm_head.weight": (VOCAB, HIDDEN),
    }
    ckpt = build_checkpoint(directory, config, shapes, tokenizer=tokenizer_config())
    write_json(directory / "chat_template.json", {"chat_template": LLAVA_TEMPLATE})
    write_json(directory / "preprocessor_config.json", {"crop_size": {"height": 336, "width": 336}})
    return ckpt


def make_qwen2_5_vl(directory: Path) -> Checkpoint:
    """Qwen2.5-VL-like: image_token_id + vision_config, chat_template.jinja next to a tokenizer_config
    whose template differs (the .jinja file wins).

    patch embed 384 + embed 1024 + lm_head 1024 = 2432.
    """
    config: dict[str, Any] = {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "image_token_id": 151655,
        "max_position_embeddings": 128000,
        "model_type": "qwen2_5_vl",
        "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
        "text_config": {"max_position_embeddings": 128000, "model_type": "qwen2_5_vl_text"},
        "torch_dtype": "bfloat16",
        "video_token_id": 151656,
        "vision_config": {
            "depth": 32,
            "hidden_size": 1280,
            "model_type": "qwen2_5_vl",
            "out_hidden_size": 3584,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        "vision_start_token_id": 151652,
        "vocab_size": VOCAB,
    }
    shapes: Shapes = {
        "visual.patch_embed.proj.weight": (HIDDEN, 3, 2, 2, 2),
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "lm_head.weight": (VOCAB, HIDDEN),
    }
    return build_checkpoint(
        directory,
        config,
        shapes,
        tokenizer=tokenizer_config(TOOLS_TEMPLATE),
        extra_files={"chat_template.jinja": CHATML_TEMPLATE},
    )


def make_gpt2(directory: Path) -> Checkpoint:
    """gpt2-like, context only in n_positions / n_ctx.

    wte 512 + wpe 8192 + block 872 + ln_f 16 = 9592.
    """
    e = 8
    config: dict[str, Any] = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1,
        "eos_token_id": 50256,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": 1024,
        "n_embd": e,
        "n_head": 2,
        "n_layer": 1,
        "n_positions": 1024,
        "resid_pdrop": 0.1,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "vocab_size": VOCAB,
    }
    shapes: Shapes = {
        "wte.weight": (VOCAB, e),
        "wpe.weight": (1024, e),
        "h.0.ln_1.weight": (e,),
        "h.0.ln_1.bias": (e,),
        "h.0.attn.c_attn.weight": (e, 3 * e),
        "h.0.attn.c_attn.bias": (3 * e,),
        "h.0.attn.c_proj.weight": (e, e),
        "h.0.attn.c_proj.bias": (e,),
        "h.0.ln_2.weight": (e,),
        "h.0.ln_2.bias": (e,),
        "h.0.mlp.c_fc.weight": (e, 4 * e),
        "h.0.mlp.c_fc.bias": (4 * e,),
        "h.0.mlp.c_proj.weight": (4 * e, e),
        "h.0.mlp.c_proj.bias": (e,),
        "ln_f.weight": (e,),
        "ln_f.bias": (e,),
    }
    return build_checkpoint(directory, config, shapes)


def make_sharded(directory: Path) -> Checkpoint:
    """The llama checkpoint (6736 parameters) split in 2 shards with model.safetensors.index.json, plus
    a Mistral-style ``consolidated.safetensors`` (1000 more elements) that the index does not list."""
    directory.mkdir(parents=True, exist_ok=True)
    write_json(directory / "config.json", llama_config())
    shapes = llama_shapes()
    first = {k: v for k, v in shapes.items() if k.startswith(("model.embed_tokens", "model.layers.0."))}
    second = {k: v for k, v in shapes.items() if k not in first}
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    n = write_safetensors(directory / names[0], first) + write_safetensors(directory / names[1], second)
    weight_map = {k: names[0] for k in first} | {k: names[1] for k in second}
    write_json(
        directory / "model.safetensors.index.json",
        {"metadata": {"total_size": 2 * n}, "weight_map": dict(sorted(weight_map.items()))},
    )
    write_safetensors(directory / "consolidated.safetensors", {"tok_embeddings.weight": (1000,)})
    write_json(directory / "params.json", {"dim": HIDDEN, "n_layers": 2})
    return Checkpoint(directory, n)


def peft_adapter_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "meta-llama/Llama-3.1-8B-Instruct",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": 16,
        "rank_pattern": {},
        "revision": None,
        "target_modules": ["v_proj", "q_proj", "o_proj", "k_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }
    config.update(overrides)
    return config


def make_peft(directory: Path, *, tokenizer: dict[str, Any] | None = None, **overrides: Any) -> Checkpoint:
    """A LoRA adapter: adapter_config.json + adapter_model.safetensors (lora_A / lora_B of q and v)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = peft_adapter_config(**overrides)
    write_json(directory / "adapter_config.json", config)
    r = config["r"] if isinstance(config["r"], int) and config["r"] > 0 else 4
    prefix = "base_model.model.model.layers.0.self_attn"
    shapes: Shapes = {
        f"{prefix}.q_proj.lora_A.weight": (r, HIDDEN),
        f"{prefix}.q_proj.lora_B.weight": (HIDDEN, r),
        f"{prefix}.v_proj.lora_A.weight": (r, HIDDEN),
        f"{prefix}.v_proj.lora_B.weight": (KV_HEADS * HEAD_DIM, r),
    }
    n = write_safetensors(directory / "adapter_model.safetensors", shapes)
    if tokenizer is not None:
        write_json(directory / "tokenizer_config.json", tokenizer)
    (directory / "README.md").write_text("---\nlibrary_name: peft\n---\n", encoding="utf-8")
    return Checkpoint(directory, n)


def make_not_a_checkpoint(directory: Path) -> Path:
    """Files that look model-ish but no config.json / adapter_config.json."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.md").write_text("# Just notes\n", encoding="utf-8")
    write_json(directory / "params.json", {"dim": 4096})
    write_safetensors(directory / "weights.safetensors", {"w": (2, 2)})
    return directory


# --------------------------------------------------------------------------------------------------
# A fake Hugging Face hub cache


def add_cache_revision(
    hub: Path, repo_id: str, revision: str, source: Path, *, mtime: float, repo_type: str = "models"
) -> Path:
    """Move the files of directory ``source`` into the cache as blobs + a snapshot of symlinks, like
    huggingface_hub does; blob mtimes are set to ``mtime``. Returns the snapshot path."""
    repo_dir = hub / f"{repo_type}--{repo_id.replace('/', '--')}"
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = file.relative_to(source)
        blob = blobs / hashlib.sha256(revision.encode() + file.read_bytes()).hexdigest()
        shutil.move(str(file), blob)
        os.utime(blob, (mtime, mtime))
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    shutil.rmtree(source)
    return snapshot


def set_ref(hub: Path, repo_id: str, ref: str, revision: str, *, repo_type: str = "models") -> None:
    path = hub / f"{repo_type}--{repo_id.replace('/', '--')}" / "refs" / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(revision, encoding="utf-8")


QWEN_REV = "a" * 40
LLAMA_OLD_REV = "1" * 40
LLAMA_NEW_REV = "2" * 40
ADAPTER_REV = "c" * 40
DATASET_REV = "d" * 40


@dataclass
class HubCache:
    hub: Path
    snapshots: dict[str, Path]  # repo id (or "<repo id>@old") -> snapshot path
    counts: dict[str, int]


def make_hf_cache(root: Path) -> HubCache:
    """A hub cache with Qwen/Qwen2.5-0.5B-Instruct (one revision), meta-llama/Llama-3.2-1B (an old
    revision and a newer one that refs/main names), my-org/llama-lora (a PEFT adapter) and a dataset."""
    hub = root / "hub"
    staging = root / "staging"
    t0 = 1_700_000_000.0
    snapshots: dict[str, Path] = {}
    counts: dict[str, int] = {}

    qwen = make_qwen2(staging / "qwen")
    counts["Qwen/Qwen2.5-0.5B-Instruct"] = qwen.parameter_count
    snapshots["Qwen/Qwen2.5-0.5B-Instruct"] = add_cache_revision(
        hub, "Qwen/Qwen2.5-0.5B-Instruct", QWEN_REV, qwen.path, mtime=t0
    )
    set_ref(hub, "Qwen/Qwen2.5-0.5B-Instruct", "main", QWEN_REV)

    old = make_llama(staging / "llama-old", max_position_embeddings=8192)
    snapshots["meta-llama/Llama-3.2-1B@old"] = add_cache_revision(
        hub, "meta-llama/Llama-3.2-1B", LLAMA_OLD_REV, old.path, mtime=t0
    )
    new = make_llama(staging / "llama-new")
    counts["meta-llama/Llama-3.2-1B"] = new.parameter_count
    snapshots["meta-llama/Llama-3.2-1B"] = add_cache_revision(
        hub, "meta-llama/Llama-3.2-1B", LLAMA_NEW_REV, new.path, mtime=t0 + 100
    )
    set_ref(hub, "meta-llama/Llama-3.2-1B", "main", LLAMA_NEW_REV)

    # its base model is in the cache too
    adapter = make_peft(staging / "adapter", base_model_name_or_path="meta-llama/Llama-3.2-1B")
    snapshots["my-org/llama-lora"] = add_cache_revision(
        hub, "my-org/llama-lora", ADAPTER_REV, adapter.path, mtime=t0
    )
    set_ref(hub, "my-org/llama-lora", "main", ADAPTER_REV)

    data = staging / "data"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text('{"text": "hi"}\n', encoding="utf-8")
    add_cache_revision(hub, "org/some-data", DATASET_REV, data, mtime=t0, repo_type="datasets")
    set_ref(hub, "org/some-data", "main", DATASET_REV, repo_type="datasets")

    staging.rmdir()
    return HubCache(hub, snapshots, counts)
