"""Planning the conversion of a safetensors checkpoint to a prepared precision, from headers alone.

``plan_checkpoint`` reads the header of every ``*.safetensors`` file (through
``importers.safetensors.parse_safetensors_header`` over a ``RangeReader``: a local file or ranged reads of
an S3 object), checks each entry (known dtype, shape, byte range inside the file and of the size the
shape gives), and computes each output shard's header from its input header alone: which tensors are
converted, their new dtype and sizes, the ``*_scale_inv`` tensors FP8 adds. So an output shard's
header, and its total size, are known before any tensor byte is read. It also computes the new
``config.json`` and ``*.safetensors.index.json`` (same shard layout, ``weight_map`` with the scale
tensors, ``metadata.total_size``); every other file of the checkpoint is carried unchanged.
``convert.ShardWriter`` then streams the shards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.importers.safetensors import SafetensorsHeaderError, parse_safetensors_header
from modelyard.prepare import kernels
from modelyard.prepare.precisions import Precision, casts, fp8_keeps_module, fp8_quantizes, module_of
from modelyard.storage.base import RangeReader

#: Bytes per element of each safetensors dtype.
ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
SCALE_SUFFIX = "_scale_inv"
INDEX_SUFFIX = ".safetensors.index.json"


class ConversionError(ValueError):
    """The checkpoint cannot be prepared (why is in the message, naming the file and tensor)."""


@dataclass(frozen=True)
class TensorIn:
    name: str
    dtype: str
    shape: tuple[int, ...]
    #: Absolute byte range in the file.
    start: int
    end: int


@dataclass(frozen=True)
class TensorOut:
    """One tensor of an output shard. ``action``: ``copy`` (bytes as they are), ``cast`` (to
    ``dtype``), ``fp8`` (quantised weight; its scale tensor follows it) or ``scale`` (written with the
    weight before it)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    action: str
    source: TensorIn


@dataclass
class ShardPlan:
    path: str
    tensors: list[TensorOut]
    #: The 8-byte length and the JSON header, padded with spaces to a multiple of 8.
    header: bytes
    size: int

    @property
    def data_bytes(self) -> int:
        return self.size - len(self.header)


@dataclass
class CheckpointPlan:
    precision: Precision
    shards: list[ShardPlan]
    #: New contents of rewritten files (``config.json``, index files), by path.
    rewritten: dict[str, bytes]
    #: Paths carried over unchanged.
    carried: list[str]
    #: FP8: the modules kept in their precision (``ignored_layers``).
    ignored: list[str] = field(default_factory=list)

    @property
    def parameters(self) -> int:
        """Elements of the source tensors (for progress and throughput)."""
        return sum(math.prod(t.shape) for shard in self.shards for t in shard.tensors if t.action != "scale")


def quantization_config(ignored: list[str]) -> dict[str, Any]:
    """The ``quantization_config`` of an FP8 variant (decisions.md, "Prepared precisions")."""
    return {
        "quant_method": "fp8",
        "fmt": "e4m3",
        "activation_scheme": "dynamic",
        "weight_block_size": [kernels.BLOCK, kernels.BLOCK],
        "ignored_layers": ignored,
        "modules_to_not_convert": ignored,
    }


# -- planning ------------------------------------------------------------------------------------------
def read_tensors(reader: RangeReader, path: str) -> tuple[list[TensorIn], dict[str, Any] | None]:
    """The tensors a safetensors file declares (sorted by data offset) and its ``__metadata__``."""
    try:
        header, length = parse_safetensors_header(reader.read, path)
    except SafetensorsHeaderError as e:
        raise ConversionError(str(e)) from None
    base = 8 + length
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not isinstance(metadata, dict):
        raise ConversionError(f"{path}: __metadata__ is not an object")
    tensors = []
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise ConversionError(f"{where} is not described by an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in ITEMSIZE:
            raise ConversionError(f"{where} has an unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ConversionError(f"{where} has no valid shape")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise ConversionError(f"{where} has no valid data_offsets")
        begin, end = offsets
        expected = math.prod(shape) * ITEMSIZE[str(dtype)]
        if begin < 0 or end - begin != expected or base + end > reader.size:
            raise ConversionError(
                f"{where}: data_offsets {offsets} do not hold {expected} bytes inside the file "
                f"({reader.size - base} data bytes)"
            )
        tensors.append(TensorIn(name, str(dtype), tuple(shape), base + begin, base + end))
    tensors.sort(key=lambda t: t.start)
    return tensors, metadata


def plan_shard(path: str, reader: RangeReader, precision: Precision, ignored: set[str]) -> ShardPlan:
    """The output shard of one input file (``ignored`` collects FP8's kept 2-D weights' modules)."""
    tensors, metadata = read_tensors(reader, path)
    out: list[TensorOut] = []
    for t in tensors:
        n = math.prod(t.shape)
        if precision is Precision.FP8:
            if fp8_quantizes(t.name, t.dtype, list(t.shape)):
                rows, cols = t.shape
                out.append(TensorOut(t.name, "F8_E4M3", t.shape, n, "fp8", t))
                scale = kernels.scale_shape(rows, cols)
                out.append(TensorOut(t.name + SCALE_SUFFIX, "F32", scale, 4 * math.prod(scale), "scale", t))
                continue
            if t.name.endswith(".weight") and len(t.shape) == 2 and fp8_keeps_module(module_of(t.name)):
                ignored.add(module_of(t.name))
            out.append(TensorOut(t.name, t.dtype, t.shape, t.end - t.start, "copy", t))
        elif casts(t.dtype, precision):
            target = precision.safetensors_dtype
            out.append(TensorOut(t.name, target, t.shape, n * ITEMSIZE[target], "cast", t))
        else:
            out.append(TensorOut(t.name, t.dtype, t.shape, t.end - t.start, "copy", t))
    if precision is Precision.FP8:
        names = {t.name for t in tensors}
        clash = next((o.name for o in out if o.action == "scale" and o.name in names), None)
        if clash is not None:
            raise ConversionError(f"{path}: already holds {clash!r} (is it quantised already?)")
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for o in out:
        header[o.name] = {
            "dtype": o.dtype,
            "shape": list(o.shape),
            "data_offsets": [offset, offset + o.nbytes],
        }
        offset += o.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    head = len(text).to_bytes(8, "little") + text
    return ShardPlan(path, out, head, len(head) + offset)


def _load_json(reader: RangeReader, path: str) -> dict[str, Any]:
    if reader.size > 64 * 1024 * 1024:
        raise ConversionError(f"{path} is larger than 64 MiB")
    try:
        value = json.loads(read_all(reader, path))
    except ValueError as e:
        raise ConversionError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConversionError(f"{path} is not a JSON object")
    return value


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def plan_checkpoint(files: Mapping[str, RangeReader], precision: Precision) -> CheckpointPlan:
    """What preparing this checkpoint writes (see the module doc). ``files``: every file of the
    checkpoint by path. Raises ConversionError for a checkpoint that cannot be prepared."""
    weights = sorted(p for p in files if p.endswith(".safetensors"))
    if not weights:
        raise ConversionError(
            "the checkpoint has no *.safetensors weights (only safetensors checkpoints are prepared)"
        )
    config = _load_json(files["config.json"], "config.json") if "config.json" in files else None
    if config is None and precision is Precision.FP8:
        raise ConversionError("the checkpoint has no config.json (FP8 records its quantization_config there)")
    if config is not None and config.get("quantization_config") is not None:
        method = config["quantization_config"]
        method = method.get("quant_method") if isinstance(method, dict) else method
        raise ConversionError(f"config.json: the checkpoint is quantised already (quant_method {method!r})")
    ignored: set[str] = set()
    shards = [plan_shard(p, files[p], precision, ignored) for p in weights]
    by_path = {s.path: s for s in shards}
    rewritten: dict[str, bytes] = {}
    for index_path in sorted(p for p in files if p.endswith(INDEX_SUFFIX)):
        rewritten[index_path] = _json_bytes(
            _rewrite_index(index_path, _load_json(files[index_path], index_path), by_path)
        )
    ignored_list = sorted(ignored | ({"lm_head"} if precision is Precision.FP8 else set()))
    if config is not None:
        if precision is Precision.FP8:
            config["quantization_config"] = quantization_config(ignored_list)
            # vLLM and SGLang run FP8 layers with bfloat16 or float16 activations only.
            if config.get("torch_dtype") == "float32":
                config["torch_dtype"] = "bfloat16"
        else:
            config["torch_dtype"] = precision.torch_dtype
            if "dtype" in config:
                config["dtype"] = precision.torch_dtype
        rewritten["config.json"] = _json_bytes(config)
    carried = sorted(p for p in files if p not in by_path and p not in rewritten)
    return CheckpointPlan(
        precision, shards, rewritten, carried, ignored_list if precision is Precision.FP8 else []
    )


def _rewrite_index(path: str, index: dict[str, Any], shards: Mapping[str, ShardPlan]) -> dict[str, Any]:
    """The index with the scale tensors in ``weight_map`` and the new ``metadata.total_size``."""
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise ConversionError(f"{path} has no weight_map object")
    folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    used: dict[str, ShardPlan] = {}
    new_map: dict[str, str] = {}
    for tensor, shard_name in weight_map.items():
        shard = shards.get(folder + shard_name) if isinstance(shard_name, str) else None
        if shard is None:
            raise ConversionError(
                f"{path}: tensor {tensor!r} is mapped to {shard_name!r}, not a file of the checkpoint"
            )
        used[shard.path] = shard
        new_map[tensor] = shard_name
    for shard in used.values():
        name = shard.path[len(folder) :]
        for t in shard.tensors:
            new_map.setdefault(t.name, name)
    result = dict(index)
    metadata = dict(index.get("metadata") or {})
    metadata["total_size"] = sum(s.data_bytes for s in used.values())
    result["metadata"] = metadata
    result["weight_map"] = dict(sorted(new_map.items()))
    return result


def read_all(reader: RangeReader, path: str) -> bytes:
    """A small file whole (``config.json``, an index), by as many reads as it takes."""
    parts = []
    done = 0
    while done < reader.size:
        data = reader.read(done, reader.size - done)
        if not data:
            raise ConversionError(f"{path} ended at byte {done} (expected {reader.size})")
        parts.append(data)
        done += len(data)
    return b"".join(parts)
