"""The model-file lifecycle: ``:getUploadEndpoint``, ``:validateUpload``, ``:getDownloadEndpoint`` and the
release of a deleted model's files. Framework-free and synchronous (the API runs it in a worker thread);
the CLI's ``modelyard storage gc`` and the periodic sweep use the same objects (``modelyard.files.gc``).

Declared files (``model_files``) are a staging area: ``:getUploadEndpoint`` declares them while the model
is ``UPLOADING``, their signed URLs receive the bytes, and a successful ``:validateUpload`` commits them
as a revision on ``main`` (``store/revisions.py``; author: the caller) and then removes the declared rows,
so the old upload URLs stop working: a committed file is immutable. On S3 each upload is hashed once and
copied to its content-addressed key before the commit, so every committed file has a verified SHA-256 on
both backends. ``:getDownloadEndpoint`` serves ``main``, or with ``?revision=`` (a modelyard extension) a
branch, a tag or a commit id; the catalog serves ``main``. A ``READY`` model from before revisions whose
files are on S3 (no SHA-256 yet) is hashed and committed the first time its files are
read (``ensure_main``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from modelyard import access
from modelyard.access import Action, Principal
from modelyard.errors import RegistryError, not_found
from modelyard.files.errors import FileError
from modelyard.files.multipart import offer as multipart_offer
from modelyard.files.names import parse_file_sizes
from modelyard.files.validate import Flags, Outcome, validate_adapter, validate_base_model
from modelyard.resources.codec import ResourceError, prune, validate_model
from modelyard.storage.base import URL_TTL_SECONDS, FileRef, RangeReader, Storage, StorageError
from modelyard.storage.local import SHA_PREFIX, LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.store.files import DeclaredFile, FileStore, ModelMissing, ModelRow
from modelyard.store.oci import OciRecords
from modelyard.store.revisions import (
    MAIN,
    SYSTEM_AUTHOR,
    CommitConflict,
    Revision,
    RevisionNotFound,
    Revisions,
    TreeEntry,
)

ADAPTER_KINDS = ("HF_PEFT_ADDON", "HF_TEFT_ADDON")


class ModelUpdater(Protocol):
    """The models store's read-modify-write of one model (``Store.update_model``)."""

    def update_model(
        self, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]: ...


@dataclass
class FileService:
    models: ModelUpdater
    files: FileStore
    storage: Storage
    revisions: Revisions
    #: The OCI door's records (pushed manifests and blobs), swept with the files: ``store.oci``.
    oci: OciRecords | None = None

    # -- :getUploadEndpoint ----------------------------------------------------------------------------
    def upload_endpoint(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        access.require(caller, Action.WRITE_FILES, account_id)
        unknown = sorted(set(body) - {"filenameToSize", "filename_to_size", "enableResumableUpload",
                                      "enable_resumable_upload", "readMask", "read_mask"})  # fmt: skip
        if unknown:
            raise FileError(
                "INVALID_ARGUMENT",
                f"unknown field {unknown[0]!r}; expected filenameToSize, enableResumableUpload, readMask",
                reason="INVALID_ARGUMENT",
                field=unknown[0],
            )
        sizes = parse_file_sizes(body.get("filenameToSize", body.get("filename_to_size")))
        resumable = body.get("enableResumableUpload", body.get("enable_resumable_upload", False))
        if not isinstance(resumable, bool):
            raise FileError(
                "INVALID_ARGUMENT", "enableResumableUpload must be true or false",
                reason="INVALID_ARGUMENT", field="enableResumableUpload",
            )  # fmt: skip
        upload_id = secrets.token_hex(16)
        expires = int(time.time()) + URL_TTL_SECONDS

        def check(model: ModelRow) -> None:
            if model.state != "UPLOADING":
                raise FileError(
                    "FAILED_PRECONDITION",
                    f"model accounts/{account_id}/models/{model_id} is {model.state}; files can only be "
                    "uploaded while it is UPLOADING",
                    reason="MODEL_NOT_UPLOADING",
                    metadata={"state": model.state},
                )

        try:
            replaced = self.files.declare(account_id, model_id, sizes, upload_id, expires, check)
        except ModelMissing:
            raise _model_not_found(account_id, model_id) from None
        self.release(replaced)
        signed: dict[str, str] = {}
        unsigned: dict[str, str] = {}
        for path, size in sizes.items():
            ref = FileRef(account_id, model_id, path, size, upload_id)
            signed[path] = self.storage.upload_url(ref, base_url, expires, resumable=resumable)
            uri = self.storage.unsigned_uri(ref)
            if uri is not None:
                unsigned[path] = uri
        out: dict[str, Any] = {"filenameToSignedUrls": signed}
        if unsigned:
            out["filenameToUnsignedUris"] = unsigned
        if (parts := multipart_offer(self.storage)) is not None:
            out["multipartUpload"] = parts  # a modelyard extension: see modelyard.files.multipart
        return out

    # -- :validateUpload -------------------------------------------------------------------------------
    def validate(self, caller: Principal, account_id: str, model_id: str, flags: Flags) -> dict[str, Any]:
        """Check the declared files (or, with none declared, ``main``'s) and commit them as a revision on
        ``main`` by the caller; then the model is ``READY``."""
        access.require(caller, Action.WRITE_FILES, account_id)
        model = self.files.model(account_id, model_id)
        if model is None:
            raise _model_not_found(account_id, model_id)
        declared = self.files.files(account_id, model_id)
        head = self._main(account_id, model_id)
        if not declared and head is None:
            raise FileError(
                "FAILED_PRECONDITION",
                "no files were declared for this model; call getUploadEndpoint and upload them first",
                reason="NO_FILES_DECLARED",
            )
        try:
            complete = self._complete_files(declared) if declared else self._committed(head)
            outcome = self._check(caller, model.resource, complete, flags)
        except FileError as e:
            if e.status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                self._set_status(account_id, model_id, e)
            raise
        upload_ids = {f.ref.upload_id for f in declared}

        def unchanged() -> None:
            now = {f.ref.upload_id for f in self.files.files(account_id, model_id)}
            if now != upload_ids:
                raise FileError(
                    "ABORTED",
                    "the file list was replaced while it was being validated; validate again",
                    reason="FILE_LIST_CHANGED",
                )

        if declared:
            unchanged()
            self._commit_files(account_id, model_id, complete, head, caller.name)

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            if declared:
                unchanged()
            new = {**current, **outcome.updates, "state": "READY"}
            new.pop("status", None)
            new = prune(new)
            validate_model(new)
            return new

        try:
            self.models.update_model(_name(account_id, model_id), mutate)
        except ResourceError as e:
            raise FileError(
                "INVALID_ARGUMENT", f"the files describe an invalid model: {e}", reason="INVALID_MODEL"
            ) from None
        if declared:  # committed: the upload URLs stop working, the upload objects (S3) go
            self.files.forget(declared)
            self.release(declared)
        return {"warnings": outcome.warnings} if outcome.warnings else {}

    def _main(self, account_id: str, model_id: str) -> Revision | None:
        try:
            return self.revisions.resolve(account_id, model_id, MAIN)
        except RevisionNotFound:
            return None

    def _committed(self, head: Revision | None) -> list[FileRef]:
        assert head is not None
        return [_ref(head.account_id, head.model_id, e) for e in self.revisions.tree(head.commit_id)]

    def _commit_files(
        self, account_id: str, model_id: str, refs: list[FileRef], head: Revision | None, author: str
    ) -> Revision:
        """``main`` becomes exactly ``refs`` (each at ``sha256:<hex>``)."""
        changes: dict[str, tuple[str, int] | None] = {}
        if head is not None:
            changes.update({e.path: None for e in self.revisions.tree(head.commit_id)})
        for ref in refs:
            assert ref.location is not None and ref.location.startswith(SHA_PREFIX)
            changes[ref.path] = (ref.location[len(SHA_PREFIX) :], ref.size)
        try:
            return self.revisions.commit(
                account_id, model_id, branch=MAIN, changes=changes, author=author,
                message="Upload validated by validateUpload" if author != SYSTEM_AUTHOR else
                "Files uploaded before revisions",
                expected_parent=None if head is None else head.commit_id, allow_create_branch=head is None,
            )  # fmt: skip
        except CommitConflict:
            raise FileError(
                "ABORTED", "another commit to main landed while these files were validated; validate again",
                reason="COMMIT_CONFLICT",
            ) from None  # fmt: skip

    def _complete_files(self, declared: list[DeclaredFile]) -> list[FileRef]:
        missing: list[str] = []
        refs: list[FileRef] = []
        for f in declared:
            hashed = f.complete and (f.ref.location or "").startswith(SHA_PREFIX)
            if hashed:
                refs.append(f.ref)
                continue
            if isinstance(self.storage, LocalStorage):
                missing.append(f.ref.path)
                continue
            info = self.storage.stat(f.ref)
            if info is None:
                missing.append(f.ref.path)
            elif info.size != f.ref.size:
                self.storage.delete(f.ref)
                raise FileError(
                    "INVALID_ARGUMENT",
                    f"{f.ref.path}: the stored object has {info.size} bytes but {f.ref.size} were declared; "
                    "it was removed, upload it again",
                    reason="FILE_SIZE_MISMATCH",
                    field=f.ref.path,
                    metadata={"file": f.ref.path},
                )
            else:
                refs.append(self._hash_upload(f.ref))
        if missing:
            shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            raise FileError(
                "FAILED_PRECONDITION",
                f"{len(missing)} of {len(declared)} declared files have not been uploaded: {shown}",
                reason="UPLOAD_INCOMPLETE",
                metadata={"missing": ",".join(missing[:100])},
            )
        return refs

    def _hash_upload(self, ref: FileRef) -> FileRef:
        """S3: hash an arrived upload once and copy it to its blob key; the file is then at
        ``sha256:<hex>`` like on file storage."""
        storage = self.storage
        if not isinstance(storage, S3Storage):  # pragma: no cover - file storage hashes on PUT
            raise StorageError(f"{ref.path}: not stored by SHA-256")
        sha, size, etag = storage.hash_upload(ref)
        if size != ref.size:
            raise FileError(
                "ABORTED", f"{ref.path} changed while it was being validated; validate again",
                reason="FILE_CHANGED", field=ref.path,
            )  # fmt: skip
        if not self.files.complete_blob(ref, sha, size, lambda: storage.place_blob(ref, sha, etag)):
            raise FileError(
                "ABORTED", "the file list was replaced while it was being validated; validate again",
                reason="FILE_LIST_CHANGED",
            )  # fmt: skip
        return FileRef(ref.account_id, ref.model_id, ref.path, ref.size, ref.upload_id, f"{SHA_PREFIX}{sha}")

    def check_tree(
        self,
        caller: Principal,
        account_id: str,
        model_id: str,
        model: dict[str, Any],
        entries: list[TreeEntry],
        flags: Flags,
    ) -> Outcome:
        """The ``:validateUpload`` checks of a tree of committed blobs for ``model``'s kind (the Hub door
        checks every commit to ``main`` with it); raises FileError naming what is wrong."""
        return self._check(caller, model, [_ref(account_id, model_id, e) for e in entries], flags)

    def validate_tree(
        self, caller: Principal, model: dict[str, Any], refs: list[FileRef], flags: Flags
    ) -> Outcome:
        """Check a tree of committed blobs (``sha256:`` locations) as ``:validateUpload`` checks an upload
        (the OCI door validates a pushed tree with it before committing)."""
        return self._check(caller, model, refs, flags)

    def _check(self, caller: Principal, model: dict[str, Any], refs: list[FileRef], flags: Flags) -> Outcome:
        by_path = {r.path: r for r in refs}

        def opener(ref: FileRef) -> Callable[[], RangeReader]:
            def open_() -> RangeReader:
                try:
                    return self.storage.open_reader(ref)
                except StorageError as e:
                    raise FileError(
                        "FAILED_PRECONDITION", f"{ref.path}: {e}", reason="FILE_UNREADABLE", field=ref.path
                    ) from None

            return open_

        readers = {path: opener(ref) for path, ref in by_path.items()}
        kind = model.get("kind", "KIND_UNSPECIFIED")
        if kind == "HF_BASE_MODEL":
            return validate_base_model(model, readers, flags)
        if kind in ADAPTER_KINDS:
            return validate_adapter(model, readers, flags, lambda base: self._check_base(caller, base))
        # Other kinds: the files must be complete and their safetensors headers sound; nothing is derived.
        from modelyard.files.validate import check_safetensors

        for path, open_ in readers.items():
            if path.endswith(".safetensors"):
                check_safetensors(path, open_())
        return Outcome({})

    def _check_base(self, caller: Principal, base: str) -> None:
        parts = base.split("/")
        problem = None
        if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "models":
            problem = f"peftDetails.baseModel {base!r} is not a model name (accounts/A/models/M)"
        else:
            found = self.files.model(parts[1], parts[3])
            if found is None or not access.may_read(caller, parts[1], found.public):
                problem = f"peftDetails.baseModel {base} does not exist or is not readable by this API key"
        if problem is not None:
            raise FileError(
                "INVALID_ARGUMENT", problem, reason="BASE_MODEL_NOT_FOUND", field="peftDetails.baseModel"
            )

    def _set_status(self, account_id: str, model_id: str, error: FileError) -> None:
        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            return {**current, "status": {"code": error.status, "message": error.message}}

        try:
            self.models.update_model(_name(account_id, model_id), mutate)
        except Exception:  # the model went away meanwhile: the refusal itself still stands
            return

    # -- :getDownloadEndpoint --------------------------------------------------------------------------
    def download_endpoint(
        self, caller: Principal, account_id: str, model_id: str, base_url: str, revision: str | None = None
    ) -> dict[str, Any]:
        """Signed URLs of ``main``'s files, or of ``revision``'s (a branch, a tag or a 40-hex commit id of
        the model; a modelyard extension, ``?revision=``). Besides ``filenameToSignedUrls`` the answer
        carries ``filenameToSize`` and ``filenameToSha256`` (modelyard extensions), so a client knows
        the transfer before its first byte and checks every file against the revision's digest."""
        if revision is not None and not revision:
            raise FileError(
                "INVALID_ARGUMENT",
                "revision: empty; name a branch, a tag or a 40-hex commit id (or leave it out for main)",
                reason="INVALID_REVISION",
                field="revision",
            )
        model = self.files.model(account_id, model_id)
        if model is None:
            raise _model_not_found(account_id, model_id)
        if not access.may_read(caller, account_id, model.public):  # others' private models: not revealed
            raise _model_not_found(account_id, model_id)
        if model.state != "READY":
            raise FileError(
                "FAILED_PRECONDITION",
                f"model accounts/{account_id}/models/{model_id} is {model.state}: its files can be "
                "downloaded once validateUpload has made it READY",
                reason="MODEL_NOT_READY",
                metadata={"state": model.state},
            )
        head = self.ensure_main(account_id, model_id)
        if revision is not None and revision != MAIN:
            try:
                head = self.revisions.resolve(account_id, model_id, revision)
            except RevisionNotFound:
                raise FileError(
                    "NOT_FOUND",
                    f"revision {revision[:100]!r} not found in accounts/{account_id}/models/{model_id}: "
                    "name a branch, a tag or a 40-hex commit id of this model",
                    reason="REVISION_NOT_FOUND",
                    field="revision",
                    metadata={"revision": revision[:100]},
                ) from None
        expires = int(time.time()) + URL_TTL_SECONDS
        tree = self.revisions.tree(head.commit_id) if head is not None else []
        urls = {e.path: self.download_url(account_id, model_id, e, base_url, expires) for e in tree}
        answer: dict[str, Any] = {
            "filenameToSignedUrls": urls,
            "filenameToSize": {e.path: str(e.size) for e in tree},
            "filenameToSha256": {e.path: e.sha256 for e in tree},
        }
        if head is not None:
            answer["revision"] = head.commit_id
        return answer

    def download_url(
        self, account_id: str, model_id: str, entry: TreeEntry, base_url: str, expires: int
    ) -> str:
        """A signed GET URL (``Range`` honoured) of one committed file, valid until ``expires``."""
        return self.storage.download_url(_ref(account_id, model_id, entry), base_url, expires)

    def ensure_main(self, account_id: str, model_id: str) -> Revision | None:
        """``main`` of a model; a ``READY`` model from before revisions with files on S3 gets its first
        revision here (its uploads hashed and committed by ``modelyard``)."""
        head = self._main(account_id, model_id)
        if head is not None:
            return head
        model = self.files.model(account_id, model_id)
        declared = self.files.files(account_id, model_id)
        if model is None or model.state != "READY" or not declared or not all(f.complete for f in declared):
            return None
        refs = self._complete_files(declared)
        head = self._commit_files(account_id, model_id, refs, None, SYSTEM_AUTHOR)
        self.files.forget(declared)
        self.release(declared)
        return head

    def listing(
        self, account_id: str, model_id: str, base_url: str
    ) -> list[tuple[str, int, str | None, str | None]]:
        """The files of a model the caller may read (the catalog's model page): ``main``'s as
        ``(path, size, signed download URL valid for URL_TTL_SECONDS once it is READY, SHA-256)``, else
        the declared ones (no SHA-256 before they are committed)."""
        model = self.files.model(account_id, model_id)
        if model is None:
            return []
        ready = model.state == "READY"
        head = self.ensure_main(account_id, model_id) if ready else self._main(account_id, model_id)
        expires = int(time.time()) + URL_TTL_SECONDS
        if head is not None:
            return [
                (
                    e.path,
                    e.size,
                    self.download_url(account_id, model_id, e, base_url, expires) if ready else None,
                    e.sha256,
                )
                for e in self.revisions.tree(head.commit_id)
            ]
        return [(f.ref.path, f.ref.size, None, None) for f in self.files.files(account_id, model_id)]

    def read_committed(self, account_id: str, model_id: str, entry: TreeEntry, limit: int) -> bytes:
        """The first ``limit`` bytes of a committed file (e.g. a model card), read through the storage."""
        return self.storage.open_reader(_ref(account_id, model_id, entry)).read(0, min(entry.size, limit))

    def serves(self, account_id: str, model_id: str, path: str, sha256: str) -> bool:
        """Whether a revision of the model holds ``path`` with these bytes (a signed URL of a committed
        file stays valid only while one does)."""
        return self.revisions.holds(account_id, model_id, path, sha256)

    # -- deletion --------------------------------------------------------------------------------------
    def committed_blobs(self, account_id: str, model_id: str) -> set[str]:
        """The SHA-256 of every blob a revision of the model holds (read before deleting the model)."""
        return self.revisions.blobs_of(account_id, model_id)

    def model_deleted(self, account_id: str, model_id: str, committed: Iterable[str] = ()) -> None:
        """Release the files of a model that was just deleted, and the blobs ``committed`` (its
        revisions' blobs, from ``committed_blobs``) no other revision or file holds. A storage failure
        here is logged, not raised: the model is gone, and the sweep frees what is left."""
        try:
            self.release(self.files.forget_model(account_id, model_id))
            for sha in sorted(committed):
                self.files.release_blob(sha, self._delete_blob)
        except StorageError:
            logging.getLogger("modelyard").warning(
                "releasing the files of accounts/%s/models/%s failed; the sweep will",
                account_id,
                model_id,
                exc_info=True,
            )

    def release(self, files: list[DeclaredFile]) -> int:
        """Free the bytes of file rows that are gone (their blobs when nothing else holds them, and on S3
        their upload objects); returns the bytes freed (as far as known)."""
        freed = 0
        storage = self.storage
        for f in files:
            location = f.ref.location or ""
            if isinstance(storage, S3Storage):
                storage.delete(f.ref)
                freed += f.ref.size if f.complete and not location.startswith(SHA_PREFIX) else 0
            if location.startswith(SHA_PREFIX):
                freed += self.files.release_blob(location[len(SHA_PREFIX) :], self._delete_blob)
        return freed

    def _delete_blob(self, sha256: str) -> int:
        storage = self.storage
        if isinstance(storage, LocalStorage | S3Storage):
            return storage.delete_blob(sha256)
        return 0  # pragma: no cover - every backend is one of the two


def _ref(account_id: str, model_id: str, entry: TreeEntry) -> FileRef:
    """The FileRef of a committed file (its bytes are the blob ``sha256:<hex>``)."""
    return FileRef(account_id, model_id, entry.path, entry.size, "", f"{SHA_PREFIX}{entry.sha256}")


def _name(account_id: str, model_id: str) -> str:
    return f"accounts/{account_id}/models/{model_id}"


def _model_not_found(account_id: str, model_id: str) -> RegistryError:
    return not_found("model", _name(account_id, model_id))
