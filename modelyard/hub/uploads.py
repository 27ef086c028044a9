"""The upload side of the Hugging Face Hub door, below HTTP: what ``create_repo``, ``preupload``, the
LFS batch API and ``create_commit`` do to the registry (``hub/repo_writes.py``, ``hub/lfs.py`` and
``hub/commits.py`` translate the protocol and call this).

* **Blobs.** Every file a commit adds is a content-addressed blob with a SHA-256 the server computed
  itself: small files sent inline in the commit are hashed here and written (:meth:`HubUploads.put_bytes`);
  LFS uploads are hashed on the way in on file storage (``hub/lfs.py``) or read back once from S3 after
  they arrived (:meth:`HubUploads.adopt_s3_object`), and a blob whose bytes do not hash to the LFS oid is
  refused and dropped. A blob row (``blobs``) is written only once the bytes are in place, so a commit can
  only name bytes that exist and were verified.
* **Commits.** :meth:`HubUploads.commit` applies a commit's operations to the branch head's tree, runs the
  same checks as ``:validateUpload`` on the new tree (``FileService.check_tree``) and commits a revision
  (``store/revisions.py``) in one transaction with its audit entry. On ``main``: the first tree that
  validates makes the model ``READY`` with the facts its files give; a tree that does not validate is
  refused when the model is ``READY`` (its ``main`` stays valid) and otherwise committed with the
  model's ``status`` saying what is missing. Other branches are not checked. Nothing is committed until
  every operation was applied and checked, so a client that dies mid-push leaves the revisions as they
  were (uploaded blobs that no commit names are collected by the sweep once old).
* **Who may name a blob.** Blobs are shared by content across models, so a commit may name an LFS object
  only if the repository's revisions hold it or its bytes were uploaded for this repository
  (``store/hub_objects.py``); the LFS batch API asks for the bytes of anything else, even when the
  registry holds them already (they are still stored once). Inline files carry their bytes.
* **Kinds.** A new repository is an ``HF_BASE_MODEL``; a tree that is a LoRA adapter (``adapter_config.json``,
  no ``config.json``) whose ``base_model_name_or_path`` names a model of this registry the caller can read
  makes it an ``HF_PEFT_ADDON`` of that model when it first validates.
* **Upload modes.** ``hub/operations.py`` parses a commit's lines and tells ``preupload`` which files go
  through LFS: anything over 1 MiB, anything binary and weights by their suffix; the rest travel inline.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard import access
from modelyard.access import Principal
from modelyard.files.errors import FileError
from modelyard.files.service import FileService
from modelyard.files.validate import Flags
from modelyard.hub import errors
from modelyard.hub.errors import ENTRY_NOT_FOUND, REVISION_NOT_FOUND, HubError
from modelyard.hub.names import repo_ids
from modelyard.hub.operations import Operations
from modelyard.resources.codec import ResourceError, prune, validate_model
from modelyard.storage.base import FileRef, StorageError
from modelyard.storage.local import LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.store.hub_objects import HubObjects
from modelyard.store.revisions import (
    MAIN,
    BlobMissing,
    CommitConflict,
    InvalidRef,
    Revision,
    RevisionNotFound,
    TreeEntry,
    is_commit_id,
)


def repo_not_found(account_id: str, model_id: str) -> HubError:
    return errors.repo_not_found(f"{account_id}/{model_id}")


#: How many times a commit that lost a race is applied again (each round of racing commits lands one).
COMMIT_ATTEMPTS = 20


class _Raced(Exception):
    def __init__(self, head: str | None) -> None:
        super().__init__(head)
        self.head = head


@dataclass
class CommitResult:
    revision: Revision
    #: Whether the commit changed anything (False: the tree equalled its parent's).
    changed: bool
    #: Whether this commit made the model READY.
    made_ready: bool
    #: Why the tree does not validate yet (commits to a model that is not READY are kept).
    problem: str = ""


@dataclass
class HubUploads:
    """What the Hub door's writes do, synchronously (the routes run it in a worker thread)."""

    files: FileService
    #: The LFS objects uploaded for each repository (proof that a commit may name them).
    objects: HubObjects

    @property
    def storage(self) -> Any:
        return self.files.storage

    # -- blobs -------------------------------------------------------------------------------------------
    def blob_size(self, sha256: str) -> int | None:
        """The size of a verified blob, or None when the storage does not hold it."""
        return self.files.files.blob_size(sha256)

    def present(self, account_id: str, model_id: str, shas: list[str]) -> set[str]:
        """Which of ``shas`` the repository may name without sending their bytes: its revisions hold
        them, or they were uploaded for it (and the storage still has them)."""
        mine = self.files.revisions.blobs_of(account_id, model_id) | self.objects.uploaded(
            account_id, model_id, shas
        )
        return {sha for sha in shas if sha in mine and self.blob_size(sha) is not None}

    def received(self, account_id: str, model_id: str, sha256: str, size: int) -> None:
        """The bytes of ``sha256`` were uploaded for the repository and verified."""
        self.objects.add(account_id, model_id, sha256, size)

    def put_bytes(self, sha256: str, data: bytes) -> None:
        """Store bytes the server hashed itself (an inline file of a commit) as blob ``sha256``."""
        if self.blob_size(sha256) is not None:
            return
        storage = self.storage
        if isinstance(storage, LocalStorage):
            temp = storage.tmp / f"hf-{secrets.token_hex(16)}.part"
            try:
                with open(temp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                self.files.files.add_blob(sha256, len(data), lambda: storage.place(temp, sha256))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
        elif isinstance(storage, S3Storage):
            key = storage.blob_key(sha256)

            def place() -> None:
                try:
                    storage.client.put_object(Bucket=storage.bucket, Key=key, Body=data)
                except Exception as e:
                    raise StorageError(f"cannot write s3://{storage.bucket}/{key}: {e}") from e

            self.files.files.add_blob(sha256, len(data), place)
        else:  # pragma: no cover - the two backends above are all there is
            raise StorageError(f"storage {storage.url} cannot take Hub uploads")

    def adopt_s3_object(self, ref: FileRef, oid: str, size: int) -> None:
        """S3: an LFS upload arrived at ``ref``'s key: hash it once, and keep it as blob ``oid`` only if
        its bytes hash to ``oid`` and it has ``size`` bytes; the upload object is removed either way."""
        storage = self.storage
        assert isinstance(storage, S3Storage)
        try:
            info = storage.stat(ref)
            if info is None:
                raise HubError(400, f"the object {oid} was not uploaded; upload it before verifying it")
            if info.size != size:
                raise HubError(400, f"the object {oid} has {info.size} bytes but {size} were announced")
            sha, got, etag = storage.hash_upload(ref)
            if sha != oid or got != size:
                raise HubError(
                    400,
                    f"the uploaded bytes hash to SHA-256 {sha}, not to the LFS oid {oid}; nothing was kept",
                )
            self.files.files.add_blob(oid, size, lambda: storage.place_blob(ref, sha, etag))
            self.received(ref.account_id, ref.model_id, oid, size)
        finally:
            with contextlib.suppress(StorageError):
                storage.delete(ref)

    # -- commits -----------------------------------------------------------------------------------------
    def head(self, account_id: str, model_id: str, branch: str) -> Revision | None:
        try:
            return self.files.revisions.resolve(account_id, model_id, branch)
        except RevisionNotFound:
            return None

    def commit(
        self,
        caller: Principal,
        author: str,
        account_id: str,
        model_id: str,
        branch: str,
        ops: Operations,
    ) -> CommitResult:
        """Apply ``ops`` to ``branch`` (``main`` may not exist yet: a new repository) and commit. A commit
        that names no parent and loses a race with another one is applied again to the new head (and
        checked again), as the Hub does; one that names its parent gets a 412."""
        for _ in range(COMMIT_ATTEMPTS - 1):
            try:
                return self._commit(caller, author, account_id, model_id, branch, ops)
            except _Raced:
                if ops.parent_commit is not None:
                    break
        try:
            return self._commit(caller, author, account_id, model_id, branch, ops)
        except _Raced as e:
            raise HubError(
                412, f"another commit landed on {branch!r} meanwhile (head {e.head}); commit again"
            ) from None

    def _commit(
        self,
        caller: Principal,
        author: str,
        account_id: str,
        model_id: str,
        branch: str,
        ops: Operations,
    ) -> CommitResult:
        model = self.files.files.model(account_id, model_id)
        if model is None:
            raise repo_not_found(account_id, model_id)
        revisions = self.files.revisions
        if is_commit_id(branch):
            raise HubError(400, f"cannot commit to a commit id ({branch}); commit to a branch")
        head = self.head(account_id, model_id, branch)
        if head is None:
            if branch != MAIN:
                if any(r.name == branch for r in revisions.refs(account_id, model_id)):
                    raise HubError(400, f"{branch!r} is a tag: commits go to branches")
                raise HubError(404, f"Invalid rev id: {branch}", code=REVISION_NOT_FOUND)
        else:
            if any(r.name == branch and r.kind != "branch" for r in revisions.refs(account_id, model_id)):
                raise HubError(400, f"{branch!r} is a tag: commits go to branches")
        if ops.parent_commit is not None and (head is None or head.commit_id != ops.parent_commit):
            raise HubError(
                412,
                f"the parent commit {ops.parent_commit} is not the head of {branch!r} "
                f"({head.commit_id if head else 'no commit yet'}); fetch and commit again",
            )
        tree = {e.path: (e.sha256, e.size) for e in revisions.tree(head.commit_id)} if head else {}
        changes = self._changes(account_id, model_id, head, tree, ops)
        for sha, data in ops.inline.items():
            if any(c is not None and c[0] == sha for c in changes.values()):
                self.put_bytes(sha, data)
        new_tree = dict(tree)
        for path, change in changes.items():
            if change is None:
                new_tree.pop(path, None)
            else:
                new_tree[path] = change
        _check_tree_shape(new_tree)
        updates: dict[str, Any] | None = None
        problem = ""
        state = str(model.resource.get("state", ""))
        if branch == MAIN:
            updates, problem = self._check(caller, account_id, model_id, model.resource, new_tree)
            if updates is None and state == "READY":
                raise HubError(
                    400,
                    f"this commit would leave main of {account_id}/{model_id} invalid, so it was refused: "
                    f"{problem}",
                )
        message = ops.summary if not ops.description else f"{ops.summary}\n\n{ops.description}"
        try:
            revision = revisions.commit(
                account_id, model_id, branch=branch, expected_parent=head.commit_id if head else None,
                changes=changes, author=author, message=message, allow_create_branch=head is None,
            )  # fmt: skip
        except CommitConflict as e:
            raise _Raced(e.head) from None
        except BlobMissing as e:
            raise HubError(
                400, f"{e.path}: the LFS object {e.sha256} was not uploaded; upload it first"
            ) from None
        except InvalidRef as e:
            raise HubError(400, str(e)) from None
        except RevisionNotFound:
            raise HubError(404, f"Invalid rev id: {branch}", code=REVISION_NOT_FOUND) from None
        changed = head is None or revision.commit_id != head.commit_id
        self.objects.forget(account_id, model_id, [c[0] for c in changes.values() if c is not None])
        made_ready = False
        if branch == MAIN:
            made_ready = self._update_model(account_id, model_id, updates, problem)
        return CommitResult(revision, changed, made_ready, problem)

    def _changes(
        self,
        account_id: str,
        model_id: str,
        head: Revision | None,
        tree: dict[str, tuple[str, int]],
        ops: Operations,
    ) -> dict[str, tuple[str, int] | None]:
        changes = dict(ops.changes)
        for path in ops.deleted_files:
            if path not in tree and ops.changes.get(path) is None:
                raise HubError(
                    404,
                    f"A file with this name doesn't exist: {path} (nothing was committed)",
                    code=ENTRY_NOT_FOUND,
                )
        for folder in ops.deleted_folders:
            prefix = folder + "/" if folder else ""
            under = [p for p in tree if p.startswith(prefix)]
            if not under:
                raise HubError(
                    404, f"A folder with this name doesn't exist: {folder} (nothing was committed)",
                    code=ENTRY_NOT_FOUND,
                )  # fmt: skip
            for path in under:
                changes.setdefault(path, None)
        for src, rev, dest in ops.copies:
            source = tree if rev is None else self._tree_at(account_id, model_id, rev)
            if src not in source:
                raise HubError(404, f"Cannot copy {src}: the file does not exist", code=ENTRY_NOT_FOUND)
            changes[dest] = source[src]
        for path, sha in ops.unsized.items():
            size = self.blob_size(sha)
            if size is None:
                raise HubError(400, f"{path}: the LFS object {sha} was not uploaded; upload it first")
            changes[path] = (sha, size)
        named = [c[0] for c in changes.values() if c is not None and c[0] not in ops.inline]
        present = self.present(account_id, model_id, named) if named else set()
        for path, change in changes.items():
            if change is None:
                continue
            sha, size = change
            if sha in ops.inline:
                continue
            if sha not in present:
                raise HubError(
                    400, f"{path}: the LFS object {sha} was not uploaded to this repository; upload it first"
                )
            known = self.blob_size(sha)
            if known != size:
                raise HubError(400, f"{path}: the LFS object {sha} has {known} bytes, not {size}")
        return changes

    def _tree_at(self, account_id: str, model_id: str, rev: str) -> dict[str, tuple[str, int]]:
        try:
            found = self.files.revisions.resolve(account_id, model_id, rev)
        except RevisionNotFound:
            raise HubError(404, f"Invalid rev id: {rev}", code=REVISION_NOT_FOUND) from None
        return {e.path: (e.sha256, e.size) for e in self.files.revisions.tree(found.commit_id)}

    def _check(
        self,
        caller: Principal,
        account_id: str,
        model_id: str,
        model: dict[str, Any],
        tree: Mapping[str, tuple[str, int]],
    ) -> tuple[dict[str, Any] | None, str]:
        """The Model fields a valid tree gives, or None and why it does not validate."""
        if not tree:
            return None, "the repository has no files"
        entries = [TreeEntry(path, sha, size) for path, (sha, size) in sorted(tree.items())]
        changes: dict[str, Any] = {}
        if _looks_like_adapter(model, tree):
            # A new repository is a base model until its files say otherwise: an adapter whose
            # base_model_name_or_path names a model of this registry becomes an HF_PEFT_ADDON of it.
            base, problem = self._adapter_base(caller, account_id, model_id, tree)
            if base is None:
                return None, problem
            changes = {"kind": "HF_PEFT_ADDON", "peftDetails": {"baseModel": base}}
            model = {k: v for k, v in model.items() if k != "baseModelDetails"} | changes
        try:
            outcome = self.files.check_tree(caller, account_id, model_id, model, entries, Flags())
        except FileError as e:
            return None, e.message
        return changes | outcome.updates, ""

    def _adapter_base(
        self, caller: Principal, account_id: str, model_id: str, tree: Mapping[str, tuple[str, int]]
    ) -> tuple[str | None, str]:
        """The model an adapter's ``base_model_name_or_path`` names (``ACCOUNT/MODEL`` of this registry,
        Hub-style names mapped), or None and why not."""
        sha, size = tree[ADAPTER_CONFIG]
        if size > 1 << 20:
            return None, f"{ADAPTER_CONFIG} is larger than 1 MiB"
        ref = FileRef(account_id, model_id, ADAPTER_CONFIG, size, "", f"sha256:{sha}")
        try:
            config = json.loads(self.storage.open_reader(ref).read(0, size))
        except (StorageError, ValueError):
            return None, f"{ADAPTER_CONFIG} is not valid JSON"
        base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
        hint = (
            "push the base model to this registry first and name it ACCOUNT/MODEL in "
            "base_model_name_or_path (or set peftDetails.baseModel through the API)"
        )
        if not isinstance(base, str) or base.count("/") != 1:
            return (
                None,
                f"{ADAPTER_CONFIG}: base_model_name_or_path {base!r} is not a model of this registry; {hint}",
            )
        unknown = (
            f"{ADAPTER_CONFIG}: base_model_name_or_path {base!r} is not a model of this registry; {hint}"
        )
        try:
            base_account, base_model = repo_ids(*base.split("/"))
        except HubError:
            return None, unknown
        found = self.files.files.model(base_account, base_model)
        if found is None or not access.may_read(caller, base_account, found.public):
            return None, unknown
        return f"accounts/{base_account}/models/{base_model}", ""

    def _update_model(
        self, account_id: str, model_id: str, updates: dict[str, Any] | None, problem: str
    ) -> bool:
        """After a commit to ``main``: a valid tree makes the model READY with what its files say; an
        invalid one (the model is not READY yet) leaves it UPLOADING with ``status`` saying why."""
        made_ready = False

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            nonlocal made_ready
            if updates is None:
                if current.get("state") == "READY":
                    return current
                return {**current, "status": {"code": "FAILED_PRECONDITION", "message": problem[:900]}}
            made_ready = current.get("state") != "READY"
            new = {**current, **updates, "state": "READY"}
            if new.get("kind") != "HF_BASE_MODEL":
                new.pop("baseModelDetails", None)
            new.pop("status", None)
            new = prune(new)
            validate_model(new)
            return new

        try:
            self.files.models.update_model(f"accounts/{account_id}/models/{model_id}", mutate)
        except ResourceError as e:
            raise HubError(400, f"the files describe an invalid model: {e}") from None
        return made_ready


ADAPTER_CONFIG = "adapter_config.json"


def _looks_like_adapter(model: Mapping[str, Any], tree: Mapping[str, tuple[str, int]]) -> bool:
    return (
        model.get("kind") == "HF_BASE_MODEL"
        and model.get("state") != "READY"
        and ADAPTER_CONFIG in tree
        and "config.json" not in tree
    )


def _check_tree_shape(tree: Mapping[str, tuple[str, int]]) -> None:
    """A path cannot be both a file and a folder."""
    folders: set[str] = set()
    for path in tree:
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(folders & set(tree))
    if clash:
        raise HubError(400, f"{clash[0]!r} would be both a file and a folder")
    if len(tree) > 10_000:
        raise HubError(400, f"a repository holds at most 10,000 files; this commit would leave {len(tree)}")
