"""The CNCF ModelPack manifest of a revision: one raw layer per file, a config from the Model's fields.

``build(...)`` is a pure function of the repository, the Model resource and the revision (commit id, time,
files and what ``config.json`` says). Its JSON is canonical (keys sorted, no spaces, layers sorted by
path), and the door keeps the first manifest built for a commit (``store/oci.py``), so a revision's
manifest digest never changes, even when the Model's fields do later.

Media types and annotations are the model-spec's (``modelpack/model-spec``, ``docs/spec.md``,
``docs/annotations.md``, ``docs/config.md``): weights ``application/vnd.cncf.model.weight.v1.raw``,
configuration files ``...weight.config.v1.raw``, documentation ``...doc.v1.raw``, code ``...code.v1.raw``;
each layer names its file with ``org.cncf.model.filepath`` and ``org.opencontainers.image.title``.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"
FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"
REVISION = "org.opencontainers.image.revision"

_WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".gguf",
    ".onnx",
    ".h5",
    ".msgpack",
    ".ckpt",
    ".npz",
)
_CONFIG_SUFFIXES = (".json", ".jinja", ".model", ".tiktoken", ".yaml", ".yml", ".txt.vocab")
_CONFIG_NAMES = ("merges.txt", "vocab.txt", "vocab.json", "tokenizer.model")
_DOC_PREFIXES = ("readme", "license", "licence", "notice", "copying", "model_card", "use_policy")
_DOC_SUFFIXES = (".md", ".txt", ".rst", ".pdf", ".png", ".jpg", ".jpeg", ".svg", ".gif")
_CODE_SUFFIXES = (".py", ".sh", ".ipynb", ".js", ".cu", ".cpp", ".c", ".h")

#: config.json's ``torch_dtype`` -> ModelPack precision.
_PRECISIONS = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float64": "fp64", "int8": "int8"}


@dataclass(frozen=True)
class File:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Revision:
    """What a manifest is built from: the commit, its time (RFC 3339 UTC) and its files."""

    commit_id: str
    created: str
    files: Sequence[File]


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def media_type(path: str) -> str:
    """The ModelPack layer media type of a file of a model."""
    name = posixpath.basename(path).lower()
    if name.endswith(_WEIGHT_SUFFIXES):
        return WEIGHT
    if name in _CONFIG_NAMES or name.endswith(_CONFIG_SUFFIXES):
        return WEIGHT_CONFIG
    if name.startswith(_DOC_PREFIXES) or name.endswith(_DOC_SUFFIXES):
        return DOC
    if name.endswith(_CODE_SUFFIXES):
        return CODE
    return WEIGHT


def param_size(count: int) -> str:
    """``8b``, ``1.5b``, ``494m``: a count with at most one decimal and a scale letter (model-spec)."""
    for scale, letter in ((10**15, "q"), (10**12, "t"), (10**9, "b"), (10**6, "m"), (10**3, "k")):
        if count >= scale:
            text = f"{count / scale:.1f}".removesuffix(".0")
            return text + letter
    return str(count)


def _precision(hf_config: dict[str, Any]) -> tuple[str | None, str | None]:
    quant = hf_config.get("quantization_config")
    method = quant.get("quant_method") if isinstance(quant, dict) else None
    if method == "fp8":
        return "fp8", "fp8"
    dtype = hf_config.get("torch_dtype", hf_config.get("dtype"))
    precision = _PRECISIONS.get(dtype) if isinstance(dtype, str) else None
    return precision, method if isinstance(method, str) else None


def config_document(
    account_id: str, model_id: str, model: dict[str, Any], revision: Revision, hf_config: dict[str, Any]
) -> dict[str, Any]:
    """The ``application/vnd.cncf.model.config.v1+json`` document (model-spec ``docs/config.md``)."""
    details = model.get("baseModelDetails") or {}
    descriptor: dict[str, Any] = {
        "name": f"{account_id}/{model_id}",
        "createdAt": revision.created,
        "revision": revision.commit_id,
        "vendor": account_id,
    }
    if model.get("displayName"):
        descriptor["title"] = model["displayName"]
    if model.get("description"):
        descriptor["description"] = model["description"]
    if details.get("modelType"):
        descriptor["family"] = details["modelType"]
    if model.get("githubUrl"):
        descriptor["sourceURL"] = model["githubUrl"]
    if model.get("huggingFaceUrl"):
        descriptor["docURL"] = model["huggingFaceUrl"]
    config: dict[str, Any] = {}
    paths = [f.path for f in revision.files]
    if any(p.endswith(".safetensors") for p in paths):
        config["format"] = "safetensors"
    elif any(p.endswith(".gguf") for p in paths):
        config["format"] = "gguf"
    if details.get("modelType") or hf_config.get("architectures"):
        config["architecture"] = "transformer"
    if details.get("parameterCount"):
        config["paramSize"] = param_size(int(details["parameterCount"]))
    precision, quantization = _precision(hf_config)
    if precision:
        config["precision"] = precision
    if quantization:
        config["quantization"] = quantization
    capabilities: dict[str, Any] = {
        "inputTypes": ["text", "image"] if model.get("supportsImageInput") else ["text"]
    }
    if model.get("supportsTools"):
        capabilities["toolUsage"] = True
    config["capabilities"] = capabilities
    layers = sorted(revision.files, key=lambda f: f.path)
    return {
        "descriptor": descriptor,
        "config": config,
        "modelfs": {"type": "layers", "diffIds": [f"sha256:{f.sha256}" for f in layers]},
    }


def build(
    account_id: str, model_id: str, model: dict[str, Any], revision: Revision, hf_config: dict[str, Any]
) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """``((manifest digest, manifest bytes), (config digest, config bytes))`` of a revision."""
    config = canonical(config_document(account_id, model_id, model, revision, hf_config))
    layers = [
        {
            "mediaType": media_type(f.path),
            "digest": f"sha256:{f.sha256}",
            "size": f.size,
            "annotations": {FILEPATH: f.path, TITLE: f.path},
        }
        for f in sorted(revision.files, key=lambda f: f.path)
    ]
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": digest_of(config), "size": len(config)},
            "layers": layers,
            "annotations": {CREATED: revision.created, REVISION: revision.commit_id},
        }
    )
    return (digest_of(manifest), manifest), (digest_of(config), config)
