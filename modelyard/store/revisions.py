"""Revisions and refs of a model's files (decisions.md, "Revisions"): the store part every door commits
through (the Fireworks ``:validateUpload``, the Hugging Face Hub door, ``:prepare``'s precision branches).

A **revision** is an immutable snapshot of a model's files: a tree (path -> SHA-256 and size), a parent,
an author (the principal's resource name, ``accounts/a/users/u``, or :data:`SYSTEM_AUTHOR`), a message
and a time. Its id is 40 hex digits, like git's: the SHA-1 of a canonical serialisation of the model's
name, the tree, the parent, the author, the time and the message (:func:`commit_id`), so ids are unique
across models. A **ref** names a revision of one model: a *branch* (``main``, ``fp8``, ...) moves with
each commit, a *tag* never moves. Branches and tags share one namespace per model.

The API (``store.revisions``, a :class:`Revisions`; every method runs inside the store's error
translation, so a database that does not answer raises ``Unavailable``)::

    resolve(account, model, rev) -> Revision
        ``rev`` is a branch, a tag or a 40-hex commit id of that model (a commit id of another model
        does not resolve). Raises RevisionNotFound.
    get(account, model, commit_id) -> Revision | None
    tree(commit_id) -> list[TreeEntry]                  every file, by path
    entry(commit_id, path) -> TreeEntry | None          one file
    commit(account, model, *, branch="main", expected_parent=None, changes, author, message,
           allow_create_branch=False) -> Revision
        ``changes`` maps a path to ``(sha256, size)`` (added or replaced) or None (deleted; deleting a
        path the tree lacks is a no-op). The new tree is the branch head's tree with the changes applied.
        * An existing branch: ``expected_parent`` None commits on whatever the head is; a commit id
          must equal the head, else CommitConflict (compare-and-swap: of two racing commits that
          expected the same head, exactly one lands; the other raises CommitConflict).
        * A missing branch: RevisionNotFound unless ``allow_create_branch``; then the branch starts at
          ``expected_parent`` (a commit of this model), or, when it is None, with a first revision that
          has no parent.
        * No change (the new tree equals the parent's): no revision is made; the parent is returned
          (and a missing branch is created pointing at it). Compare ``result.commit_id`` with the parent
          to tell.
        Every SHA-256 a commit adds must be a blob the storage holds and the server hashed (a row of
        ``blobs``, made by a PUT to a signed URL, ``:validateUpload`` on S3, or ``FileStore.add_blob``
        for bytes that arrive before their commit), else BlobMissing: a committed file always has a
        verified SHA-256. Garbage collection keeps a blob no revision holds yet for its grace period.
        Committing to a tag raises InvalidRef; a model that does not exist raises ModelNotFound.
    refs(account, model) -> list[Ref]                   branches and tags, by name
    log(account, model, rev, *, limit=50, after=None) -> list[Revision]
        newest first from ``rev``, following parents; ``after`` (a commit id) continues a walk after it.
    create_branch(account, model, name, *, revision="main") -> Ref     RefExists, RevisionNotFound
    create_tag(account, model, name, *, revision="main") -> Ref        RefExists, RevisionNotFound
    delete_branch(account, model, name)     RevisionNotFound; ``main`` cannot be deleted (InvalidRef)
    delete_tag(account, model, name)        RevisionNotFound
    holds(account, model, path, sha256) -> bool     whether a revision of the model has that file
    blobs_of(account, model) -> set[str]    the SHA-256 of every file the model's revisions hold
    referenced(sha256) -> bool              whether any revision of any model holds this blob
    delete_orphans() -> int                 revisions and refs of models that no longer exist

``forget_model(conn, account, model)`` deletes a model's revisions and refs inside the transaction that
deletes the model (``store/models.py``), so a model created again under the same name starts empty.

Ref names: 1-255 characters of ``A-Z a-z 0-9 . _ - /``, starting with a letter or digit, no ``..``, no
``//``, not ending with ``/`` or ``.lock``, and not 40 hex digits (that is a commit id): InvalidRef.

Every write is one transaction (``Database.write``, which also writes the request's audit entry). On
PostgreSQL a commit locks the model's row first, so commits to one model, and a commit racing the
model's deletion, are serialised; the ref update is a compare-and-swap all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.resources.revision import (
    BRANCH,
    MAIN,
    SHA256,
    SYSTEM_AUTHOR,
    TAG,
    Change,
    InvalidRef,
    Ref,
    Revision,
    TreeEntry,
    check_ref_name,
    commit_id,
    is_commit_id,
    tree_digest,
)
from modelyard.store.connections import Database
from modelyard.store.errors import AlreadyExists, NotFound, translating
from modelyard.store.tables import blobs, models, refs, revision_files, revisions

#: The most revisions one ``log`` call returns.
MAX_LOG = 1000


class RevisionNotFound(NotFound):
    """A branch, tag or commit id that does not name a revision of the model."""


class ModelNotFound(NotFound):
    """The model does not exist."""


class RefExists(AlreadyExists):
    """A branch or tag of that name exists."""


class CommitConflict(Exception):
    """The branch head is not the expected parent (another commit landed first)."""

    def __init__(self, message: str, head: str | None) -> None:
        super().__init__(message)
        self.head = head


class BlobMissing(Exception):
    """A commit names a SHA-256 the storage does not hold (upload it first)."""

    def __init__(self, sha256: str, path: str) -> None:
        super().__init__(f"{path}: no stored blob has SHA-256 {sha256}; upload the file first")
        self.sha256 = sha256
        self.path = path


def _name(account_id: str, model_id: str) -> str:
    return f"accounts/{account_id}/models/{model_id}"


def _revision(row: Any) -> Revision:
    return Revision(
        row.commit_id, row.account_id, row.model_id, row.parent_id, row.author, row.message,
        int(row.create_time),
    )  # fmt: skip


def forget_model(conn: Connection, account_id: str, model_id: str) -> None:
    """Delete a model's revisions, trees and refs in ``conn``'s transaction."""
    owned = and_(revisions.c.account_id == account_id, revisions.c.model_id == model_id)
    conn.execute(
        delete(revision_files).where(
            revision_files.c.commit_id.in_(select(revisions.c.commit_id).where(owned))
        )
    )
    conn.execute(delete(revisions).where(owned))
    conn.execute(delete(refs).where(refs.c.account_id == account_id, refs.c.model_id == model_id))


class Revisions:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reads -----------------------------------------------------------------------------------------
    def _get(self, conn: Connection, account_id: str, model_id: str, cid: str) -> Revision | None:
        row = conn.execute(
            select(revisions).where(
                revisions.c.commit_id == cid,
                revisions.c.account_id == account_id,
                revisions.c.model_id == model_id,
            )
        ).first()
        return None if row is None else _revision(row)

    def _ref(self, conn: Connection, account_id: str, model_id: str, name: str, *, lock: bool) -> Ref | None:
        stmt = select(refs.c.name, refs.c.kind, refs.c.commit_id).where(
            refs.c.account_id == account_id, refs.c.model_id == model_id, refs.c.name == name
        )
        if lock and self.database.postgresql:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        return None if row is None else Ref(row.name, row.kind, row.commit_id)

    def _resolve(self, conn: Connection, account_id: str, model_id: str, rev: str) -> Revision:
        if "\x00" in rev or len(rev) > 255:  # names no ref (and PostgreSQL refuses NUL in text)
            raise RevisionNotFound(f"revision {rev[:100]!r} not found in {_name(account_id, model_id)}")
        if is_commit_id(rev):
            found = self._get(conn, account_id, model_id, rev)
        else:
            ref = self._ref(conn, account_id, model_id, rev, lock=False)
            found = None if ref is None else self._get(conn, account_id, model_id, ref.commit_id)
        if found is None:
            raise RevisionNotFound(f"revision {rev!r} not found in {_name(account_id, model_id)}")
        return found

    @translating
    def resolve(self, account_id: str, model_id: str, rev: str) -> Revision:
        with self.database.reader() as conn:
            return self._resolve(conn, account_id, model_id, rev)

    @translating
    def get(self, account_id: str, model_id: str, cid: str) -> Revision | None:
        with self.database.reader() as conn:
            return self._get(conn, account_id, model_id, cid)

    def _tree(self, conn: Connection, cid: str) -> dict[str, tuple[str, int]]:
        rows = conn.execute(
            select(revision_files.c.path, revision_files.c.sha256, revision_files.c.size).where(
                revision_files.c.commit_id == cid
            )
        )
        return {r.path: (r.sha256, int(r.size)) for r in rows}

    @translating
    def tree(self, cid: str) -> list[TreeEntry]:
        with self.database.reader() as conn:
            tree = self._tree(conn, cid)
        return [TreeEntry(path, sha, size) for path, (sha, size) in sorted(tree.items())]

    @translating
    def entry(self, cid: str, path: str) -> TreeEntry | None:
        if "\x00" in path:
            return None
        with self.database.reader() as conn:
            row = conn.execute(
                select(revision_files.c.sha256, revision_files.c.size).where(
                    revision_files.c.commit_id == cid, revision_files.c.path == path
                )
            ).first()
        return None if row is None else TreeEntry(path, row.sha256, int(row.size))

    @translating
    def refs(self, account_id: str, model_id: str) -> list[Ref]:
        with self.database.reader() as conn:
            rows = conn.execute(
                select(refs.c.name, refs.c.kind, refs.c.commit_id)
                .where(refs.c.account_id == account_id, refs.c.model_id == model_id)
                .order_by(refs.c.name)
            )
            return [Ref(r.name, r.kind, r.commit_id) for r in rows]

    @translating
    def log(
        self, account_id: str, model_id: str, rev: str, *, limit: int = 50, after: str | None = None
    ) -> list[Revision]:
        limit = max(0, min(limit, MAX_LOG))
        out: list[Revision] = []
        with self.database.reader() as conn:
            current: Revision | None = self._resolve(conn, account_id, model_id, rev)
            if after is not None:
                start = self._get(conn, account_id, model_id, after) if is_commit_id(after) else None
                if start is None:
                    raise RevisionNotFound(f"revision {after!r} not found in {_name(account_id, model_id)}")
                current = (
                    None
                    if start.parent_id is None
                    else self._get(conn, account_id, model_id, start.parent_id)
                )
            while current is not None and len(out) < limit:
                out.append(current)
                parent = current.parent_id
                current = None if parent is None else self._get(conn, account_id, model_id, parent)
        return out

    @translating
    def holds(self, account_id: str, model_id: str, path: str, sha256: str) -> bool:
        """Whether a revision of the model has ``path`` with these bytes."""
        owned = select(revisions.c.commit_id).where(
            revisions.c.account_id == account_id, revisions.c.model_id == model_id
        )
        stmt = select(
            exists().where(
                revision_files.c.sha256 == sha256,
                revision_files.c.path == path,
                revision_files.c.commit_id.in_(owned),
            )
        )
        with self.database.reader() as conn:
            return bool(conn.execute(stmt).scalar())

    @translating
    def blobs_of(self, account_id: str, model_id: str) -> set[str]:
        """The SHA-256 of every file any revision of the model holds."""
        owned = select(revisions.c.commit_id).where(
            revisions.c.account_id == account_id, revisions.c.model_id == model_id
        )
        with self.database.reader() as conn:
            rows = conn.execute(
                select(revision_files.c.sha256).where(revision_files.c.commit_id.in_(owned)).distinct()
            )
            return {str(r[0]) for r in rows}

    @translating
    def referenced(self, sha256: str) -> bool:
        with self.database.reader() as conn:
            return bool(conn.execute(select(exists().where(revision_files.c.sha256 == sha256))).scalar())

    # -- writes ----------------------------------------------------------------------------------------
    def _lock_model(self, conn: Connection, account_id: str, model_id: str) -> None:
        stmt = select(models.c.name).where(models.c.name == f"{_name(account_id, model_id)}")
        if self.database.postgresql:
            stmt = stmt.with_for_update()
        if conn.execute(stmt).first() is None:
            raise ModelNotFound(f"{_name(account_id, model_id)}")

    def _check_blobs(self, conn: Connection, added: dict[str, str]) -> None:
        """Every SHA-256 a commit adds is a known blob (locked against a concurrent collection)."""
        wanted = sorted(set(added.values()))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            stmt = select(blobs.c.sha256).where(blobs.c.sha256.in_(wanted[start : start + 500]))
            if self.database.postgresql:
                stmt = stmt.with_for_update(read=True)
            found.update(str(r[0]) for r in conn.execute(stmt))
        for path, sha in sorted(added.items()):
            if sha not in found:
                raise BlobMissing(sha, path)

    @translating
    def commit(
        self,
        account_id: str,
        model_id: str,
        *,
        branch: str = MAIN,
        expected_parent: str | None = None,
        changes: Mapping[str, Change],
        author: str,
        message: str,
        allow_create_branch: bool = False,
    ) -> Revision:
        check_ref_name(branch)
        for path, change in changes.items():
            if not path or "\x00" in path or len(path.encode()) > 1024:
                raise ValueError(f"{path[:100]!r}: a path is 1-1024 bytes without NUL")
            if change is not None and (SHA256.fullmatch(change[0]) is None or change[1] < 0):
                raise ValueError(f"{path}: a change is (sha256 as 64 lower-case hex digits, size >= 0)")
        with self.database.write() as conn:
            self._lock_model(conn, account_id, model_id)
            head = self._ref(conn, account_id, model_id, branch, lock=True)
            if head is not None and head.kind != BRANCH:
                raise InvalidRef(f"{branch!r} is a tag; commits go to branches")
            if head is None:
                if not allow_create_branch:
                    raise RevisionNotFound(f"branch {branch!r} not found in {_name(account_id, model_id)}")
                parent_id = expected_parent
            else:
                if expected_parent is not None and expected_parent != head.commit_id:
                    raise CommitConflict(
                        f"branch {branch!r} is at {head.commit_id}, not at {expected_parent}; "
                        "another commit landed first",
                        head.commit_id,
                    )
                parent_id = head.commit_id
            parent = None if parent_id is None else self._get(conn, account_id, model_id, parent_id)
            if parent_id is not None and parent is None:
                raise RevisionNotFound(f"revision {parent_id!r} not found in {_name(account_id, model_id)}")
            base = {} if parent is None else self._tree(conn, parent.commit_id)
            tree = dict(base)
            for path, change in changes.items():
                if change is None:
                    tree.pop(path, None)
                else:
                    tree[path] = (change[0], int(change[1]))
            now = now_nanos()
            if parent is not None and tree == base:
                if head is None:
                    self._insert_ref(conn, account_id, model_id, branch, BRANCH, parent.commit_id, now)
                return parent
            self._check_blobs(conn, {p: v[0] for p, v in tree.items() if base.get(p, ("",))[0] != v[0]})
            created = max(now, parent.create_time + 1) if parent is not None else now
            cid = commit_id(account_id, model_id, tree, parent_id, author, created, message)
            conn.execute(
                insert(revisions).values(
                    commit_id=cid, account_id=account_id, model_id=model_id, parent_id=parent_id,
                    author=author, message=message, create_time=created,
                )
            )  # fmt: skip
            if tree:
                conn.execute(
                    insert(revision_files),
                    [{"commit_id": cid, "path": p, "sha256": s, "size": n} for p, (s, n) in tree.items()],
                )
            if head is None:
                self._insert_ref(conn, account_id, model_id, branch, BRANCH, cid, now)
            else:
                moved = conn.execute(
                    update(refs)
                    .where(
                        refs.c.account_id == account_id, refs.c.model_id == model_id, refs.c.name == branch,
                        refs.c.commit_id == head.commit_id,
                    )
                    .values(commit_id=cid, update_time=now)
                )  # fmt: skip
                if moved.rowcount != 1:  # pragma: no cover - the row lock makes this unreachable
                    raise CommitConflict(f"branch {branch!r} moved meanwhile", None)
        return Revision(cid, account_id, model_id, parent_id, author, message, created)

    def _insert_ref(
        self, conn: Connection, account_id: str, model_id: str, name: str, kind: str, cid: str, now: int
    ) -> Ref:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(refs).values(
                        account_id=account_id, model_id=model_id, name=name, kind=kind, commit_id=cid,
                        update_time=now,
                    )
                )  # fmt: skip
        except IntegrityError:
            raise RefExists(  # noqa: B904 - the integrity error says nothing more
                f"a branch or tag named {name!r} exists in {_name(account_id, model_id)}"
            )
        return Ref(name, kind, cid)

    def _create_ref(self, account_id: str, model_id: str, name: str, kind: str, revision: str) -> Ref:
        check_ref_name(name)
        with self.database.write() as conn:
            self._lock_model(conn, account_id, model_id)
            target = self._resolve(conn, account_id, model_id, revision)
            return self._insert_ref(conn, account_id, model_id, name, kind, target.commit_id, now_nanos())

    @translating
    def create_branch(self, account_id: str, model_id: str, name: str, *, revision: str = MAIN) -> Ref:
        return self._create_ref(account_id, model_id, name, BRANCH, revision)

    @translating
    def create_tag(self, account_id: str, model_id: str, name: str, *, revision: str = MAIN) -> Ref:
        return self._create_ref(account_id, model_id, name, TAG, revision)

    def _delete_ref(self, account_id: str, model_id: str, name: str, kind: str) -> None:
        if kind == BRANCH and name == MAIN:
            raise InvalidRef("the branch 'main' cannot be deleted")
        if "\x00" in name:
            raise RevisionNotFound(f"{kind} {name[:100]!r} not found in {_name(account_id, model_id)}")
        with self.database.write() as conn:
            gone = conn.execute(
                delete(refs).where(
                    refs.c.account_id == account_id, refs.c.model_id == model_id, refs.c.name == name,
                    refs.c.kind == kind,
                )
            )  # fmt: skip
            if gone.rowcount != 1:
                raise RevisionNotFound(f"{kind} {name!r} not found in {_name(account_id, model_id)}")

    @translating
    def delete_branch(self, account_id: str, model_id: str, name: str) -> None:
        self._delete_ref(account_id, model_id, name, BRANCH)

    @translating
    def delete_tag(self, account_id: str, model_id: str, name: str) -> None:
        self._delete_ref(account_id, model_id, name, TAG)

    @translating
    def delete_orphans(self) -> int:
        """Delete the revisions and refs of models that no longer exist; returns the revisions deleted."""
        name = models.c.name == ("accounts/" + revisions.c.account_id + "/models/" + revisions.c.model_id)
        with self.database.write() as conn:
            owners = conn.execute(
                select(revisions.c.account_id, revisions.c.model_id).where(~exists().where(name)).distinct()
            ).all()
            count = 0
            for account_id, model_id in owners:
                owned = and_(revisions.c.account_id == account_id, revisions.c.model_id == model_id)
                count += len(conn.execute(select(revisions.c.commit_id).where(owned)).all())
                forget_model(conn, account_id, model_id)
        return count


__all__ = [
    "BRANCH",
    "MAIN",
    "SHA256",
    "SYSTEM_AUTHOR",
    "TAG",
    "BlobMissing",
    "Change",
    "CommitConflict",
    "InvalidRef",
    "ModelNotFound",
    "Ref",
    "RefExists",
    "Revision",
    "RevisionNotFound",
    "Revisions",
    "TreeEntry",
    "check_ref_name",
    "commit_id",
    "forget_model",
    "is_commit_id",
    "tree_digest",
]
