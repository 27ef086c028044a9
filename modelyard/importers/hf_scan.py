"""Finding Hugging Face checkpoints on disk and reading their small files: checkpoint directories, the
local HF cache (``models--org--name/snapshots/<rev>``), model ids derived from repo names, JSON side files,
the weight files and their parameter count, and the chat template."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from modelyard.aip.schema import INT64_RANGE
from modelyard.importers import jsonlimits
from modelyard.importers.safetensors import SafetensorsHeaderError, count_safetensors_parameters
from modelyard.resources.model import is_valid_id

#: Largest JSON side file (config, tokenizer config, index, template) that is read.
MAX_JSON_FILE = 64 * 1024 * 1024
#: Largest ``chat_template.jinja`` that is read (real templates have tens of kilobytes).
MAX_TEMPLATE_FILE = 1024 * 1024

CONFIG_FILE = "config.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_JINJA_FILE = "chat_template.jinja"
CHAT_TEMPLATE_JSON_FILE = "chat_template.json"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
SINGLE_SAFETENSORS_FILE = "model.safetensors"
CACHE_REPO_PREFIX = "models--"

_INT64_MAX = INT64_RANGE[1]


class NotACheckpoint(Exception):
    """The path is not a Hugging Face checkpoint directory (or its main config cannot be read)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_valid_model_id(model_id: str) -> bool:
    """Whether ``model_id`` is a valid resource id (1-63 chars of ``a-z0-9-``, starts with a letter)."""
    return is_valid_id(model_id)


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
    if path.name.startswith(CACHE_REPO_PREFIX):
        repo_dir = path
    else:
        for ancestor in path.parents:
            if ancestor.name == "snapshots" and ancestor.parent.name.startswith(CACHE_REPO_PREFIX):
                repo_dir = ancestor.parent
                break
    if repo_dir is None or len(repo_dir.name) <= len(CACHE_REPO_PREFIX):
        return None
    return repo_dir.name[len(CACHE_REPO_PREFIX) :].replace("--", "/")


def cache_repo_snapshot(repo_dir: Path) -> Path | None:
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


def read_json(path: Path) -> Any:
    """Parse a JSON file; raises ValueError (with the reason) when it is too big or not JSON."""
    size = path.stat().st_size
    if size > MAX_JSON_FILE:
        raise ValueError(f"{path.name} is {size} bytes, larger than the {MAX_JSON_FILE}-byte limit")
    try:
        return jsonlimits.loads(path.read_bytes())
    except ValueError as exc:  # malformed, too deeply nested, a flood of arrays (jsonlimits)
        reason = str(exc)
        raise ValueError(f"{path.name} {'is ' if reason.startswith('not ') else ''}{reason}") from exc


def read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def list_files(directory: Path) -> list[str]:
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


def weight_files(directory: Path, warnings: list[str]) -> list[Path] | None:
    """The safetensors files holding the model's weights, or None (with a warning) when unknown."""
    index = directory / SAFETENSORS_INDEX_FILE
    if index.is_file():
        try:
            weight_map = read_json_object(index).get("weight_map")
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


def parameter_count_of(files: list[Path], warnings: list[str]) -> int | None:
    try:
        count = count_safetensors_parameters(files)
    except (OSError, SafetensorsHeaderError) as exc:
        warnings.append(f"cannot read safetensors header: {exc}; parameter count omitted")
        return None
    if count > _INT64_MAX:
        warnings.append(f"parameter count {count} does not fit in int64; omitted")
        return None
    return count


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


def chat_template(directory: Path, warnings: list[str]) -> str | None:
    """The chat template from ``chat_template.jinja``, ``tokenizer_config.json`` or ``chat_template.json``
    (the first that has one)."""
    jinja = directory / CHAT_TEMPLATE_JINJA_FILE
    if jinja.is_file() and jinja.stat().st_size > MAX_TEMPLATE_FILE:
        warnings.append(f"ignoring {CHAT_TEMPLATE_JINJA_FILE}: larger than {MAX_TEMPLATE_FILE:,} bytes")
    elif jinja.is_file():
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
            data = read_json_object(path)
        except (OSError, ValueError) as exc:
            warnings.append(f"ignoring {name}: {exc}")
            continue
        template = pick_chat_template(data.get("chat_template"))
        if template is not None:
            return template
    return None


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a directory with a ``config.json`` or an ``adapter_config.json``."""
    return path.is_dir() and ((path / CONFIG_FILE).is_file() or (path / ADAPTER_CONFIG_FILE).is_file())


def resolve_source(path: Path) -> Path:
    """A cache repo directory (``models--org--name``) stands for its current snapshot."""
    if path.name.startswith(CACHE_REPO_PREFIX) and not is_checkpoint(path):
        snapshot = cache_repo_snapshot(path)
        if snapshot is not None:
            return snapshot
    return path


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
        resolved = resolve_source(path)
        if is_checkpoint(resolved):
            yield resolved
            continue
        found = False
        for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            candidate = resolve_source(child)
            if is_checkpoint(candidate):
                found = True
                yield candidate
        if not found:
            yield NotACheckpoint(path, f"no {CONFIG_FILE} or {ADAPTER_CONFIG_FILE} found")
