"""Import Hugging Face checkpoints (local directories or the local HF cache) as Model resources.

Only small files are read: ``config.json``, ``adapter_config.json``, ``tokenizer_config.json``,
``chat_template.jinja`` / ``chat_template.json``, ``model.safetensors.index.json`` and the JSON
*header* of each ``*.safetensors`` file. Tensor data is never read and weights are never loaded.

The resulting :attr:`ImportedModel.resource` is a Model in canonical proto3 JSON: lowerCamelCase
keys in declaration order, enum values by name, int64 as decimal strings, default values omitted,
and no ``name`` / ``createTime`` / ``updateTime`` (the store assigns those).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.aip.schema import INT32_RANGE, Kind, MessageDecl
from modelyard.importers.hf_config import (
    architecture_of,
    context_length_of,
    human_count,
    is_moe,
    supports_image_input,
    template_uses_tools,
    truncate,
)
from modelyard.importers.hf_scan import (
    ADAPTER_CONFIG_FILE,
    CONFIG_FILE,
    NotACheckpoint,
    chat_template,
    derive_model_id,
    find_checkpoints,
    is_checkpoint,
    is_valid_model_id,
    list_files,
    parameter_count_of,
    read_json_object,
    repo_id_from_path,
    resolve_source,
    scan_cache,
    weight_files,
)
from modelyard.importers.safetensors import (
    MAX_SAFETENSORS_HEADER,
    SafetensorsHeaderError,
    count_safetensors_parameters,
    read_safetensors_header,
)
from modelyard.resources.codec import is_default
from modelyard.resources.model import MAX_DESCRIPTION, MAX_DISPLAY_NAME, MODEL

__all__ = [
    "MAX_SAFETENSORS_HEADER",
    "ImportedModel",
    "NotACheckpoint",
    "SafetensorsHeaderError",
    "context_length_of",
    "count_safetensors_parameters",
    "derive_model_id",
    "find_checkpoints",
    "human_count",
    "inspect_checkpoint",
    "is_checkpoint",
    "is_moe",
    "is_valid_model_id",
    "read_safetensors_header",
    "repo_id_from_path",
    "scan_cache",
    "supports_image_input",
    "template_uses_tools",
]

_INT32_MAX = INT32_RANGE[1]
_R_MIN, _R_MAX = 4, 64
#: Weight files that make a directory a full model rather than only an adapter.
_FULL_WEIGHT_RE = re.compile(r"^(model|pytorch_model|consolidated)([-.].*)?\.(safetensors|bin)$")


@dataclass
class ImportedModel:
    """What :func:`inspect_checkpoint` found: a Model resource ready for the store to name."""

    model_id: str
    resource: dict[str, Any]
    source: Path
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Canonical JSON


def _canonical(message: MessageDecl, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in declaration order, with proto3 default values (and unknown keys) dropped."""
    out: dict[str, Any] = {}
    for decl in message.fields:
        value = values.get(decl.json_name)
        if decl.kind is Kind.INT64 and type(value) is int:
            value = str(value)
        if value is None or is_default(decl, value):
            continue
        if decl.kind is Kind.MESSAGE and decl.type.message is not None and isinstance(value, dict):
            value = _canonical(decl.type.message, value)
            if not value:
                continue
        out[decl.json_name] = value
    return out


# --------------------------------------------------------------------------------------------------
# Public entry point


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
    source = resolve_source(path)
    has_config = (source / CONFIG_FILE).is_file()
    has_adapter = (source / ADAPTER_CONFIG_FILE).is_file()
    if not has_config and not has_adapter:
        raise NotACheckpoint(path, f"no {CONFIG_FILE} or {ADAPTER_CONFIG_FILE} found")

    warnings: list[str] = []
    files = list_files(source)
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

    values: dict[str, Any] = {"displayName": display_name, "state": "READY"}
    if repo_id:
        # Only the repo id: a local path would show the importing machine's folders to every reader.
        values["importedFrom"] = repo_id
        values["huggingFaceUrl"] = f"https://huggingface.co/{repo_id}"

    try:
        if is_adapter:
            description = _inspect_adapter(source, values, warnings)
        else:
            description = _inspect_base_model(source, files, values, warnings)
    except (OSError, ValueError) as exc:  # config.json / adapter_config.json unreadable
        raise NotACheckpoint(path, str(exc)) from exc

    template = chat_template(source, warnings)
    if template is not None:
        values["conversationConfig"] = {"style": "jinja", "template": template}
        values["supportsTools"] = template_uses_tools(template)

    if repo_id:
        description += f" Imported from Hugging Face {repo_id}."
    values["description"] = truncate(description, MAX_DESCRIPTION)
    resource = _canonical(MODEL, values)
    return ImportedModel(model_id=model_id, resource=resource, source=source, warnings=warnings)


def _inspect_base_model(source: Path, files: list[str], values: dict[str, Any], warnings: list[str]) -> str:
    """Fill ``values`` for an HF_BASE_MODEL; returns the description. Raises ValueError on a bad config."""
    config = read_json_object(source / CONFIG_FILE)

    def parameter_count() -> int | None:
        weights = weight_files(source, warnings)
        return parameter_count_of(weights, warnings) if weights is not None else None

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

    arch = architecture_of(config) or model_type or "unknown architecture"
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
    return describe_adapter(read_json_object(source / ADAPTER_CONFIG_FILE), values, warnings)


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
