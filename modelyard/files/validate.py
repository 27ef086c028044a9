"""``:validateUpload``: check the uploaded files of a model by its kind and derive what they say.

Reads only what it needs through ranged reads of the stored files: JSON side files (config, adapter
config, tokenizer config, chat template, safetensors index) and the header of each ``*.safetensors``
file (8 bytes of length, then the JSON header). Tensor data is never read; its length is checked
against the header's offsets. The mapping from ``config.json`` / ``adapter_config.json`` to Model fields
is the Hugging Face importer's (``modelyard.importers.huggingface``), so an uploaded checkpoint and an
imported one are described alike; the default precision (from the weights' dtypes) and the sampling
defaults (from ``generation_config.json``) are :mod:`modelyard.files.defaults`'. ``trustRemoteCode``
never executes anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.files import defaults
from modelyard.files.errors import FileError, invalid_file
from modelyard.importers import hf_config, hf_scan, huggingface, safetensors
from modelyard.storage.base import RangeReader

#: Files that make a tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors",)

_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class Flags:
    config_only: bool = False
    skip_hf_config_validation: bool = False
    trust_remote_code: bool = False


@dataclass
class Outcome:
    """The Model fields the files determine (merged into the model) and warnings for the caller."""

    updates: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _read_json(path: str, reader: RangeReader) -> dict[str, Any]:
    if reader.size > hf_scan.MAX_JSON_FILE:
        raise invalid_file(path, f"{reader.size} bytes is more than the {hf_scan.MAX_JSON_FILE}-byte limit")
    try:
        data = json.loads(reader.read(0, reader.size))
    except ValueError as e:
        raise invalid_file(path, f"not valid JSON: {e}", "INVALID_JSON_FILE") from None
    if not isinstance(data, dict):
        raise invalid_file(path, "not a JSON object", "INVALID_JSON_FILE")
    return data


def check_safetensors(path: str, reader: RangeReader) -> int:
    """Parse a safetensors header and check it against the file; returns the number of parameters."""
    try:
        header, length = safetensors.parse_safetensors_header(reader.read, path)
        count = safetensors.header_parameter_count(path, header)
    except safetensors.SafetensorsHeaderError as e:
        message = str(e).removeprefix(f"{path}: ")
        raise invalid_file(path, f"not a valid safetensors file: {message}", "INVALID_SAFETENSORS") from None
    data_length = reader.size - 8 - length
    end = 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise invalid_file(path, f"tensor {tensor!r} has no valid data_offsets", "INVALID_SAFETENSORS")
        width = _DTYPE_BYTES.get(str(info.get("dtype")))
        if width is None:
            raise invalid_file(path, f"tensor {tensor!r} has unknown dtype {info.get('dtype')!r}",
                               "INVALID_SAFETENSORS")  # fmt: skip
        if offsets[1] - offsets[0] != width * math.prod(info["shape"]):
            raise invalid_file(
                path,
                f"tensor {tensor!r} spans {offsets[1] - offsets[0]} bytes but its dtype and shape need "
                f"{width * math.prod(info['shape'])}",
                "INVALID_SAFETENSORS",
            )
        end = max(end, offsets[1])
    if end != data_length:
        raise invalid_file(
            path,
            f"the header describes {end} bytes of tensor data but the file holds {data_length} "
            "(truncated or padded)",
            "INVALID_SAFETENSORS",
        )
    return count


def _chat_template(readers: Mapping[str, Callable[[], RangeReader]], warnings: list[str]) -> str | None:
    if hf_scan.CHAT_TEMPLATE_JINJA_FILE in readers:
        reader = readers[hf_scan.CHAT_TEMPLATE_JINJA_FILE]()
        try:
            text = reader.read(0, reader.size).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_file(hf_scan.CHAT_TEMPLATE_JINJA_FILE, "not UTF-8 text") from None
        if text.strip():
            return text
    for name in (hf_scan.TOKENIZER_CONFIG_FILE, hf_scan.CHAT_TEMPLATE_JSON_FILE):
        if name in readers:
            template = hf_scan.pick_chat_template(_read_json(name, readers[name]()).get("chat_template"))
            if template is not None:
                return template
    return None


def _weights(paths: list[str], readers: Mapping[str, Callable[[], RangeReader]]) -> list[str]:
    """The safetensors files of a full model: the index's shards (each must be declared), else every
    ``*.safetensors`` file."""
    if hf_scan.SAFETENSORS_INDEX_FILE in readers:
        index = _read_json(hf_scan.SAFETENSORS_INDEX_FILE, readers[hf_scan.SAFETENSORS_INDEX_FILE]())
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise invalid_file(hf_scan.SAFETENSORS_INDEX_FILE, "has no weight_map")
        shards = sorted({str(v) for v in weight_map.values()})
        for shard in shards:
            if shard not in readers:
                raise invalid_file(
                    hf_scan.SAFETENSORS_INDEX_FILE,
                    f"names shard {shard!r}, which is not among the uploaded files",
                )
        return shards
    return [p for p in paths if p.endswith(".safetensors")]


def validate_base_model(
    model: dict[str, Any], readers: Mapping[str, Callable[[], RangeReader]], flags: Flags
) -> Outcome:
    paths = sorted(readers)
    warnings: list[str] = []
    if hf_scan.CONFIG_FILE in readers:
        config = _read_json(hf_scan.CONFIG_FILE, readers[hf_scan.CONFIG_FILE]())
    elif flags.skip_hf_config_validation:
        config = {}
        warnings.append(f"no {hf_scan.CONFIG_FILE}: model type and context length unknown")
    else:
        raise invalid_file(
            hf_scan.CONFIG_FILE, "missing: an HF_BASE_MODEL needs its config.json", "MISSING_FILE"
        )
    weights = _weights(paths, readers)
    if not weights:
        raise invalid_file(
            "model.safetensors", "missing: an HF_BASE_MODEL needs *.safetensors weights", "MISSING_FILE"
        )
    counts, dtypes = defaults.check_weights(weights, readers, check_safetensors)
    if not flags.config_only and not any(t in readers for t in TOKENIZER_FILES):
        warnings.append(f"no tokenizer files ({', '.join(TOKENIZER_FILES)}) were uploaded")
    values: dict[str, Any] = {}
    import_warnings: list[str] = []
    huggingface.describe_base_model(config, paths, lambda: sum(counts), values, import_warnings)
    if config:
        warnings += import_warnings
    details = dict(model.get("baseModelDetails") or {})
    for key, value in values["baseModelDetails"].items():
        if value is None or value is False:
            details.pop(key, None)
        else:
            details[key] = str(value) if key == "parameterCount" else value
    if precision := defaults.default_precision(dtypes):
        details["defaultPrecision"] = precision
    updates: dict[str, Any] = {"baseModelDetails": details}
    if defaults.GENERATION_CONFIG_FILE in readers:
        updates.update(_sampling(readers[defaults.GENERATION_CONFIG_FILE], warnings))
    if values.get("contextLength"):
        updates["contextLength"] = values["contextLength"]
    updates["supportsImageInput"] = bool(values.get("supportsImageInput"))
    template = _chat_template(readers, warnings)
    if template is not None:
        updates["supportsTools"] = hf_config.template_uses_tools(template)
    return Outcome(updates, warnings)


def _sampling(open_: Callable[[], RangeReader], warnings: list[str]) -> dict[str, Any]:
    """``defaultSamplingParams`` from ``generation_config.json`` (optional: a bad one is a warning)."""
    try:
        config: Any = _read_json(defaults.GENERATION_CONFIG_FILE, open_())
    except FileError as e:
        warnings.append(e.message)
        return {}
    sampling = defaults.sampling_defaults(config, warnings)
    return {"defaultSamplingParams": sampling} if sampling else {}


def validate_adapter(
    model: dict[str, Any],
    readers: Mapping[str, Callable[[], RangeReader]],
    flags: Flags,
    check_base_model: Callable[[str], None],
) -> Outcome:
    if hf_scan.ADAPTER_CONFIG_FILE not in readers:
        raise invalid_file(
            hf_scan.ADAPTER_CONFIG_FILE,
            f"missing: a {model.get('kind')} needs its adapter_config.json",
            "MISSING_FILE",
        )
    adapter = _read_json(hf_scan.ADAPTER_CONFIG_FILE, readers[hf_scan.ADAPTER_CONFIG_FILE]())
    weights = [p for p in sorted(readers) if p.endswith(".safetensors")]
    if not weights:
        raise invalid_file(ADAPTER_WEIGHTS[0], "missing: an adapter needs its weights (*.safetensors)",
                           "MISSING_FILE")  # fmt: skip
    for path in weights:
        check_safetensors(path, readers[path]())
    values: dict[str, Any] = {}
    warnings: list[str] = []
    huggingface.describe_adapter(adapter, values, warnings)
    found = values["peftDetails"]
    declared = dict(model.get("peftDetails") or {})
    if found["r"] is None:
        raise invalid_file(hf_scan.ADAPTER_CONFIG_FILE, "has no integer r (the LoRA rank)")
    if declared.get("r") and declared["r"] != found["r"]:
        raise invalid_file(
            hf_scan.ADAPTER_CONFIG_FILE,
            f"r is {found['r']} but the model's peftDetails.r is {declared['r']}",
            "ADAPTER_MISMATCH",
        )
    targets = found["targetModules"]
    if declared.get("targetModules") and sorted(declared["targetModules"]) != targets:
        raise invalid_file(
            hf_scan.ADAPTER_CONFIG_FILE,
            f"target_modules {targets} differ from the model's peftDetails.targetModules "
            f"{sorted(declared['targetModules'])}",
            "ADAPTER_MISMATCH",
        )
    base = declared.get("baseModel")
    if not base:
        raise invalid_file(
            hf_scan.ADAPTER_CONFIG_FILE, "the model has no peftDetails.baseModel to apply it to"
        )
    check_base_model(str(base))
    declared["r"] = found["r"]
    if targets:
        declared["targetModules"] = targets
    return Outcome({"peftDetails": declared}, warnings)
