"""The store as the OCI door sees it: repositories (models), the revisions tags name, and blobs.

Everything the door reads or writes about models, revisions and bytes goes through :class:`View`, so the
door's protocol code does not know how revisions are kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from modelyard.aip.timestamps import now_nanos
from modelyard.files.service import FileService
from modelyard.oci.modelpack import File, Revision
from modelyard.storage.base import FileRef, RangeReader, StorageError
from modelyard.storage.local import SHA_PREFIX, LocalStorage
from modelyard.store.oci import OciRecords

COMMIT_ID = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Repo:
    account_id: str
    model_id: str
    model: dict[str, Any]
    public: bool


def _rfc3339(nanos: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(nanos // 10**9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class View:
    def __init__(self, files: FileService, records: OciRecords) -> None:
        self.files = files
        self.records = records
        self.storage = files.storage

    # -- repositories ----------------------------------------------------------------------------------
    def repo(self, account_id: str, model_id: str) -> Repo | None:
        row = self.files.files.model(account_id, model_id)
        return None if row is None else Repo(account_id, model_id, row.resource, row.public)

    # -- revisions -------------------------------------------------------------------------------------
    def _main(self, repo: Repo) -> Revision | None:
        if repo.model.get("state") != "READY":
            return None
        found = [
            File(f.ref.path, f.ref.location[len(SHA_PREFIX) :], f.ref.size)
            for f in self.files.files.files(repo.account_id, repo.model_id)
            if f.complete and f.ref.location and f.ref.location.startswith(SHA_PREFIX)
        ]
        if not found:
            return None
        tree = "".join(f"{f.path}\0{f.sha256}\0{f.size}\n" for f in found).encode()
        commit = hashlib.sha1(tree, usedforsecurity=False).hexdigest()
        update = repo.model.get("updateTime") or _rfc3339(now_nanos())
        return Revision(commit, str(update)[:19] + "Z", found)

    def resolve(self, repo: Repo, reference: str) -> Revision | None:
        """The revision a tag names: ``latest`` (``main``), a branch, a tag or a commit id."""
        main = self._main(repo)
        if main is None:
            return None
        if reference in ("latest", "main") or reference == main.commit_id:
            return main
        return None

    def ref_names(self, repo: Repo) -> list[str]:
        """The tags of the repository's revisions (``latest`` for ``main``, then branches and tags)."""
        return ["latest"] if self._main(repo) is not None else []

    def file_blob(self, repo: Repo, sha256: str) -> int | None:
        """The size of blob ``sha256`` when some revision of the model has it as a file."""
        for f in self.files.files.files(repo.account_id, repo.model_id):
            if f.complete and f.ref.location == SHA_PREFIX + sha256:
                return f.ref.size
        return None

    # -- bytes -----------------------------------------------------------------------------------------
    def reader(self, sha256: str, size: int) -> RangeReader:
        ref = FileRef("", "", sha256, size, "", SHA_PREFIX + sha256)
        try:
            return self.storage.open_reader(ref)
        except StorageError as e:
            raise FileNotFoundError(str(e)) from None

    def local_blob(self, sha256: str) -> Any:
        """The path of a blob on file storage (None on object storage)."""
        if isinstance(self.storage, LocalStorage):
            return self.storage.blob_path(sha256)
        return None

    def blob_key(self, sha256: str) -> str:
        """The object key of a blob on object storage."""
        prefix = getattr(self.storage, "prefix", "")
        return f"{prefix}blobs/sha256/{sha256}"

    def download_url(self, sha256: str, size: int) -> str:
        """A signed GET URL of a blob on object storage (valid for the storage's URL lifetime)."""
        import time

        from modelyard.storage.base import URL_TTL_SECONDS

        ref = FileRef("", "", sha256, size, "", self.blob_key(sha256))
        return self.storage.download_url(ref, "", int(time.time()) + URL_TTL_SECONDS)

    def has_blob(self, sha256: str) -> bool:
        """Whether storage holds blob ``sha256``."""
        if isinstance(self.storage, LocalStorage):
            return self.storage.blob_path(sha256).exists()
        return self._s3_size(sha256) is not None

    def _s3_size(self, sha256: str) -> int | None:
        client = getattr(self.storage, "client", None)
        try:
            head = client.head_object(Bucket=self.storage.bucket, Key=self.blob_key(sha256))  # type: ignore[union-attr, attr-defined]
        except Exception:
            return None
        return int(head["ContentLength"])

    def put_blob(self, temp: Path, sha256: str, size: int) -> None:
        """Keep a complete, verified file as blob ``sha256`` (moved on file storage, uploaded on S3)."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            self.records.place_blob(sha256, size, lambda: storage.place(temp, sha256))
            return
        if self._s3_size(sha256) != size:
            try:
                storage.client.upload_file(str(temp), storage.bucket, self.blob_key(sha256))  # type: ignore[attr-defined]
            except Exception as e:
                raise StorageError(f"cannot store blob sha256:{sha256}: {e}") from e
        # Recorded after the upload (not around it: a long upload would hold the blob row's lock); the
        # sweep leaves young objects the database does not know alone.
        self.records.place_blob(sha256, size, lambda: None)

    def open_blob(self, sha256: str) -> BinaryIO:
        """A stream of blob ``sha256``'s bytes."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            return open(storage.blob_path(sha256), "rb")
        try:
            response = storage.client.get_object(Bucket=storage.bucket, Key=self.blob_key(sha256))  # type: ignore[attr-defined]
        except Exception as e:
            raise StorageError(f"cannot read blob sha256:{sha256}: {e}") from e
        body: BinaryIO = response["Body"]
        return body

    # -- commits ---------------------------------------------------------------------------------------
    def commit(
        self,
        account_id: str,
        model_id: str,
        repo: Repo | None,
        principal: Any,
        files: dict[str, tuple[str, int]],
        tag: str | None,
        message: str,
    ) -> str:
        """Commit ``files`` as a revision (see ``oci/commit.py``); returns the commit id."""
        from modelyard.oci.errors import OciError

        raise OciError("UNSUPPORTED", "model pushes need the revisions store")
