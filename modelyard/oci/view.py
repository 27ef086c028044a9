"""The store as the OCI door sees it: repositories (models), the revisions tags name, blobs, and commits.

Everything the door reads or writes about models, revisions and bytes goes through :class:`View`, so the
door's protocol code does not know how revisions are kept (``store/revisions.py``) or where bytes live
(``storage/``). Tags are revisions: ``latest`` is ``main``; branches, tags and 40-hex commit ids are
themselves.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from modelyard.files.errors import FileError
from modelyard.files.service import FileService
from modelyard.files.validate import Flags
from modelyard.oci.errors import OciError
from modelyard.oci.modelpack import File, Revision
from modelyard.resources.codec import ResourceError, prune, validate_model
from modelyard.resources.revision import MAIN, InvalidRef, is_commit_id
from modelyard.resources.revision import Revision as StoreRevision
from modelyard.storage.base import URL_TTL_SECONDS, FileRef, RangeReader, StorageError
from modelyard.storage.local import SHA_PREFIX, LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.store import audit
from modelyard.store.errors import AlreadyExists, NotFound
from modelyard.store.oci import OciRecords
from modelyard.store.repository import Store
from modelyard.store.revisions import BlobMissing, CommitConflict, RefExists, RevisionNotFound

#: Tags that name ``main``.
MAIN_TAGS = ("latest", MAIN)


@dataclass(frozen=True)
class Head:
    """A revision a tag resolved to."""

    commit_id: str
    create_time: int


@dataclass(frozen=True)
class Repo:
    account_id: str
    model_id: str
    model: dict[str, Any]
    public: bool


def _rfc3339(nanos: int) -> str:
    return datetime.datetime.fromtimestamp(nanos // 10**9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(sha256: str, size: int, path: str = "") -> FileRef:
    return FileRef("", "", path or sha256, size, "", SHA_PREFIX + sha256)


class View:
    def __init__(self, files: FileService, records: OciRecords, store: Store) -> None:
        self.files = files
        self.records = records
        self.store = store
        self.revisions = files.revisions
        self.storage = files.storage

    # -- repositories ----------------------------------------------------------------------------------
    def repo(self, account_id: str, model_id: str) -> Repo | None:
        row = self.files.files.model(account_id, model_id)
        return None if row is None else Repo(account_id, model_id, row.resource, row.public)

    # -- revisions -------------------------------------------------------------------------------------
    def resolve(self, repo: Repo, reference: str) -> Head | None:
        """The revision a tag names: ``latest`` (``main``), a branch, a tag or a commit id."""
        rev = MAIN if reference in MAIN_TAGS else reference
        found: StoreRevision | None
        try:
            found = self.revisions.resolve(repo.account_id, repo.model_id, rev)
        except (RevisionNotFound, InvalidRef):
            found = self.files.ensure_main(repo.account_id, repo.model_id) if rev == MAIN else None
        return None if found is None else Head(found.commit_id, found.create_time)

    def revision(self, head: Head) -> Revision:
        """The files of a revision, for its manifest."""
        tree = self.revisions.tree(head.commit_id)
        files = [File(e.path, e.sha256, e.size) for e in tree]
        return Revision(head.commit_id, _rfc3339(head.create_time), files)

    def ref_names(self, repo: Repo) -> list[str]:
        """The tags of the repository's revisions: ``latest`` for ``main``, then every branch and tag."""
        names = [r.name for r in self.revisions.refs(repo.account_id, repo.model_id)]
        return (["latest"] if MAIN in names else []) + names

    def delete_revision_tag(self, repo: Repo, name: str) -> bool:
        """Delete the tag ``name`` (a tag, not a branch) of the model; False when there is none."""
        if name in MAIN_TAGS or is_commit_id(name):
            return False
        tags = {r.name for r in self.revisions.refs(repo.account_id, repo.model_id) if r.kind == "tag"}
        if name not in tags:
            return False
        try:
            self.revisions.delete_tag(repo.account_id, repo.model_id, name)
        except RevisionNotFound:
            return False
        return True

    def file_blob(self, repo: Repo, sha256: str) -> int | None:
        """The size of blob ``sha256`` when some revision of the model has it as a file."""
        return self.records.revision_blob_size(repo.account_id, repo.model_id, sha256)

    # -- bytes -----------------------------------------------------------------------------------------
    def reader(self, sha256: str, size: int) -> RangeReader:
        try:
            return self.storage.open_reader(_ref(sha256, size))
        except StorageError as e:
            raise FileNotFoundError(str(e)) from None

    def local_blob(self, sha256: str) -> Path | None:
        """The path of a blob on file storage (None on object storage)."""
        if isinstance(self.storage, LocalStorage):
            return self.storage.blob_path(sha256)
        return None

    def download_url(self, sha256: str, size: int) -> str:
        """A signed GET URL of a blob on object storage (valid for the storage's URL lifetime)."""
        return self.storage.download_url(_ref(sha256, size), "", int(time.time()) + URL_TTL_SECONDS)

    def has_blob(self, sha256: str) -> bool:
        """Whether storage holds blob ``sha256``."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            return storage.blob_path(sha256).exists()
        return self.files.files.blob_known(sha256)

    def put_blob(self, temp: Path, sha256: str, size: int) -> None:
        """Keep a complete, verified file as blob ``sha256`` (moved on file storage, uploaded on S3)."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            self.files.files.add_blob(sha256, size, lambda: storage.place(temp, sha256))
            return
        if not isinstance(storage, S3Storage):  # pragma: no cover - the two backends
            raise StorageError(f"cannot store blobs in {storage.url}")
        if not self.files.files.blob_known(sha256):
            try:
                storage.client.upload_file(str(temp), storage.bucket, storage.blob_key(sha256))
            except Exception as e:
                raise StorageError(f"cannot store blob sha256:{sha256}: {e}") from e
        # Recorded after the upload (not around it: a long upload would hold the blob row's lock); the
        # sweep leaves young objects the database does not know alone.
        self.files.files.add_blob(sha256, size, lambda: None)

    def open_blob(self, sha256: str) -> BinaryIO:
        """A stream of blob ``sha256``'s bytes."""
        storage = self.storage
        if isinstance(storage, LocalStorage):
            return open(storage.blob_path(sha256), "rb")
        if not isinstance(storage, S3Storage):  # pragma: no cover - the two backends
            raise StorageError(f"cannot read blobs of {storage.url}")
        try:
            response = storage.client.get_object(Bucket=storage.bucket, Key=storage.blob_key(sha256))
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
        """Commit ``files`` (the whole tree) as a revision; returns the commit id (see ``oci/commit.py``)."""
        created = repo is None
        if repo is None:
            repo = self._create(account_id, model_id, files)
        try:
            return self._commit(repo, principal, files, tag, message)
        except BaseException:
            if created:  # nothing of a refused push stays
                self._quietly(lambda: self.store.delete_model(f"accounts/{account_id}/models/{model_id}"))
            raise

    @staticmethod
    def _quietly(action: Callable[[], object]) -> None:
        token = audit.current.set(None)  # the request's audit entry is not this write's
        try:
            action()
        except NotFound:
            pass
        finally:
            audit.current.reset(token)

    def _create(self, account_id: str, model_id: str, files: dict[str, tuple[str, int]]) -> Repo:
        if "adapter_config.json" in files and "config.json" not in files:
            raise OciError(
                "MANIFEST_INVALID",
                f"{account_id}/{model_id} does not exist and these files are an adapter: create the model "
                "first (an adapter needs peftDetails.baseModel), then push",
            )
        kind = "HF_BASE_MODEL" if "config.json" in files else "KIND_UNSPECIFIED"
        resource = {"kind": kind, "state": "UPLOADING"}
        if kind == "HF_BASE_MODEL":
            resource["baseModelDetails"] = {}  # type: ignore[assignment]
        token = audit.current.set(None)  # the entry is written by the commit (or the refusal) below
        try:
            self.store.create_model(account_id, model_id, resource)
        except AlreadyExists:
            pass  # another push created it meanwhile
        finally:
            audit.current.reset(token)
        found = self.repo(account_id, model_id)
        if found is None:  # pragma: no cover - deleted at once by someone else
            raise OciError("NAME_UNKNOWN", f"{account_id}/{model_id} was deleted during the push")
        return found

    def _commit(
        self, repo: Repo, principal: Any, files: dict[str, tuple[str, int]], tag: str | None, message: str
    ) -> str:
        a, m = repo.account_id, repo.model_id
        branch = MAIN
        if tag is not None and tag not in MAIN_TAGS:
            refs = {r.name: r for r in self.revisions.refs(a, m)}
            if tag in refs and refs[tag].kind == "branch":
                branch = tag
        refs_now = [
            FileRef(a, m, path, size, "", SHA_PREFIX + sha) for path, (sha, size) in sorted(files.items())
        ]
        try:
            outcome = self.files.validate_tree(principal.account_id, repo.model, refs_now, Flags())
        except FileError as e:
            raise OciError(
                "MANIFEST_INVALID", f"the pushed files do not make a valid model: {e.message}"
            ) from None
        try:
            head = self.revisions.resolve(a, m, branch)
        except RevisionNotFound:
            head = None
        changes: dict[str, tuple[str, int] | None] = {}
        if head is not None:
            changes.update({e.path: None for e in self.revisions.tree(head.commit_id)})
        changes.update(files)
        try:
            revision = self.revisions.commit(
                a, m, branch=branch, changes=changes, author=principal.name, message=message,
                expected_parent=None if head is None else head.commit_id, allow_create_branch=head is None,
            )  # fmt: skip
        except CommitConflict:
            raise OciError(
                "DENIED", f"another commit to {branch} landed during this push; push again"
            ) from None
        except BlobMissing as e:
            raise OciError("MANIFEST_BLOB_UNKNOWN", str(e)) from None
        if branch == MAIN:
            self._describe(a, m, outcome.updates)
        if tag is not None and tag not in MAIN_TAGS and branch == MAIN:
            self._tag(a, m, tag, revision.commit_id)
        return revision.commit_id

    def _describe(self, account_id: str, model_id: str, updates: dict[str, Any]) -> None:
        """What the files say about the model (as ``:validateUpload`` records it); the model is READY."""

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            new = {**current, **updates, "state": "READY"}
            new.pop("status", None)
            new = prune(new)
            validate_model(new)
            return new

        try:
            self.store.update_model(f"accounts/{account_id}/models/{model_id}", mutate)
        except ResourceError as e:
            raise OciError("MANIFEST_INVALID", f"the files describe an invalid model: {e}") from None

    def _tag(self, account_id: str, model_id: str, tag: str, commit_id: str) -> None:
        """Point tag ``tag`` at ``commit_id`` (an OCI tag moves when pushed again)."""
        if is_commit_id(tag):
            return
        try:
            self.revisions.create_tag(account_id, model_id, tag, revision=commit_id)
        except RefExists:
            self.revisions.delete_tag(account_id, model_id, tag)
            self.revisions.create_tag(account_id, model_id, tag, revision=commit_id)
        except InvalidRef as e:
            raise OciError("MANIFEST_INVALID", f"tag {tag!r}: {e}") from None
