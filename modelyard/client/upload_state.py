"""What an interrupted ``modelyard models upload`` needs to carry on: a small JSON file per upload.

The Fireworks protocol has no call that lists which declared files already arrived (``:validateUpload``
only says yes or no at the end), and a signed URL only lives an hour, so the client remembers:

* the signed URLs it got and when (reused while younger than :data:`URL_REUSE_SECONDS`, so a restart
  continues the same declared upload instead of declaring it again);
* per file, its size and modification time when it was read, whether its PUT completed, and the session
  URL of a resumable (GCS-protocol) upload in progress, or the id and part size of an S3 multipart upload
  in progress (which parts arrived, the server asks the store: a re-run sends only the others).

The file lives in the user state directory (``$XDG_STATE_HOME/modelyard/uploads/`` on Linux), named by a
hash of the server, the model and the local directory, with mode 0600 (signed URLs are credentials
for an hour). It belongs to one incarnation of the model (its ``createTime``): a model deleted and
created again starts afresh. A successful ``:validateUpload`` deletes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

VERSION = 1
#: Signed URLs are valid for an hour (Fireworks and modelyard); reuse them for at most this long.
URL_REUSE_SECONDS = 45 * 60
#: Completed files are written through at most this often (a model of 10,000 small files would
#: otherwise rewrite the file 10,000 times); sessions and URLs are written at once.
SAVE_INTERVAL = 0.25


@dataclass(frozen=True)
class LocalFile:
    """One file to upload: ``name`` is its path under the model directory with ``/`` separators."""

    name: str
    path: Path
    size: int
    mtime_ns: int


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir("modelyard")) / "uploads"


class UploadState:
    """The remembered progress of one upload (thread-safe; every change is written through at once)."""

    def __init__(self, path: Path, identity: dict[str, str], data: dict[str, Any]) -> None:
        self.path = path
        self._identity = identity
        self._data = data
        self._lock = threading.Lock()
        self._dirty = False
        self._saved_at = 0.0

    @classmethod
    def open(cls, base_url: str, model_name: str, create_time: str, root: Path) -> UploadState:
        """The state of uploading ``root`` to ``model_name``; empty when there is none, or when it belongs
        to another incarnation of the model."""
        identity = {
            "baseUrl": base_url.rstrip("/"),
            "model": model_name,
            "root": str(root.resolve()),
            "createTime": create_time,
        }
        key = hashlib.sha256("\n".join(identity[k] for k in ("baseUrl", "model", "root")).encode())
        path = state_dir() / f"{key.hexdigest()[:32]}.json"
        data: dict[str, Any] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        if (
            isinstance(loaded, dict)
            and loaded.get("version") == VERSION
            and all(loaded.get(k) == v for k, v in identity.items())
            and isinstance(loaded.get("files"), dict)
        ):
            data = loaded
        else:
            data = {"version": VERSION, **identity, "files": {}}
        return cls(path, identity, data)

    # -- signed URLs -----------------------------------------------------------------------------------

    def reusable_urls(self, declared: dict[str, int], resumable: bool) -> tuple[dict[str, str], float] | None:
        """The saved signed URLs and their age in seconds, when they were issued for exactly this file
        list, recently enough."""
        with self._lock:
            urls = self._data.get("urls")
            signed_at = self._data.get("signedAt")
            if (
                not isinstance(urls, dict)
                or not isinstance(signed_at, int | float)
                or self._data.get("declared") != {k: str(v) for k, v in declared.items()}
                or self._data.get("resumable") != resumable
                or time.time() - signed_at > URL_REUSE_SECONDS
            ):
                return None
            return {str(k): str(v) for k, v in urls.items()}, max(0.0, time.time() - signed_at)

    def set_urls(
        self, declared: dict[str, int], resumable: bool, urls: dict[str, str], *, multipart: bool = False
    ) -> None:
        """New signed URLs (a new declaration): resumable sessions of the old ones are forgotten."""
        with self._lock:
            self._data["declared"] = {k: str(v) for k, v in declared.items()}
            self._data["resumable"] = resumable
            self._data["urls"] = dict(urls)
            self._data["signedAt"] = time.time()
            self._data["multipart"] = multipart
            for entry in self._data["files"].values():
                entry.pop("session", None)
                entry.pop("multipart", None)
            self._save()

    def multipart_offered(self) -> bool:
        """Whether the server offered multipart uploads with the saved URLs."""
        with self._lock:
            return bool(self._data.get("multipart"))

    # -- per file --------------------------------------------------------------------------------------

    def _entry(self, f: LocalFile) -> dict[str, Any] | None:
        entry = self._data["files"].get(f.name)
        if isinstance(entry, dict) and entry.get("size") == f.size and entry.get("mtimeNs") == f.mtime_ns:
            return entry
        return None

    def is_done(self, f: LocalFile) -> bool:
        """Whether this file, unchanged since, was completely uploaded by an earlier run."""
        with self._lock:
            entry = self._entry(f)
            return bool(entry and entry.get("done"))

    def session(self, f: LocalFile) -> str | None:
        with self._lock:
            entry = self._entry(f)
            value = entry.get("session") if entry else None
            return value if isinstance(value, str) else None

    def _set(self, f: LocalFile, *, now: bool, **values: Any) -> None:
        with self._lock:
            entry = self._entry(f) or {"size": f.size, "mtimeNs": f.mtime_ns}
            entry.update(values)
            self._data["files"][f.name] = entry
            self._dirty = True
            if now or time.monotonic() - self._saved_at >= SAVE_INTERVAL:
                self._save()

    def multipart(self, f: LocalFile) -> tuple[str, int] | None:
        """The S3 multipart upload of ``f`` in progress: its upload id and part size."""
        with self._lock:
            entry = self._entry(f)
            value = entry.get("multipart") if entry else None
            if isinstance(value, dict) and isinstance(value.get("uploadId"), str):
                size = value.get("partSize")
                if isinstance(size, int) and size > 0:
                    return value["uploadId"], size
            return None

    def set_multipart(self, f: LocalFile, upload_id: str | None, part_size: int = 0) -> None:
        value = {"uploadId": upload_id, "partSize": part_size} if upload_id else None
        self._set(f, now=True, multipart=value, done=False)

    def set_session(self, f: LocalFile, url: str | None) -> None:
        self._set(f, now=True, session=url, done=False)

    def mark_done(self, f: LocalFile) -> None:
        self._set(f, now=False, done=True, session=None, multipart=None)

    def flush(self) -> None:
        """Write what is not written yet (the end of a run, or its interruption)."""
        with self._lock:
            if self._dirty:
                self._save()

    def forget(self, names: list[str]) -> None:
        """These files are to be sent again (the server says they are missing)."""
        with self._lock:
            for name in names:
                self._data["files"].pop(name, None)
            self._save()

    def remove(self) -> None:
        """The upload is over (validated): nothing to remember."""
        with self._lock:
            self._dirty = False
            self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        self._dirty = False
        self._saved_at = time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self._data, out, separators=(",", ":"))
        os.replace(tmp, self.path)


__all__ = ["URL_REUSE_SECONDS", "LocalFile", "UploadState", "state_dir"]
