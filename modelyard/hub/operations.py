"""What a Hub commit says, parsed (``HubUploads.commit`` applies it): the NDJSON lines ``create_commit``
sends (``header``, ``file`` inline in base64, ``lfsFile``, ``deletedFile``, ``deletedFolder``, and the
``copies`` lines of huggingface_hub before 0.25), the checks of paths and LFS oids, and which files the
``preupload`` answer sends through LFS (:func:`upload_mode`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.files.errors import FileError
from modelyard.files.names import check_file_name
from modelyard.hub.errors import HubError

#: Files up to this size (and not binary, and not weights) are sent inline in the commit.
REGULAR_MAX_BYTES = 1 << 20
#: Suffixes that always go through LFS (what the Hub's default ``.gitattributes`` marks).
LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5", ".msgpack",
    ".model", ".npy", ".npz", ".pkl", ".pickle", ".tflite", ".ot", ".zip", ".tar", ".gz", ".zst",
    ".arrow", ".parquet", ".joblib", ".mlmodel", ".pb", ".wasm",
)  # fmt: skip
#: The most operations one commit may carry.
MAX_OPERATIONS = 10_000

_SHA256 = re.compile(r"[0-9a-f]{64}")


def upload_mode(path: str, size: int, sample: bytes) -> str:
    """``"lfs"`` or ``"regular"`` for a file about to be committed (the ``preupload`` answer)."""
    if size == 0:
        return "regular"
    if size > REGULAR_MAX_BYTES or b"\x00" in sample or path.lower().endswith(LFS_SUFFIXES):
        return "lfs"
    return "regular"


def check_oid(oid: Any) -> str:
    if not isinstance(oid, str) or _SHA256.fullmatch(oid) is None:
        raise HubError(400, f"{oid!r} is not a SHA-256 (64 lower-case hex digits)")
    return oid


def check_file_path(path: Any, what: str = "path") -> str:
    """A path in the repository: relative, ``/``-separated segments of ``[A-Za-z0-9._-]``."""
    if not isinstance(path, str):
        raise HubError(400, f"{what} must be a string")
    try:
        check_file_name(path)
    except FileError as e:
        raise HubError(400, f"{what} {path!r}: {e.message.split(']: ', 1)[-1]}") from None
    return path


@dataclass
class Operations:
    """A commit's NDJSON body, parsed: the header and what happens to each path."""

    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    #: path -> (sha256, size) added or replaced; None: deleted.
    changes: dict[str, tuple[str, int] | None] = field(default_factory=dict)
    #: Inline files to store first: sha256 -> bytes.
    inline: dict[str, bytes] = field(default_factory=dict)
    deleted_files: list[str] = field(default_factory=list)
    deleted_folders: list[str] = field(default_factory=list)
    #: LFS files named without a size (copies): path -> sha256.
    unsized: dict[str, str] = field(default_factory=dict)
    #: Copies in the older form (``{"key": "copies"}``): (source path, source revision, destination).
    copies: list[tuple[str, str | None, str]] = field(default_factory=list)


def parse_operations(lines: Iterable[Mapping[str, Any]]) -> Operations:
    """The operations of a commit body (one JSON object per line, ``{"key": ..., "value": ...}``)."""
    ops = Operations()
    header_seen = False
    for count, item in enumerate(lines, start=1):
        key, value = item.get("key"), item.get("value")
        if not isinstance(value, dict):
            raise HubError(400, f"commit line {count}: 'value' must be an object")
        if count > MAX_OPERATIONS + 1:
            raise HubError(400, f"a commit may carry at most {MAX_OPERATIONS} operations")
        if key == "header":
            header_seen = True
            summary, description = value.get("summary", ""), value.get("description", "")
            if not isinstance(summary, str) or not isinstance(description, str):
                raise HubError(400, "the commit summary and description must be strings")
            ops.summary, ops.description = summary, description
            parent = value.get("parentCommit")
            if parent is not None:
                if not isinstance(parent, str) or not re.fullmatch(r"[0-9a-f]{40}", parent):
                    raise HubError(400, f"parentCommit {parent!r} is not a commit id (40 hex digits)")
                ops.parent_commit = parent
        elif key == "file":
            path = check_file_path(value.get("path"))
            encoding = value.get("encoding", "base64")
            content = value.get("content")
            if not isinstance(content, str):
                raise HubError(400, f"{path}: 'content' must be a string")
            if encoding == "base64":
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError):
                    raise HubError(400, f"{path}: the content is not valid base64") from None
            elif encoding in ("utf-8", "utf8"):
                data = content.encode()
            else:
                raise HubError(400, f"{path}: unknown encoding {encoding!r}; expected base64")
            sha = hashlib.sha256(data).hexdigest()
            ops.inline[sha] = data
            ops.changes[path] = (sha, len(data))
            ops.unsized.pop(path, None)
        elif key == "lfsFile":
            path = check_file_path(value.get("path"))
            algo = value.get("algo", "sha256")
            if algo != "sha256":
                raise HubError(400, f"{path}: LFS algorithm {algo!r} is not supported; expected sha256")
            oid = check_oid(value.get("oid"))
            size = value.get("size")
            if size is None:
                ops.unsized[path] = oid
                ops.changes[path] = (oid, -1)
            elif isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                ops.changes[path] = (oid, size)
                ops.unsized.pop(path, None)
            else:
                raise HubError(400, f"{path}: 'size' must be a non-negative integer")
        elif key == "deletedFile":
            path = check_file_path(value.get("path"))
            ops.deleted_files.append(path)
            ops.changes[path] = None
        elif key == "deletedFolder":
            raw = value.get("path")
            if not isinstance(raw, str):
                raise HubError(400, "deletedFolder: 'path' must be a string")
            folder = raw.strip("/")
            if folder:
                check_file_path(folder, "folder")
            ops.deleted_folders.append(folder)
        elif key == "copies":
            # huggingface_hub before 0.25 sent copies as their own lines.
            src = check_file_path(value.get("srcPath", value.get("src_path")), "srcPath")
            dest = check_file_path(value.get("destPath", value.get("dest_path")), "destPath")
            rev = value.get("srcRevision")
            if rev is not None and not isinstance(rev, str):
                raise HubError(400, "srcRevision must be a string")
            ops.copies.append((src, rev, dest))
        else:
            raise HubError(400, f"commit line {count}: unknown key {key!r}")
    if not header_seen:
        raise HubError(400, "the commit has no header line ({'key': 'header', ...})")
    if not ops.summary.strip():
        raise HubError(400, "the commit summary must not be empty")
    return ops
