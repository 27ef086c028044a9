"""The storage URL (``--storage`` / ``MODELYARD_STORAGE``) to a backend, and the checks that it works:
:func:`check_storage` at start-up (``modelyard serve`` refuses to start, with one line naming the fix,
when the folder cannot be written or the S3 bucket is missing, unreachable or read-only) and
:class:`StorageProbe` for ``/readyz`` (a cheap check, its answer kept a few seconds)."""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from modelyard.storage.base import Storage, StorageError
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage


def default_storage_url(db_url: str) -> str:
    """``file://`` beside a SQLite database (``blobs/`` beside the default ``modelyard.db``,
    ``<name>-blobs/`` beside any other file), else ``blobs/`` in the user data directory."""
    if db_url.startswith("sqlite:///"):
        db_path = Path(db_url[len("sqlite:///") :])
        if db_path.name and db_path.name != ":memory:":
            name = "blobs" if db_path.name == "modelyard.db" else f"{db_path.stem}-blobs"
            return f"file://{db_path.parent.resolve() / name}"
    return f"file://{Path(platformdirs.user_data_dir('modelyard')) / 'blobs'}"


def storage_url(configured: str | None, db_url: str) -> str:
    """The configured storage URL (``--storage`` / ``MODELYARD_STORAGE``, see ``Settings``), else the
    default for the database."""
    return configured or default_storage_url(db_url)


def open_storage(url: str) -> Storage:
    """``file:///abs/path`` (or a plain path) or ``s3://bucket/prefix``; ValueError for anything else."""
    if "://" not in url:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url):
            raise ValueError(f"storage {url!r}: use file:///path or s3://bucket/prefix")
        return LocalStorage(Path(url).expanduser().resolve())
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"storage {url!r}: file URLs need an absolute path (file:///path)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"storage {url!r}: file URLs need an absolute path (file:///path)")
        return LocalStorage(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage {url!r}: s3 URLs name a bucket (s3://bucket/prefix)")
        return S3Storage(parts.netloc, unquote(parts.path))
    raise ValueError(f"storage {url!r}: use file:///path or s3://bucket/prefix")


def check_storage(storage: Storage) -> None:
    """StorageError, one line naming the fix, unless the storage takes writes: the folder exists (or can
    be created) and a file can be written in it; the S3 bucket exists and takes a write and a delete."""
    if isinstance(storage, S3Storage):
        storage.check()
    elif isinstance(storage, LocalStorage):
        _check_folder(storage.tmp)  # where PUTs write first


def _check_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=root, prefix=".modelyard-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise StorageError(
            f"storage file://{root}: cannot write there ({e.strerror or e}); make the folder writable by "
            "this user or pick another with --storage / MODELYARD_STORAGE"
        ) from None


def _folder_problem(root: Path) -> str | None:
    if not root.is_dir():
        return f"storage file://{root}: the folder is gone"
    if not os.access(root, os.W_OK | os.X_OK):
        return f"storage file://{root}: the folder is not writable"
    return None


class StorageProbe:
    """Whether the storage answers, for ``/readyz``: the folder is there and writable, or the S3 bucket
    answers HeadBucket. The answer is kept ``ttl`` seconds (load balancers ask often)."""

    def __init__(self, storage: Storage, ttl: float = 5.0) -> None:
        self.storage = storage
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._problem: str | None = None

    def problem(self) -> str | None:
        """None when the storage answers, else why not (one line)."""
        with self._lock:
            if time.monotonic() - self._at < self.ttl:
                return self._problem
            storage = self.storage
            if isinstance(storage, S3Storage):
                problem = storage.reachable()
            elif isinstance(storage, LocalStorage):
                problem = _folder_problem(storage.tmp)
            else:
                problem = None
            self._problem, self._at = problem, time.monotonic()
            return problem
