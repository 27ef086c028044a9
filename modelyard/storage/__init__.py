"""Where model files live: ``file://`` (served by modelyard, content-addressed) or ``s3://`` (presigned)."""

from modelyard.storage.base import URL_TTL_SECONDS, FileRef, ObjectInfo, RangeReader, Storage, StorageError
from modelyard.storage.factory import default_storage_url, open_storage, storage_url

__all__ = [
    "URL_TTL_SECONDS",
    "FileRef",
    "ObjectInfo",
    "RangeReader",
    "Storage",
    "StorageError",
    "default_storage_url",
    "open_storage",
    "storage_url",
]
