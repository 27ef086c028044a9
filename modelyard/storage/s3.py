"""``s3://bucket/prefix`` storage: any S3-compatible object store (AWS S3, MinIO, Ceph RGW, R2).

The server presigns URLs of the store and never touches the bytes on their way in or out. Credentials,
region and endpoint come from the standard AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for MinIO and the like) or any other
source boto3 reads (profiles, instance roles).

Objects are keyed per model file, ``<prefix>accounts/<a>/models/<m>/<upload id>/<path>``: the bytes do
not pass through modelyard, so it cannot hash them on the way and there is no deduplication on S3.
A presigned PUT signs ``Content-Length``; since not every S3-compatible store enforces signed headers,
``:validateUpload`` checks each object's size with HeadObject as well.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modelyard.storage.base import FileRef, ObjectInfo, StorageError


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
        return f"{self.prefix}accounts/{ref.account_id}/models/{ref.model_id}/{ref.upload_id}/{ref.path}"

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
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": ref.location or self.key(ref)},
            ExpiresIn=self._ttl(expires),
        )
        return url

    def stat(self, ref: FileRef) -> ObjectInfo | None:
        key = ref.location or self.key(ref)
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
            raise StorageError(f"{ref.path} is not in s3://{self.bucket}/{ref.location or self.key(ref)}")
        return S3Reader(self.client, self.bucket, info.location, info.size)

    def delete(self, ref: FileRef) -> None:
        self.delete_key(ref.location or self.key(ref))

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
