"""Streaming conversion of real checkpoint layouts (``prepare/convert.py``) into FP8, BF16 and FP16.

Each variant is read back with the ``safetensors`` library; FP8 weights dequantise block by block to
within e4m3 precision of the originals; kept tensors are byte-identical; ``config.json`` passes the
checks vLLM's and SGLang's FP8 loaders make (quoted in ``check_fp8_config``); other files unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from modelyard.prepare import convert
from modelyard.prepare.convert import (
    ConversionError,
    FileReader,
    convert_directory,
    local_files,
    plan_checkpoint,
)
from modelyard.prepare.precisions import Precision
from tests.prepare.checkpoints import (
    BF16,
    assert_fp8_block_close,
    dense_tensors,
    load,
    moe_tensors,
    write_checkpoint,
)


def check_fp8_config(config: dict[str, Any], checkpoint: dict[str, np.ndarray]) -> None:
    """What the loaders read of ``quantization_config``, and what they require of the weights.

    vLLM, ``vllm/model_executor/layers/quantization/fp8.py``, ``Fp8Config.from_config``::

        quant_method = cls.get_from_keys(config, ["quant_method"])
        is_checkpoint_fp8_serialized = ("fp8" in quant_method)
        activation_scheme = cls.get_from_keys(config, ["activation_scheme"])
        ignored_layers = cls.get_from_keys_or(config, ["ignored_layers"], None)
        weight_block_size = cls.get_from_keys_or(config, ["weight_block_size"], None)

    and ``Fp8Config.__init__``::

        if activation_scheme not in ACTIVATION_SCHEMES:   # ["static", "dynamic"]
            raise ValueError(f"Unsupported activation scheme {activation_scheme}")
        if weight_block_size is not None:
            if not is_checkpoint_fp8_serialized: raise ValueError(...)
            if len(weight_block_size) != 2: raise ValueError(...)
            if activation_scheme != "dynamic": raise ValueError(...)

    ``Fp8LinearMethod.create_weights`` (block quantisation) registers the weight as
    ``torch.float8_e4m3fn`` and the scale as ``weight_scale_inv``::

        scale = BlockQuantScaleParameter(data=torch.empty(
            (output_size_per_partition + block_n - 1) // block_n,
            (input_size_per_partition + block_k - 1) // block_k, dtype=torch.float32), ...)
        # The weight_scale_inv name is intentional for deepseekv3
        layer.register_parameter("weight_scale_inv", scale)

    ``quant_utils.is_layer_skipped`` keeps a Linear unquantised when its full prefix is listed:
    ``return prefix in ignored_layers`` (``prefix_full_match``), and for fused layers (``qkv_proj``,
    ``gate_up_proj``) "All shards of fused layers to have the same precision".

    SGLang, ``python/sglang/srt/layers/quantization/fp8.py``, ``Fp8Config.from_config``::

        ignored_layers = cls.get_from_keys_or(
            config, ["ignored_layers", "modules_to_not_convert"], None)
        if ignored_layers:
            # Keep both "model." and non-"model." variants for robust prefix matching.
            for layer in ignored_layers:
                base = layer.removeprefix("model.")
                normalized.append(base); normalized.append(f"model.{base}")

    with the same ``activation_scheme``/``weight_block_size`` checks as vLLM.
    """
    q = config["quantization_config"]
    assert "fp8" in q["quant_method"]  # is_checkpoint_fp8_serialized
    assert q["activation_scheme"] in ["static", "dynamic"]
    block = q["weight_block_size"]
    assert len(block) == 2 and q["activation_scheme"] == "dynamic"
    assert q == {
        "quant_method": "fp8",
        "fmt": "e4m3",
        "activation_scheme": "dynamic",
        "weight_block_size": [128, 128],
        "ignored_layers": q["ignored_layers"],
        "modules_to_not_convert": q["ignored_layers"],
    }
    ignored = set(q["ignored_layers"])
    assert "lm_head" in ignored
    block_n, block_k = block
    for name, tensor in checkpoint.items():
        if not name.endswith(".weight_scale_inv"):
            continue
        weight = checkpoint[name.removesuffix("_scale_inv")]
        out_size, in_size = weight.shape
        assert tensor.shape == ((out_size + block_n - 1) // block_n, (in_size + block_k - 1) // block_k)
        assert tensor.dtype == np.float32
        assert name.removesuffix(".weight_scale_inv") not in ignored  # a quantised layer is not skipped
    # Fused shards agree: q/k/v (qkv_proj) and gate/up (gate_up_proj) all quantised or all kept.
    for name in checkpoint:
        for group in (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")):
            if name.endswith(f".{group[0]}.weight"):
                kinds = {checkpoint[name.replace(group[0], g)].dtype for g in group}
                assert len(kinds) == 1, name


def _convert(
    tmp_path: Path, tensors: dict[str, np.ndarray], precision: Precision, **kw: Any
) -> tuple[Path, Path]:
    source, target = tmp_path / "source", tmp_path / precision.branch
    write_checkpoint(source, tensors, **kw)
    # Small pieces: every weight of more than 128 rows is converted in several pieces.
    convert_directory(source, target, precision, piece_bytes=16384)
    return source, target


def _read_all(folder: Path) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load(path))
    return tensors


def _check_fp8(
    original: dict[str, np.ndarray], converted: dict[str, np.ndarray], quantised: set[str]
) -> None:
    for name, tensor in original.items():
        if name in quantised:
            assert_fp8_block_close(tensor, converted[name], converted[name + "_scale_inv"])
        else:
            assert converted[name].dtype == tensor.dtype
            assert converted[name].tobytes() == tensor.tobytes(), name  # kept byte for byte
    assert set(converted) == set(original) | {n + "_scale_inv" for n in quantised}


def _unchanged(source: Path, target: Path, *names: str) -> None:
    for name in names:
        assert (target / name).read_bytes() == (source / name).read_bytes()


def test_dense_llama_qwen_to_fp8(tmp_path: Path) -> None:
    tensors = dense_tensors()
    source, target = _convert(tmp_path, tensors, Precision.FP8)
    converted = _read_all(target)
    quantised = {
        n for n in tensors if n.endswith("_proj.weight")
    }  # q/k/v/o/gate/up/down; not embed_tokens, lm_head, norms, biases
    assert len(quantised) == 14
    _check_fp8(tensors, converted, quantised)
    config = json.loads((target / "config.json").read_text())
    check_fp8_config(config, converted)
    assert config["quantization_config"]["ignored_layers"] == ["lm_head", "model.embed_tokens"]
    assert config["torch_dtype"] == "bfloat16" and config["architectures"] == ["LlamaForCausalLM"]
    _unchanged(source, target, "tokenizer.json", "generation_config.json")
    with safetensors.safe_open(str(target / "model.safetensors"), framework="numpy") as f:
        assert f.metadata() == {"format": "pt"}
        assert f.get_slice("model.layers.0.mlp.down_proj.weight").get_dtype() == "F8_E4M3"
        scale = f.get_tensor("model.layers.0.mlp.down_proj.weight_scale_inv")
        assert scale.shape == (2, 3)


def test_moe_router_and_shared_expert_gate_are_kept(tmp_path: Path) -> None:
    tensors = moe_tensors()
    _, target = _convert(tmp_path, tensors, Precision.FP8)
    converted = _read_all(target)
    quantised = {n for n in tensors if n.endswith("_proj.weight")}  # experts, shared expert, attention
    assert "model.layers.0.mlp.experts.3.down_proj.weight" in quantised
    _check_fp8(tensors, converted, quantised)
    config = json.loads((target / "config.json").read_text())
    check_fp8_config(config, converted)
    assert config["quantization_config"]["ignored_layers"] == [
        "lm_head",
        "model.embed_tokens",
        "model.layers.0.mlp.gate",
        "model.layers.0.mlp.shared_expert_gate",
    ]


def test_sharded_checkpoint_keeps_its_layout_and_index(tmp_path: Path) -> None:
    tensors = dense_tensors(layers=3)
    source, target = _convert(tmp_path, tensors, Precision.FP8, shards=3)
    shard_names = sorted(p.name for p in source.glob("*.safetensors"))
    assert sorted(p.name for p in target.glob("*.safetensors")) == shard_names
    index = json.loads((target / "model.safetensors.index.json").read_text())
    original_index = json.loads((source / "model.safetensors.index.json").read_text())
    converted: dict[str, np.ndarray] = {}
    data_bytes = 0
    for shard in shard_names:
        part = load(target / shard)
        converted.update(part)
        data_bytes += sum(t.nbytes for t in part.values())
        for name in part:  # every tensor is mapped to the shard that holds it
            assert index["weight_map"][name] == shard
        for name, where in original_index["weight_map"].items():
            if where == shard and name + "_scale_inv" in converted:
                assert index["weight_map"][name + "_scale_inv"] == shard
    assert set(index["weight_map"]) == set(converted)
    assert index["metadata"]["total_size"] == data_bytes
    _check_fp8(tensors, converted, {n for n in tensors if n.endswith("_proj.weight")})
    check_fp8_config(json.loads((target / "config.json").read_text()), converted)


def test_tied_embeddings(tmp_path: Path) -> None:
    tensors = dense_tensors(tied=True, layers=1)
    config = {"architectures": ["Qwen2ForCausalLM"], "tie_word_embeddings": True, "torch_dtype": "float32"}
    _, target = _convert(tmp_path, tensors, Precision.FP8, config=config)
    converted = _read_all(target)
    assert "lm_head.weight" not in converted
    _check_fp8(tensors, converted, {n for n in tensors if n.endswith("_proj.weight")})
    written = json.loads((target / "config.json").read_text())
    check_fp8_config(written, converted)
    assert written["tie_word_embeddings"] is True
    # vLLM and SGLang run FP8 layers with bfloat16/float16 activations (get_supported_act_dtypes).
    assert written["torch_dtype"] == "bfloat16"


@pytest.mark.parametrize("precision", [Precision.BF16, Precision.FP16])
def test_float32_checkpoint_to_bf16_and_fp16(tmp_path: Path, precision: Precision) -> None:
    tensors = dense_tensors(dtype=np.dtype(np.float32), layers=1)
    tensors["model.layers.0.mlp.down_proj.weight"][0, :2] = [1e6, -1e6]  # beyond FP16: clipped
    tensors["model.layers.0.step"] = np.arange(3, dtype=np.int64)  # not floating: kept
    config = {"architectures": ["LlamaForCausalLM"], "torch_dtype": "float32", "dtype": "float32"}
    source, target = _convert(tmp_path, tensors, precision, config=config)
    converted = _read_all(target)
    target_dtype = BF16 if precision is Precision.BF16 else np.dtype(np.float16)
    for name, tensor in tensors.items():
        if tensor.dtype == np.int64:
            assert converted[name].tobytes() == tensor.tobytes()
            continue
        expected = tensor if precision is Precision.BF16 else np.clip(tensor, -65504, 65504)
        assert converted[name].dtype == target_dtype
        np.testing.assert_array_equal(
            converted[name].view(np.uint16), expected.astype(target_dtype).view(np.uint16)
        )
    if precision is Precision.FP16:  # numpy-native dtypes: the library's numpy loader reads it whole
        loaded = safetensors.numpy.load_file(str(target / "model.safetensors"))
        assert loaded["model.layers.0.mlp.down_proj.weight"][0, 0] == np.float16(65504)
    written = json.loads((target / "config.json").read_text())
    assert written["torch_dtype"] == written["dtype"] == precision.torch_dtype
    assert "quantization_config" not in written
    _unchanged(source, target, "tokenizer.json", "generation_config.json")


class CountingReader:
    """A RangeReader recording the largest single read (the streaming bound)."""

    def __init__(self, inner: FileReader) -> None:
        self.inner = inner
        self.size = inner.size
        self.largest = 0

    def read(self, offset: int, length: int) -> bytes:
        self.largest = max(self.largest, length)
        return self.inner.read(offset, length)


def test_reads_are_pieces_not_tensors(tmp_path: Path) -> None:
    tensors = dense_tensors(layers=1)
    write_checkpoint(tmp_path / "src", tensors)
    files: dict[str, Any] = {p: CountingReader(r) for p, r in local_files(tmp_path / "src").items()}
    plan = plan_checkpoint(files, Precision.FP8)
    shard = plan.shards[0]
    written = bytearray()
    with convert.ShardWriter(piece_bytes=4096) as writer:
        writer.write_shard(shard, files["model.safetensors"], written.extend)
    assert len(written) == shard.size  # the header computed up front announced the size
    # Pieces of 4 KiB, or one 128-row band of a weight (2 bytes per value): never a whole tensor.
    band_bytes = max(128 * t.shape[1] * 2 for t in shard.tensors if t.action == "fp8")
    assert files["model.safetensors"].largest <= max(4096, band_bytes)
    assert files["model.safetensors"].largest < max(t.nbytes for t in shard.tensors)
    assert dict(safetensors.deserialize(bytes(written))).keys() == load(
        tmp_path / "src" / "model.safetensors"
    ).keys() | {n + "_scale_inv" for n in tensors if n.endswith("_proj.weight")}


def test_checkpoints_that_cannot_be_prepared(tmp_path: Path) -> None:
    tensors = dense_tensors(layers=1)
    write_checkpoint(tmp_path / "a", tensors)
    quantised = json.loads((tmp_path / "a" / "config.json").read_text())
    quantised["quantization_config"] = {"quant_method": "awq"}
    (tmp_path / "a" / "config.json").write_text(json.dumps(quantised))
    with pytest.raises(ConversionError, match=r"quantised already.*awq"):
        plan_checkpoint(local_files(tmp_path / "a"), Precision.FP8)

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "pytorch_model.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ConversionError, match=r"no \*\.safetensors"):
        plan_checkpoint(local_files(tmp_path / "b"), Precision.BF16)

    write_checkpoint(
        tmp_path / "c", {"model.layers.0.mlp.up_proj.weight": np.full((4, 4), np.inf, np.float32)}
    )
    with pytest.raises(ConversionError, match=r"up_proj\.weight.*not finite"):
        convert_directory(tmp_path / "c", tmp_path / "c-out", Precision.FP8)

    # A header whose offsets point past the end of the file.
    path = tmp_path / "d" / "model.safetensors"
    header = json.dumps(
        {"w.weight": {"dtype": "F32", "shape": [1024, 1024], "data_offsets": [0, 4 << 20]}}
    ).encode()
    path.parent.mkdir()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 64)
    (tmp_path / "d" / "config.json").write_text("{}")
    with pytest.raises(ConversionError, match="data_offsets"):
        plan_checkpoint(local_files(tmp_path / "d"), Precision.FP8)
