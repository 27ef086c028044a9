"""The model-file lifecycle: ``:getUploadEndpoint``, ``:validateUpload``, ``:getDownloadEndpoint`` and the
release of a deleted model's files. Framework-free and synchronous (the API runs it in a worker thread);
the CLI's ``modelyard storage gc`` and the periodic sweep use the same objects (``modelyard.files.gc``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
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
from modelyard.storage.local import LocalStorage
from modelyard.store.files import DeclaredFile, FileStore, ModelMissing, ModelRow

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
        access.require(caller, Action.WRITE_FILES, account_id)
        model = self.files.model(account_id, model_id)
        if model is None:
            raise _model_not_found(account_id, model_id)
        declared = self.files.files(account_id, model_id)
        if not declared:
            raise FileError(
                "FAILED_PRECONDITION",
                "no files were declared for this model; call getUploadEndpoint and upload them first",
                reason="NO_FILES_DECLARED",
            )
        try:
            complete = self._complete_files(declared)
            outcome = self._check(caller, model.resource, complete, flags)
        except FileError as e:
            if e.status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                self._set_status(account_id, model_id, e)
            raise
        upload_ids = {f.ref.upload_id for f in declared}

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            now = {f.ref.upload_id for f in self.files.files(account_id, model_id)}
            if now != upload_ids:
                raise FileError(
                    "ABORTED",
                    "the file list was replaced while it was being validated; validate again",
                    reason="FILE_LIST_CHANGED",
                )
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
        return {"warnings": outcome.warnings} if outcome.warnings else {}

    def _complete_files(self, declared: list[DeclaredFile]) -> list[FileRef]:
        missing: list[str] = []
        refs: list[FileRef] = []
        for f in declared:
            if f.complete:
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
                self.files.set_location(f.ref, info.location)
                refs.append(FileRef(**{**f.ref.__dict__, "location": info.location}))
        if missing:
            shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            raise FileError(
                "FAILED_PRECONDITION",
                f"{len(missing)} of {len(declared)} declared files have not been uploaded: {shown}",
                reason="UPLOAD_INCOMPLETE",
                metadata={"missing": ",".join(missing[:100])},
            )
        return refs

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
        self, caller: Principal, account_id: str, model_id: str, base_url: str
    ) -> dict[str, Any]:
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
        expires = int(time.time()) + URL_TTL_SECONDS
        complete = [f for f in self.files.files(account_id, model_id) if f.complete]
        urls = {f.ref.path: self.storage.download_url(f.ref, base_url, expires) for f in complete}
        # filenameToSize (a modelyard extension): a client knows the whole transfer before its first byte
        return {
            "filenameToSignedUrls": urls,
            "filenameToSize": {f.ref.path: str(f.ref.size) for f in complete},
        }

    def listing(self, account_id: str, model_id: str, base_url: str) -> list[tuple[str, int, str | None]]:
        """The declared files of a model the caller may read (the catalog's model page): name, size and,
        once the model is READY, a signed download URL valid for :data:`URL_TTL_SECONDS`."""
        model = self.files.model(account_id, model_id)
        if model is None:
            return []
        ready = model.state == "READY"
        expires = int(time.time()) + URL_TTL_SECONDS
        return [
            (
                f.ref.path,
                f.ref.size,
                self.storage.download_url(f.ref, base_url, expires) if ready and f.complete else None,
            )
            for f in self.files.files(account_id, model_id)
        ]

    # -- deletion --------------------------------------------------------------------------------------
    def model_deleted(self, account_id: str, model_id: str) -> None:
        """Release the files of a model that was just deleted (blobs other models use stay). A storage
        failure here is logged, not raised: the model is gone, and the sweep frees what is left."""
        try:
            self.release(self.files.forget_model(account_id, model_id))
        except StorageError:
            logging.getLogger("modelyard").warning(
                "releasing the files of accounts/%s/models/%s failed; the sweep will",
                account_id,
                model_id,
                exc_info=True,
            )

    def release(self, files: list[DeclaredFile]) -> int:
        """Free the bytes of file rows that are gone; returns the bytes freed (as far as known)."""
        freed = 0
        storage = self.storage
        for f in files:
            if isinstance(storage, LocalStorage):
                if f.ref.location and f.ref.location.startswith("sha256:"):
                    freed += self.files.release_blob(f.ref.location[7:], storage.delete_blob)
            else:
                storage.delete(f.ref)
                freed += f.ref.size if f.complete else 0
        return freed


def _name(account_id: str, model_id: str) -> str:
    return f"accounts/{account_id}/models/{model_id}"


def _model_not_found(account_id: str, model_id: str) -> RegistryError:
    return not_found("model", _name(account_id, model_id))
