"""The storage URL (``--storage`` / ``MODELYARD_STORAGE``) to a backend."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import platformdirs

from modelyard.storage.base import Storage
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
