"""``:validateUpload``: check the uploaded files of a model by its kind and derive what they say.

Reads only what it needs through ranged reads of the stored files: JSON side files (config, adapter
config, tokenizer config, chat template, safetensors index) and the header of each ``*.safetensors``
file (8 bytes of length, then the JSON header). Tensor data is never read; its length is checked
against the header's offsets. The mapping from ``config.json`` / ``adapter_config.json`` to Model fields
is the Hugging Face importer's (``modelyard.importers.huggingface``), so an uploaded checkpoint and an
imported one are described alike; the default precision (from the weights' dtypes) and the sampling
defaults (from ``generation_config.json``) are :mod:`modelyard.files.defaults`'. ``trustRemoteCode``
never executes anything.

The files are a stranger's, so every read is capped and every check is linear in what it reads: a JSON
side file is read only when it has at most :data:`MAX_JSON_BYTES`, a safetensors header at most
:data:`MAX_HEADER_BYTES` (the reference loader allows 100 MB; real headers are well under 1 MiB), a chat
template at most :data:`MAX_TEMPLATE_BYTES`; JSON is parsed within the bounds of
:mod:`modelyard.importers.jsonlimits` (no deep nesting, no integer of more than 20 digits in a side file,
no flood of empty arrays); the parsing and the template scan run in a child process
(:mod:`modelyard.files.sandbox`) so that they never hold the server's event loop. Each refusal is an
``INVALID_ARGUMENT`` naming the file. What validation fills into the Model is held to the same limits
as the API's input (:func:`check_model_limits`): a 5,000-character ``model_type`` or a NUL in it is
refused, naming ``config.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.files import defaults, sandbox
from modelyard.files.errors import FileError, invalid_file
from modelyard.importers import hf_config, hf_scan, huggingface, jsonlimits, safetensors
from modelyard.resources.codec import ResourceError, decode_message
from modelyard.resources.model import MODEL
from modelyard.storage.base import RangeReader

#: Files that make a tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors",)

#: Most bytes of a JSON side file (config, adapter config, tokenizer config, chat template, index).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Most bytes of a safetensors JSON header (the reference loader's limit is 100 MB; a shard of 100,000
#: tensors has about 12 MB).
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: Most bytes (UTF-8) of a chat template, from ``chat_template.jinja`` or a JSON file.
MAX_TEMPLATE_BYTES = 1024 * 1024


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


def _too_large(path: str, size: int, limit: int, what: str = "") -> FileError:
    return invalid_file(path, f"{what}{size:,} bytes is more than the {limit:,}-byte limit", "FILE_TOO_LARGE")


def _isolated(path: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in the checking process; a check that fails there is a refusal of ``path``."""
    try:
        return sandbox.run(function, *args)
    except sandbox.CheckFailed as e:
        raise invalid_file(path, f"cannot be checked: {e}", "FILE_TOO_COMPLEX") from None


def _read_json(path: str, reader: RangeReader) -> dict[str, Any]:
    if reader.size > MAX_JSON_BYTES:
        raise _too_large(path, reader.size, MAX_JSON_BYTES)
    raw = reader.read(0, reader.size)
    try:
        data = _isolated(path, jsonlimits.loads, raw, jsonlimits.MAX_INT_DIGITS)
    except ValueError as e:
        raise invalid_file(path, str(e), "INVALID_JSON_FILE") from None
    if not isinstance(data, dict):
        raise invalid_file(path, "not a JSON object", "INVALID_JSON_FILE")
    return data


def check_safetensors(path: str, reader: RangeReader) -> int:
    """Check a safetensors header against the file (as the reference loader does:
    :func:`modelyard.importers.safetensors.check_header`); returns the number of parameters."""
    try:
        raw = safetensors.read_header_bytes(reader.read, path, MAX_HEADER_BYTES)
        return int(_isolated(path, safetensors.check_header, raw, reader.size, path))
    except safetensors.SafetensorsHeaderError as e:
        message = str(e).removeprefix(f"{path}: ")
        raise invalid_file(path, f"not a valid safetensors file: {message}", "INVALID_SAFETENSORS") from None


def _template_text(path: str, template: str) -> str:
    size = len(template.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise _too_large(path, size, MAX_TEMPLATE_BYTES, "its chat template of ")
    return template


def _chat_template(readers: Mapping[str, Callable[[], RangeReader]], warnings: list[str]) -> str | None:
    if hf_scan.CHAT_TEMPLATE_JINJA_FILE in readers:
        reader = readers[hf_scan.CHAT_TEMPLATE_JINJA_FILE]()
        if reader.size > MAX_TEMPLATE_BYTES:
            raise _too_large(hf_scan.CHAT_TEMPLATE_JINJA_FILE, reader.size, MAX_TEMPLATE_BYTES)
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
                return _template_text(name, template)
    return None


def _uses_tools(template: str) -> bool:
    return bool(_isolated("chat template", hf_config.template_uses_tools, template))


def check_model_limits(updates: dict[str, Any], source: str) -> None:
    """Refuse, naming ``source`` (the file the values came from), Model fields that the API's own input
    limits (:mod:`modelyard.resources.limits`: string lengths, NUL characters, list sizes) would refuse."""
    try:
        decode_message(MODEL, updates, path="", allow_output_only=True, partial=True)
    except ResourceError as e:
        raise invalid_file(
            source, f"gives the model a value it cannot hold: {e.field}: {e.message}", "INVALID_MODEL_FILE"
        ) from None


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
        updates["supportsTools"] = _uses_tools(template)
    check_model_limits(updates, hf_scan.CONFIG_FILE)
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
    check_model_limits({"peftDetails": declared}, hf_scan.ADAPTER_CONFIG_FILE)
    return Outcome({"peftDetails": declared}, warnings)
