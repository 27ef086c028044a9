"""``s3://bucket/prefix`` storage: any S3-compatible object store (AWS S3, MinIO, Ceph RGW, R2).

The server presigns URLs of the store and never touches the bytes on their way in or out. Credentials,
region and endpoint come from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for MinIO and the like) or any other
source boto3 reads (profiles, instance roles).

An upload lands at a key of its own, ``<prefix>accounts/<a>/models/<m>/<upload id>/<path>``: the bytes do
not pass through modelyard, so it cannot hash them on the way. A presigned PUT signs ``Content-Length``;
since not every S3-compatible store enforces signed headers, ``:validateUpload`` checks each object's
size with HeadObject as well, then hashes it once (``hash_upload``, streaming GetObject) and copies it
to its content-addressed key ``<prefix>blobs/sha256/<hex>`` (``place_blob``: a server-side copy that
only happens if the object is still the one hashed, ``CopySourceIfMatch`` on its ETag). Committed files
are read from there only, so a later PUT to an old upload URL cannot change them, and identical files
are kept once across revisions and models.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modelyard.storage.base import BlobEntry, FileRef, ObjectInfo, StorageError

#: Where blobs live under the prefix, and how much of an object ``hash_upload`` reads at a time.
BLOBS = "blobs/sha256/"
SHA_PREFIX = "sha256:"
HASH_CHUNK = 8 * 1024 * 1024


@dataclass
class S3Reader:
    client: Any
    bucket: str
    key: str
    size: int

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0 or offset >= self.size:
            return b""
        end = min(offset + length, self.size) - 1
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={offset}-{end}")
            data: bytes = response["Body"].read()
        except Exception as e:
            raise StorageError(f"cannot read s3://{self.bucket}/{self.key}: {e}") from e
        return data


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    mtime: float


class S3Storage:
    scheme = "s3"
    serves_bytes = False

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        if not bucket:
            raise ValueError("an s3:// storage URL needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client = client if client is not None else _client()

    def key(self, ref: FileRef) -> str:
        """The key an upload lands at."""
        return f"{self.prefix}accounts/{ref.account_id}/models/{ref.model_id}/{ref.upload_id}/{ref.path}"

    def blob_key(self, sha256: str) -> str:
        """The content-addressed key of a blob."""
        return f"{self.prefix}{BLOBS}{sha256}"

    def object_key(self, ref: FileRef) -> str:
        """Where a file's bytes are: its blob once hashed (``sha256:<hex>``), else its upload's key."""
        location = ref.location
        if location and location.startswith(SHA_PREFIX):
            return self.blob_key(location[len(SHA_PREFIX) :])
        return location or self.key(ref)

    def _ttl(self, expires: int) -> int:
        return max(1, expires - int(time.time()))

    def upload_url(self, ref: FileRef, base_url: str, expires: int, *, resumable: bool = False) -> str:
        url: str = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self.key(ref), "ContentLength": ref.size},
            ExpiresIn=self._ttl(expires),
            HttpMethod="PUT",
        )
        return url

    def unsigned_uri(self, ref: FileRef) -> str | None:
        return f"s3://{self.bucket}/{self.key(ref)}"

    def download_url(self, ref: FileRef, base_url: str, expires: int) -> str:
        name = ref.path.rsplit("/", 1)[-1].replace('"', "")
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.object_key(ref),
                "ResponseContentDisposition": f'attachment; filename="{name}"',
            },
            ExpiresIn=self._ttl(expires),
        )
        return url

    def stat(self, ref: FileRef) -> ObjectInfo | None:
        key = self.object_key(ref)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            if _is_not_found(e):
                return None
            raise StorageError(f"cannot stat s3://{self.bucket}/{key}: {e}") from e
        return ObjectInfo(size=int(head["ContentLength"]), location=key)

    def open_reader(self, ref: FileRef) -> S3Reader:
        info = self.stat(ref)
        if info is None:
            raise StorageError(f"{ref.path} is not in s3://{self.bucket}/{self.object_key(ref)}")
        return S3Reader(self.client, self.bucket, info.location, info.size)

    def delete(self, ref: FileRef) -> None:
        """Delete the object of an upload (blobs are shared by content: removed by reference)."""
        self.delete_key(self.key(ref))

    # -- content-addressed blobs -----------------------------------------------------------------------
    def hash_upload(self, ref: FileRef) -> tuple[str, int, str]:
        """SHA-256, size and ETag of an upload's object, read once from the store."""
        key = self.object_key(ref)
        digest = hashlib.sha256()
        size = 0
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            for chunk in response["Body"].iter_chunks(HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        except Exception as e:
            raise StorageError(f"cannot read s3://{self.bucket}/{key}: {e}") from e
        return digest.hexdigest(), size, str(response.get("ETag", ""))

    def place_blob(self, ref: FileRef, sha256: str, etag: str) -> None:
        """Copy an upload's object to its blob key (nothing to do when the blob is there), only if the
        object still has ``etag`` (it was not replaced since it was hashed)."""
        target = self.blob_key(sha256)
        if self._exists(target):
            return
        extra = {"CopySourceIfMatch": etag} if etag else {}
        try:
            self.client.copy(
                {"Bucket": self.bucket, "Key": self.object_key(ref)}, self.bucket, target, ExtraArgs=extra
            )
        except Exception as e:
            raise StorageError(f"cannot copy {ref.path} to s3://{self.bucket}/{target}: {e}") from e

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            if _is_not_found(e):
                return False
            raise StorageError(f"cannot stat s3://{self.bucket}/{key}: {e}") from e
        return True

    def delete_blob(self, sha256: str) -> int:
        """Remove one blob; returns the bytes freed (0 when it was not there)."""
        key = self.blob_key(sha256)
        try:
            size = int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as e:
            if _is_not_found(e):
                return 0
            raise StorageError(f"cannot stat s3://{self.bucket}/{key}: {e}") from e
        self.delete_key(key)
        return size

    def list_blobs(self) -> Iterator[BlobEntry]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + BLOBS):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                yield BlobEntry(name, int(item["Size"]), item["LastModified"].timestamp())

    def delete_key(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            if not _is_not_found(e):
                raise StorageError(f"cannot delete s3://{self.bucket}/{key}: {e}") from e

    def list_objects(self) -> Iterator[S3Object]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "accounts/"):
            for item in page.get("Contents", []):
                yield S3Object(item["Key"], int(item["Size"]), item["LastModified"].timestamp())


def _is_not_found(e: Exception) -> bool:
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("404", "NoSuchKey", "NotFound") or status == 404


def _client() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        signature_version="s3v4",
        # MinIO, Ceph and most self-hosted stores want path-style addressing (no bucket DNS names).
        s3={"addressing_style": "path" if endpoint else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)
