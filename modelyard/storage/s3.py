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

Large files go by S3's own multipart upload (a single PUT stops at 5 GiB): the server starts it
(:meth:`S3Storage.start_multipart`, the part size chosen by :func:`part_plan` so that any object up to
S3's 5 TiB fits in 10,000 parts), presigns one URL per part (each signing that part's length), lists the
parts the store holds (a client resuming after an interruption sends only the others) and completes it.
The part size is kept in the object's metadata (``x-amz-meta-modelyard-part-size``), so a download can
check a multipart object's ETag (the MD5 of the parts' MD5s). A declared file that is released aborts
the multipart uploads of its key. Set an ``AbortIncompleteMultipartUpload`` lifecycle rule on the bucket
as well: uploads a client abandoned for good are otherwise kept (and billed) until the file's URLs
expire and the sweep releases it.

:meth:`S3Storage.check` is the start-up check (``modelyard serve``): the bucket exists and a probe
object can be written and deleted; every failure is one line naming the fix.
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

MIB = 1 << 20
#: S3's smallest part (every part but the last), largest part, most parts and largest single PUT.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 << 30
MAX_PARTS = 10_000
MAX_SINGLE_PUT = 5 << 30
MAX_OBJECT_SIZE = 5 << 40
#: The object metadata naming a multipart object's part size (``x-amz-meta-modelyard-part-size``).
PART_SIZE_METADATA = "modelyard-part-size"


def part_plan(size: int, wanted: int) -> tuple[int, int]:
    """The part size and part count for an object of ``size`` bytes: ``wanted`` (the client's chunk
    size), raised to S3's minimum and to what 10,000 parts need, in whole MiB. ValueError beyond 5 TiB."""
    if size > MAX_OBJECT_SIZE:
        raise ValueError(f"{size} bytes is more than an S3 object can hold (5 TiB)")
    part = max(wanted, MIN_PART_SIZE, -(-size // MAX_PARTS))
    part = -(-part // MIB) * MIB
    part = min(part, MAX_PART_SIZE)
    return part, max(1, -(-size // part))


def part_length(size: int, part_size: int, number: int) -> int:
    """The length of part ``number`` (from 1) of an object of ``size`` bytes."""
    return max(0, min(part_size, size - (number - 1) * part_size))


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
        if ref.location is None:
            self.abort_multipart(self.key(ref))

    # -- multipart uploads -------------------------------------------------------------------------------

    def start_multipart(self, ref: FileRef, part_size: int) -> str:
        """A new multipart upload of ``ref``'s object; its upload id."""
        key = self.key(ref)
        try:
            answer = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType="application/octet-stream",
                Metadata={PART_SIZE_METADATA: str(part_size)},
            )
        except Exception as e:
            raise StorageError(f"cannot start a multipart upload of s3://{self.bucket}/{key}: {e}") from e
        return str(answer["UploadId"])

    def part_urls(
        self, ref: FileRef, upload_id: str, part_size: int, numbers: list[int], expires: int
    ) -> dict[int, str]:
        """A presigned PUT URL per part number, each signing that part's length."""
        key = self.key(ref)
        return {
            n: str(
                self.client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": n,
                        "ContentLength": part_length(ref.size, part_size, n),
                    },
                    ExpiresIn=self._ttl(expires),
                    HttpMethod="PUT",
                )
            )
            for n in numbers
        }

    def held_parts(self, ref: FileRef, upload_id: str) -> dict[int, tuple[str, int]] | None:
        """The parts the store holds (number -> (ETag, size)); None when the upload is gone."""
        key = self.key(ref)
        held: dict[int, tuple[str, int]] = {}
        try:
            paginator = self.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    held[int(part["PartNumber"])] = (str(part["ETag"]), int(part["Size"]))
        except Exception as e:
            if _error_code(e) in ("NoSuchUpload", "404", "NotFound"):
                return None
            raise StorageError(f"cannot list the parts of s3://{self.bucket}/{key}: {e}") from e
        return held

    def complete_multipart(self, ref: FileRef, upload_id: str, parts: list[tuple[int, str]]) -> None:
        key = self.key(ref)
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        except Exception as e:
            raise StorageError(
                f"cannot complete the multipart upload of s3://{self.bucket}/{key}: {e}"
            ) from e

    def abort_multipart(self, key: str) -> int:
        """Abort the multipart uploads of ``key`` (a released file's); how many there were."""
        aborted = 0
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                for upload in page.get("Uploads", []):
                    if upload.get("Key") != key:
                        continue
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except Exception as e:
            if not _is_not_found(e):
                raise StorageError(
                    f"cannot abort the multipart uploads of s3://{self.bucket}/{key}: {e}"
                ) from e
        return aborted

    # -- the start-up check ------------------------------------------------------------------------------

    def check(self) -> None:
        """The bucket exists and takes a write and a delete of a probe object; StorageError (one line
        naming the fix) otherwise."""
        where = f"s3://{self.bucket}"
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as e:
            code = _error_code(e)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(
                    f"storage {where}: the bucket does not exist at {endpoint}; create it "
                    f"(aws s3 mb {where}) or fix --storage / MODELYARD_STORAGE"
                ) from None
            if code in ("403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(
                    f"storage {where}: access denied ({code}); check AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY and the bucket policy"
                ) from None
            raise StorageError(
                f"storage {where}: cannot reach {endpoint} ({_one_line(e)}); check AWS_ENDPOINT_URL and "
                "AWS_REGION"
            ) from None
        probe = f"{self.prefix}.modelyard-probe-{os.getpid()}-{int(time.time() * 1000)}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"modelyard start-up check")
            self.client.delete_object(Bucket=self.bucket, Key=probe)
        except Exception as e:
            raise StorageError(
                f"storage {where}: cannot write and delete objects under {self.url} ({_one_line(e)}); grant "
                "s3:PutObject and s3:DeleteObject on the prefix to these credentials"
            ) from None

    def reachable(self) -> str | None:
        """A cheap check for ``/readyz`` (the bucket answers): None, or why not."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as e:
            return f"storage s3://{self.bucket} does not answer: {_one_line(e)}"
        return None

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


def _error_code(e: Exception) -> str:
    response = getattr(e, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _one_line(e: Exception) -> str:
    return (str(e) or type(e).__name__).splitlines()[0][:300]


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
        connect_timeout=10,
    )
    return boto3.client("s3", endpoint_url=endpoint or None, config=config)
