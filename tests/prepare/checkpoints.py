"""Small checkpoints in real Hugging Face layouts, written with the ``safetensors`` library, and the
checks every prepared variant must pass (dequantisation block by block, byte-identical kept tensors)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import safetensors

BF16 = np.dtype(ml_dtypes.bfloat16)
E4M3 = np.dtype(ml_dtypes.float8_e4m3fn)
DTYPE_NAMES = {
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    BF16: "BF16",
    np.dtype(np.int64): "I64",
}
SPEC_NAMES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float16): "float16",
    BF16: "bfloat16",
    np.dtype(np.int64): "int64",
}
NUMPY_OF = {
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": BF16,
    "F8_E4M3": E4M3,
    "I64": np.dtype(np.int64),
}


def save(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """``tensors`` (any of DTYPE_NAMES, bfloat16 included) as a safetensors file, by the library."""
    arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}  # alive while written
    spec = {
        name: safetensors.TensorSpec(
            dtype=SPEC_NAMES[array.dtype],
            shape=list(array.shape),
            data_ptr=array.ctypes.data,
            data_len=array.nbytes,
        )
        for name, array in arrays.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.serialize_file(spec, str(path), metadata=metadata or {"format": "pt"})


def load(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file, through the library's own parser (``deserialize`` checks the
    header and that the offsets tile the data exactly)."""
    return {
        name: np.frombuffer(bytes(info["data"]), dtype=NUMPY_OF[info["dtype"]]).reshape(info["shape"])
        for name, info in safetensors.deserialize(path.read_bytes())
    }


def _weight(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, scale: float = 0.02
) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(dtype)


def dense_tensors(
    *,
    layers: int = 2,
    hidden: int = 200,
    inter: int = 330,
    vocab: int = 300,
    kv: int = 40,
    dtype: np.dtype = BF16,
    tied: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A Llama/Qwen-style decoder (shapes deliberately not multiples of 128)."""
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": _weight(rng, (vocab, hidden), dtype)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = _weight(rng, (hidden, hidden), dtype)
        t[p + "self_attn.q_proj.bias"] = _weight(rng, (hidden,), dtype)  # Qwen2 has q/k/v biases
        t[p + "self_attn.k_proj.weight"] = _weight(rng, (kv, hidden), dtype)
        t[p + "self_attn.k_proj.bias"] = _weight(rng, (kv,), dtype)
        t[p + "self_attn.v_proj.weight"] = _weight(rng, (kv, hidden), dtype)
        t[p + "self_attn.o_proj.weight"] = _weight(rng, (hidden, hidden), dtype)
        t[p + "mlp.gate_proj.weight"] = _weight(rng, (inter, hidden), dtype)
        t[p + "mlp.up_proj.weight"] = _weight(rng, (inter, hidden), dtype)
        t[p + "mlp.down_proj.weight"] = _weight(rng, (hidden, inter), dtype, scale=3.0)  # large values
        t[p + "input_layernorm.weight"] = np.ones(hidden, dtype=dtype)
        t[p + "post_attention_layernorm.weight"] = _weight(rng, (hidden,), dtype, 1.0)
    t["model.norm.weight"] = np.ones(hidden, dtype=dtype)
    if not tied:
        t["lm_head.weight"] = _weight(rng, (vocab, hidden), dtype)
    return t


def moe_tensors(
    *, experts: int = 4, hidden: int = 136, inter: int = 96, seed: int = 1
) -> dict[str, np.ndarray]:
    """A Qwen2-MoE-style layer: router ``mlp.gate``, experts, a shared expert and its gate."""
    rng = np.random.default_rng(seed)
    t = {
        "model.embed_tokens.weight": _weight(rng, (64, hidden), BF16),
        "lm_head.weight": _weight(rng, (64, hidden), BF16),
    }
    p = "model.layers.0."
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        t[f"{p}self_attn.{name}.weight"] = _weight(rng, (hidden, hidden), BF16)
    t[p + "mlp.gate.weight"] = _weight(rng, (experts, hidden), BF16)
    t[p + "mlp.shared_expert_gate.weight"] = _weight(rng, (1, hidden), BF16)
    for e in range(experts):
        for name, shape in (
            ("gate_proj", (inter, hidden)),
            ("up_proj", (inter, hidden)),
            ("down_proj", (hidden, inter)),
        ):
            t[f"{p}mlp.experts.{e}.{name}.weight"] = _weight(rng, shape, BF16)
    for name, shape in (
        ("gate_proj", (inter, hidden)),
        ("up_proj", (inter, hidden)),
        ("down_proj", (hidden, inter)),
    ):
        t[f"{p}mlp.shared_expert.{name}.weight"] = _weight(rng, shape, BF16)
    t[p + "input_layernorm.weight"] = np.ones(hidden, dtype=BF16)
    t["model.norm.weight"] = np.ones(hidden, dtype=BF16)
    t["model.rotary.inv_freq"] = np.arange(8, dtype=np.float32)  # 1-D float: kept by FP8
    t["model.layers.0.position_ids"] = np.arange(6, dtype=np.int64).reshape(2, 3)  # 2-D, not floating
    return t


def write_checkpoint(
    folder: Path, tensors: dict[str, np.ndarray], *, shards: int = 1, config: dict[str, Any] | None = None
) -> None:
    """A checkpoint folder: ``model.safetensors`` (or ``shards`` files and their index), config.json,
    and two files a conversion must carry unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    if shards == 1:
        save(folder / "model.safetensors", tensors)
    else:
        names = list(tensors)
        per = math.ceil(len(names) / shards)
        weight_map = {}
        for i in range(shards):
            file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[i * per : (i + 1) * per]}
            save(folder / file, part)
            weight_map.update(dict.fromkeys(part, file))
        total = sum(a.nbytes for a in tensors.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16"}
    (folder / "config.json").write_text(json.dumps(config or base, indent=2))
    (folder / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}}))
    (folder / "generation_config.json").write_text('{"do_sample": true}\n')


def assert_fp8_block_close(original: np.ndarray, fp8: np.ndarray, scale_inv: np.ndarray) -> None:
    """Each 128x128 block of ``fp8 * scale_inv`` within e4m3 precision of the original block: half a
    unit in e4m3's last place (3 mantissa bits: 2**-4 of the value) for normal values, half the
    subnormal step (2**-9 * scale / 2) below; the block's largest value maps to 448 exactly."""
    rows, cols = original.shape
    assert fp8.dtype == E4M3 and fp8.shape == original.shape
    assert scale_inv.dtype == np.float32
    assert scale_inv.shape == ((rows + 127) // 128, (cols + 127) // 128)
    source = original.astype(np.float32)
    for bi in range(scale_inv.shape[0]):
        for bj in range(scale_inv.shape[1]):
            block = source[bi * 128 : (bi + 1) * 128, bj * 128 : (bj + 1) * 128]
            q = fp8[bi * 128 : (bi + 1) * 128, bj * 128 : (bj + 1) * 128].astype(np.float32)
            scale = scale_inv[bi, bj]
            amax = float(np.abs(block).max())
            assert scale == (np.float32(amax) / np.float32(448) if amax else 1.0), (bi, bj)
            restored = q * scale
            tolerance = np.maximum(np.abs(block) * 2.0**-4, scale * 2.0**-10) * (1 + 1e-6)
            assert np.all(np.abs(restored - block) <= tolerance), (bi, bj)
            if amax:
                assert float(np.abs(q).max()) == 448.0
