"""Import Hugging Face checkpoints (local directories or the local HF cache) as Model resources.

Only small files are read: ``config.json``, ``adapter_config.json``, ``tokenizer_config.json``,
``chat_template.jinja`` / ``chat_template.json``, ``model.safetensors.index.json`` and the JSON
*header* of each ``*.safetensors`` file. Tensor data is never read and weights are never loaded.

The resulting :attr:`ImportedModel.resource` is a Model in canonical proto3 JSON: lowerCamelCase
keys in declaration order, enum values by name, int64 as decimal strings, default values omitted,
and no ``name`` / ``createTime`` / ``updateTime`` (the store assigns those).
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.aip.schema import Kind, MessageDecl
from modelyard.resources.model import MAX_DESCRIPTION, MAX_DISPLAY_NAME, MODEL

__all__ = [
    "MAX_SAFETENSORS_HEADER",
    "ImportedModel",
    "NotACheckpoint",
    "SafetensorsHeaderError",
    "context_length_of",
    "count_safetensors_parameters",
    "derive_model_id",
    "describe_adapter",
    "describe_base_model",
    "find_checkpoints",
    "header_parameter_count",
    "human_count",
    "inspect_checkpoint",
    "is_checkpoint",
    "is_moe",
    "is_valid_model_id",
    "parse_safetensors_header",
    "pick_chat_template",
    "read_safetensors_header",
    "repo_id_from_path",
    "scan_cache",
    "supports_image_input",
    "template_uses_tools",
]

#: Largest safetensors JSON header accepted (the format's own limit is 100 MB).
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: Largest JSON side file (config, tokenizer config, index, template) that is read.
MAX_JSON_FILE = 64 * 1024 * 1024

CONFIG_FILE = "config.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_JINJA_FILE = "chat_template.jinja"
CHAT_TEMPLATE_JSON_FILE = "chat_template.json"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
SINGLE_SAFETENSORS_FILE = "model.safetensors"

_MODEL_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_R_MIN, _R_MAX = 4, 64

#: Keys that hold the maximum context length, in order of preference.
_CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
    "max_seq_len",
)
#: Keys that hold the number of experts of a mixture-of-experts model.
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
#: Sub-configs of multimodal configs that describe the language model.
_TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
#: Keys whose (non-empty) presence means the model takes images.
_VISION_KEYS = ("vision_config", "vision_tower", "mm_vision_tower", "image_token_index")
#: Weight files that make a directory a full model rather than only an adapter.
_FULL_WEIGHT_RE = re.compile(r"^(model|pytorch_model|consolidated)([-.].*)?\.(safetensors|bin)$")
#: Jinja statements, expressions (not comments) in a chat template.
_JINJA_BLOCK_RE = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_TOOLS_WORD_RE = re.compile(r"\b(tools|tool_calls|tool_call)\b")
_CACHE_REPO_PREFIX = "models--"


class NotACheckpoint(Exception):
    """The path is not a Hugging Face checkpoint directory (or its main config cannot be read)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SafetensorsHeaderError(ValueError):
    """A safetensors file whose header cannot be used to count parameters."""


@dataclass
class ImportedModel:
    """What :func:`inspect_checkpoint` found: a Model resource ready for the store to name."""

    model_id: str
    resource: dict[str, Any]
    source: Path
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Model ids and repo ids


def is_valid_model_id(model_id: str) -> bool:
    """Whether ``model_id`` is a valid resource id (1-63 chars of ``a-z0-9-``, starts with a letter)."""
    return bool(_MODEL_ID_RE.fullmatch(model_id))


def derive_model_id(name: str) -> str:
    """A valid model id derived from a repo or directory name.

    ``"Qwen/Qwen2.5-0.5B-Instruct"`` and ``"Qwen2.5-0.5B-Instruct"`` both give
    ``"qwen2-5-0-5b-instruct"``. Only the last path segment is used.
    """
    base = name.rstrip("/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if not slug:
        slug = "model"
    if slug[0].isdigit():
        slug = "m-" + slug
    slug = slug[:63].rstrip("-")
    assert is_valid_model_id(slug), slug
    return slug


def repo_id_from_path(path: Path) -> str | None:
    """The repo id of a path inside the HF cache (``.../models--org--name/snapshots/<rev>``), or None."""
    repo_dir: Path | None = None
    if path.name.startswith(_CACHE_REPO_PREFIX):
        repo_dir = path
    else:
        for ancestor in path.parents:
            if ancestor.name == "snapshots" and ancestor.parent.name.startswith(_CACHE_REPO_PREFIX):
                repo_dir = ancestor.parent
                break
    if repo_dir is None or len(repo_dir.name) <= len(_CACHE_REPO_PREFIX):
        return None
    return repo_dir.name[len(_CACHE_REPO_PREFIX) :].replace("--", "/")


def _cache_repo_snapshot(repo_dir: Path) -> Path | None:
    """The snapshot a ``models--org--name`` cache directory's ``refs/main`` points to, else the newest."""
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        target = snapshots / ref.read_text(encoding="utf-8").strip()
        if target.is_dir():
            return target
    revisions = [p for p in snapshots.iterdir() if p.is_dir()]
    if not revisions:
        return None
    return max(revisions, key=lambda p: (p.stat().st_mtime, p.name))


# --------------------------------------------------------------------------------------------------
# Reading files


def _read_json(path: Path) -> Any:
    """Parse a JSON file; raises ValueError (with the reason) when it is too big or not JSON."""
    size = path.stat().st_size
    if size > MAX_JSON_FILE:
        raise ValueError(f"{path.name} is {size} bytes, larger than the {MAX_JSON_FILE}-byte limit")
    try:
        return json.loads(path.read_bytes())
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from exc


def _read_json_object(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, reading only the first ``8 + header length`` bytes.

    Raises :class:`SafetensorsHeaderError` for short files, absurd header lengths (over 100 MB)
    and headers that are not a JSON object. Raises OSError when the file cannot be opened.
    """
    with path.open("rb") as f:
        return parse_safetensors_header(lambda offset, n: os.pread(f.fileno(), n, offset), path.name)[0]


def parse_safetensors_header(read: Callable[[int, int], bytes], name: str) -> tuple[dict[str, Any], int]:
    """The JSON header of a safetensors file and its length, through ``read(offset, length)`` (a local
    file or ranged reads of a stored one). Raises :class:`SafetensorsHeaderError` as above."""
    prefix = read(0, 8)
    if len(prefix) < 8:
        raise SafetensorsHeaderError(f"{name}: file is shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > MAX_SAFETENSORS_HEADER:
        raise SafetensorsHeaderError(
            f"{name}: implausible header length {length} (limit {MAX_SAFETENSORS_HEADER} bytes)"
        )
    raw = read(8, length)
    if len(raw) < length:
        raise SafetensorsHeaderError(f"{name}: header truncated ({len(raw)} of {length} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise SafetensorsHeaderError(f"{name}: header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise SafetensorsHeaderError(f"{name}: header is not a JSON object")
    return header, length


def header_parameter_count(name: str, header: dict[str, Any]) -> int:
    """The number of tensor elements a safetensors header declares (``name`` is for the messages)."""
    total = 0
    for tensor, info in header.items():
        if tensor == "__metadata__":
            continue
        shape = info.get("shape") if isinstance(info, dict) else None
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise SafetensorsHeaderError(f"{name}: tensor {tensor!r} has no valid shape")
        total += math.prod(shape)
    return total


def count_safetensors_parameters(files: Iterable[Path]) -> int:
    """The number of tensor elements in the given safetensors files (each header read once)."""
    total = 0
    seen: set[Path] = set()
    for path in files:
        if path in seen:
            continue
        seen.add(path)
        total += header_parameter_count(path.name, read_safetensors_header(path))
    return total


def _list_files(directory: Path) -> list[str]:
    """Files under ``directory`` as sorted POSIX relative paths, skipping hidden files and directories."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_root = Path(root).relative_to(directory)
        for name in files:
            if name.startswith(".") or not os.path.exists(os.path.join(root, name)):
                continue
            found.append((rel_root / name).as_posix())
    return sorted(found)


def _weight_files(directory: Path, warnings: list[str]) -> list[Path] | None:
    """The safetensors files holding the model's weights, or None (with a warning) when unknown."""
    index = directory / SAFETENSORS_INDEX_FILE
    if index.is_file():
        try:
            weight_map = _read_json_object(index).get("weight_map")
        except (OSError, ValueError) as exc:
            warnings.append(f"{exc}; parameter count omitted")
            return None
        if not isinstance(weight_map, dict) or not weight_map:
            warnings.append(f"{SAFETENSORS_INDEX_FILE} has no weight_map; parameter count omitted")
            return None
        shards: list[Path] = []
        for shard in sorted({str(v) for v in weight_map.values()}):
            rel = Path(shard)
            if rel.is_absolute() or ".." in rel.parts:
                warnings.append(f"{SAFETENSORS_INDEX_FILE} names shard {shard!r} outside the checkpoint")
                return None
            if not (directory / rel).is_file():
                warnings.append(f"shard {shard} listed in {SAFETENSORS_INDEX_FILE} is missing")
                return None
            shards.append(directory / rel)
        return shards
    if (directory / SINGLE_SAFETENSORS_FILE).is_file():
        return [directory / SINGLE_SAFETENSORS_FILE]
    files = sorted(p for p in directory.glob("*.safetensors") if p.is_file())
    if not files:
        warnings.append("no *.safetensors weights found; parameter count omitted")
        return None
    return files


def _parameter_count(files: list[Path], warnings: list[str]) -> int | None:
    try:
        count = count_safetensors_parameters(files)
    except (OSError, SafetensorsHeaderError) as exc:
        warnings.append(f"cannot read safetensors header: {exc}; parameter count omitted")
        return None
    if count > _INT64_MAX:
        warnings.append(f"parameter count {count} does not fit in int64; omitted")
        return None
    return count


# --------------------------------------------------------------------------------------------------
# config.json rules


def _sub_configs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The config itself, then its language-model sub-configs (multimodal models)."""
    subs = [config]
    for key in _TEXT_CONFIG_KEYS:
        sub = config.get(key)
        if isinstance(sub, dict):
            subs.append(sub)
    return subs


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


def context_length_of(config: dict[str, Any]) -> int | None:
    """The maximum context length a ``config.json`` declares, or None."""
    for sub in _sub_configs(config):
        for key in _CONTEXT_KEYS:
            value = _positive_int(sub.get(key))
            if value is not None:
                return value
    return None


def is_moe(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes a mixture-of-experts model (more than one expert)."""
    for sub in _sub_configs(config):
        for key in _EXPERT_KEYS:
            value = _positive_int(sub.get(key))
            if value is not None and value > 1:
                return True
    return False


def supports_image_input(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes a model with a vision tower."""
    for key in _VISION_KEYS:
        value = config.get(key)
        if value is not None and value is not False and value != "" and value != {}:
            return True
    return False


# --------------------------------------------------------------------------------------------------
# Chat templates


def pick_chat_template(value: Any) -> str | None:
    """A chat template from a ``chat_template`` value: a string, or a list of {name, template}."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        named = [t for t in value if isinstance(t, dict) and isinstance(t.get("template"), str)]
        for entry in named:
            if entry.get("name") == "default":
                return str(entry["template"]) or None
        if named:
            return str(named[0]["template"]) or None
    return None


def template_uses_tools(template: str) -> bool:
    """Whether a Jinja chat template refers to ``tools`` / ``tool_calls`` / ``tool_call`` in its code.

    Only ``{% ... %}`` and ``{{ ... }}`` blocks are searched, so the words in literal template text
    (or ``{# comments #}``) do not count.
    """
    return any(_TOOLS_WORD_RE.search(block) for block in _JINJA_BLOCK_RE.findall(template))


def _chat_template(directory: Path, warnings: list[str]) -> str | None:
    """The chat template from ``chat_template.jinja``, ``tokenizer_config.json`` or ``chat_template.json``
    (the first that has one)."""
    jinja = directory / CHAT_TEMPLATE_JINJA_FILE
    if jinja.is_file():
        try:
            text = jinja.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            warnings.append(f"cannot read {CHAT_TEMPLATE_JINJA_FILE}: {exc}")
        else:
            if text.strip():
                return text
    for name in (TOKENIZER_CONFIG_FILE, CHAT_TEMPLATE_JSON_FILE):
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = _read_json_object(path)
        except (OSError, ValueError) as exc:
            warnings.append(f"ignoring {name}: {exc}")
            continue
        template = pick_chat_template(data.get("chat_template"))
        if template is not None:
            return template
    return None


# --------------------------------------------------------------------------------------------------
# Descriptions


def human_count(n: int) -> str:
    """``6736`` -> ``"6.74K"``, ``494032768`` -> ``"494M"``, ``7241732096`` -> ``"7.24B"``."""
    units = ("", "K", "M", "B", "T")
    value = float(n)
    for i, unit in enumerate(units):
        if float(f"{value:.3g}") < 1000 or i == len(units) - 1:
            return f"{value:.3g}{unit}" if unit else str(n)
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _architecture(config: dict[str, Any]) -> str | None:
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    return None


# --------------------------------------------------------------------------------------------------
# Canonical JSON


def _canonical(message: MessageDecl, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in declaration order, with proto3 default values (and unknown keys) dropped."""
    out: dict[str, Any] = {}
    for decl in message.fields:
        value = values.get(decl.json_name)
        if value is None or value is False or value == "" or value == 0 or value == [] or value == {}:
            continue
        if decl.kind is Kind.MESSAGE and decl.type.message is not None and isinstance(value, dict):
            value = _canonical(decl.type.message, value)
            if not value:
                continue
        elif decl.kind is Kind.INT64:
            value = str(value)
        elif decl.kind is Kind.ENUM and decl.type.enum is not None and value == decl.type.enum.values[0]:
            continue
        out[decl.json_name] = value
    return out


# --------------------------------------------------------------------------------------------------
# Public entry points


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a directory with a ``config.json`` or an ``adapter_config.json``."""
    return path.is_dir() and ((path / CONFIG_FILE).is_file() or (path / ADAPTER_CONFIG_FILE).is_file())


def _resolve_source(path: Path) -> Path:
    """A cache repo directory (``models--org--name``) stands for its current snapshot."""
    if path.name.startswith(_CACHE_REPO_PREFIX) and not is_checkpoint(path):
        snapshot = _cache_repo_snapshot(path)
        if snapshot is not None:
            return snapshot
    return path


def inspect_checkpoint(path: Path, *, model_id: str | None = None) -> ImportedModel:
    """Describe the checkpoint in directory ``path`` as a Model resource, reading only small files.

    ``path`` may be a plain directory, an HF cache snapshot (``.../models--org--name/snapshots/<rev>``)
    or an HF cache repo directory (``.../models--org--name``, meaning the snapshot of ``refs/main``).
    Raises :class:`NotACheckpoint` when there is no ``config.json`` / ``adapter_config.json`` (or the
    one that decides the kind is not a readable JSON object), and ValueError for an invalid
    ``model_id``. Everything else that is missing or malformed becomes a warning.
    """
    if not path.exists():
        raise NotACheckpoint(path, "no such directory")
    if not path.is_dir():
        raise NotACheckpoint(path, "not a directory")
    source = _resolve_source(path)
    has_config = (source / CONFIG_FILE).is_file()
    has_adapter = (source / ADAPTER_CONFIG_FILE).is_file()
    if not has_config and not has_adapter:
        raise NotACheckpoint(path, f"no {CONFIG_FILE} or {ADAPTER_CONFIG_FILE} found")

    warnings: list[str] = []
    files = _list_files(source)
    full_weights = any(_FULL_WEIGHT_RE.match(f) for f in files)
    is_adapter = has_adapter and not (has_config and full_weights)
    if has_adapter and not is_adapter:
        warnings.append(f"{ADAPTER_CONFIG_FILE} ignored: the directory holds full model weights")

    repo_id = repo_id_from_path(source)
    name = repo_id.rsplit("/", 1)[-1] if repo_id else source.resolve().name
    if model_id is None:
        model_id = derive_model_id(name)
    elif not is_valid_model_id(model_id):
        raise ValueError(
            f"invalid model id {model_id!r}: use 1-63 characters a-z, 0-9 and '-', "
            "starting with a letter and not ending with '-'"
        )
    display_name = name
    if len(display_name) > MAX_DISPLAY_NAME:
        display_name = display_name[:MAX_DISPLAY_NAME]
        warnings.append(f"display name cut to {MAX_DISPLAY_NAME} characters")

    values: dict[str, Any] = {
        "displayName": display_name,
        "state": "READY",
        "importedFrom": repo_id or str(source.resolve()),
    }
    if repo_id:
        values["huggingFaceUrl"] = f"https://huggingface.co/{repo_id}"

    try:
        if is_adapter:
            description = _inspect_adapter(source, values, warnings)
        else:
            description = _inspect_base_model(source, files, values, warnings)
    except (OSError, ValueError) as exc:  # config.json / adapter_config.json unreadable
        raise NotACheckpoint(path, str(exc)) from exc

    template = _chat_template(source, warnings)
    if template is not None:
        values["conversationConfig"] = {"style": "jinja", "template": template}
        values["supportsTools"] = template_uses_tools(template)

    if repo_id:
        description += f" Imported from Hugging Face {repo_id}."
    values["description"] = _truncate(description, MAX_DESCRIPTION)
    resource = _canonical(MODEL, values)
    return ImportedModel(model_id=model_id, resource=resource, source=source, warnings=warnings)


def _inspect_base_model(source: Path, files: list[str], values: dict[str, Any], warnings: list[str]) -> str:
    """Fill ``values`` for an HF_BASE_MODEL; returns the description. Raises ValueError on a bad config."""
    config = _read_json_object(source / CONFIG_FILE)

    def parameter_count() -> int | None:
        weight_files = _weight_files(source, warnings)
        return _parameter_count(weight_files, warnings) if weight_files is not None else None

    return describe_base_model(config, files, parameter_count, values, warnings)


def describe_base_model(
    config: dict[str, Any],
    files: list[str],
    parameter_count_of: Callable[[], int | None],
    values: dict[str, Any],
    warnings: list[str],
) -> str:
    """Fill ``values`` for an HF_BASE_MODEL from its parsed ``config.json``, its file list and its
    parameter count (asked for after the config's warnings); returns the description. Shared by the
    importer and the upload validation (``modelyard.files.validate``)."""
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        warnings.append(f"{CONFIG_FILE} has no model_type")
        model_type = None
    context_length = context_length_of(config)
    if context_length is None:
        warnings.append(f"{CONFIG_FILE} declares no context length")
    elif context_length > _INT32_MAX:
        warnings.append(f"context length {context_length} does not fit in int32; omitted")
        context_length = None
    moe = is_moe(config)
    quant = config.get("quantization_config")
    if isinstance(quant, dict):
        method = quant.get("quant_method", "unknown method")
        warnings.append(
            f"checkpoint is quantized ({method}): parameterCount counts stored tensor elements, "
            "which may differ from the original parameter count"
        )

    parameter_count = parameter_count_of()

    values["kind"] = "HF_BASE_MODEL"
    values["baseModelDetails"] = {
        "checkpointFormat": "HUGGINGFACE",
        "huggingfaceFiles": files,
        "parameterCount": parameter_count,
        "modelType": model_type,
        "moe": moe,
    }
    values["contextLength"] = context_length
    values["supportsImageInput"] = supports_image_input(config)

    arch = _architecture(config) or model_type or "unknown architecture"
    parts = [f"Hugging Face {arch} checkpoint"]
    if model_type and model_type != arch:
        parts[0] += f" (model type {model_type})"
    size = f"{human_count(parameter_count)} parameters" if parameter_count else "parameter count unknown"
    parts.append(size)
    if moe:
        parts.append("mixture of experts")
    if values["supportsImageInput"]:
        parts.append("image input")
    if context_length:
        parts.append(f"{context_length}-token context")
    return ", ".join(parts) + "."


def _inspect_adapter(source: Path, values: dict[str, Any], warnings: list[str]) -> str:
    """Fill ``values`` for an HF_PEFT_ADDON; returns the description. Raises ValueError on a bad config."""
    return describe_adapter(_read_json_object(source / ADAPTER_CONFIG_FILE), values, warnings)


def describe_adapter(adapter: dict[str, Any], values: dict[str, Any], warnings: list[str]) -> str:
    """Fill ``values`` (``kind``, ``peftDetails``) from a parsed ``adapter_config.json``; returns the
    description. Shared by the importer and the upload validation."""
    peft_type = adapter.get("peft_type")
    if isinstance(peft_type, str) and peft_type.upper() != "LORA":
        warnings.append(f"peft_type is {peft_type}, not LORA")

    base_model = adapter.get("base_model_name_or_path")
    if not isinstance(base_model, str) or not base_model:
        warnings.append(f"{ADAPTER_CONFIG_FILE} has no base_model_name_or_path")
        base_model = None

    raw_r = adapter.get("r")
    r = raw_r if isinstance(raw_r, int) and not isinstance(raw_r, bool) else None
    if r is None:
        warnings.append(f"{ADAPTER_CONFIG_FILE} has no integer r")
    elif not _R_MIN <= r <= _R_MAX:
        warnings.append(f"LoRA rank r={r} is outside {_R_MIN}..{_R_MAX} (the API rejects it on create)")

    raw_targets = adapter.get("target_modules")
    if isinstance(raw_targets, str):
        targets = [raw_targets] if raw_targets else []
    elif isinstance(raw_targets, list):
        targets = sorted({str(t) for t in raw_targets if isinstance(t, str) and t})
    else:
        targets = []
    if not targets:
        warnings.append(f"{ADAPTER_CONFIG_FILE} has no target_modules")

    values["kind"] = "HF_PEFT_ADDON"
    values["peftDetails"] = {"baseModel": base_model, "r": r, "targetModules": targets}

    kind = "LoRA" if peft_type is None or str(peft_type).upper() == "LORA" else str(peft_type)
    text = f"Hugging Face {kind} adapter"
    if r is not None:
        text += f" (r={r})"
    text += f" for {base_model}" if base_model else " for an unknown base model"
    if targets:
        text += f", targeting {', '.join(targets)}"
    return text + "."


def scan_cache(cache_dir: Path | None = None) -> list[tuple[str, Path]]:
    """Every model repo in the local HF cache as ``(repo_id, snapshot path)``, sorted by repo id.

    The snapshot is the most recently modified revision (ties go to the one ``refs/main`` names).
    ``cache_dir`` defaults to the huggingface_hub default (``HF_HUB_CACHE``). A cache directory that
    does not exist gives an empty list; repos the scan reports as corrupted are skipped.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    found: list[tuple[str, Path]] = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        latest = max(repo.revisions, key=lambda r: (r.last_modified, "main" in r.refs, r.commit_hash))
        found.append((repo.repo_id, Path(latest.snapshot_path)))
    return sorted(found)


def find_checkpoints(paths: Iterable[Path]) -> Iterator[Path | NotACheckpoint]:
    """Checkpoint directories found at ``paths``; a :class:`NotACheckpoint` for each path with none.

    A path may be a checkpoint directory, an HF cache repo directory (``models--org--name``), an HF
    cache root (holding ``models--*`` directories), or a directory whose immediate subdirectories
    are checkpoints.
    """
    for path in paths:
        if not path.is_dir():
            yield NotACheckpoint(path, "no such directory" if not path.exists() else "not a directory")
            continue
        resolved = _resolve_source(path)
        if is_checkpoint(resolved):
            yield resolved
            continue
        found = False
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            candidate = _resolve_source(child)
            if is_checkpoint(candidate):
                found = True
                yield candidate
        if not found:
            yield NotACheckpoint(path, f"no {CONFIG_FILE} or {ADAPTER_CONFIG_FILE} found")
