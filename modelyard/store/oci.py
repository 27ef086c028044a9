"""The OCI door's rows (``modelyard/oci``): stored manifests, generated ModelPack manifests, tags of stored
manifests and blobs linked to repositories. Writes run in the store's write transaction (which also
writes the request's audit entry); a database that does not answer raises ``Unavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import now_nanos
from modelyard.store.connections import Database
from modelyard.store.errors import translating
from modelyard.store.tables import (
    models,
    oci_blobs,
    oci_manifests,
    oci_tags,
    revision_files,
    revisions,
)


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    artifact_type: str | None
    subject: str | None
    commit_id: str | None
    content: bytes


def _manifest(row: Any) -> StoredManifest:
    return StoredManifest(
        row.digest, row.media_type, row.artifact_type, row.subject, row.commit_id, bytes(row.content)
    )


class OciRecords:
    def __init__(self, engine: Engine) -> None:
        self.database = Database(engine)

    @staticmethod
    def _repo(table: Any, account_id: str, model_id: str) -> Any:
        return and_(table.c.account_id == account_id, table.c.model_id == model_id)

    # -- manifests -------------------------------------------------------------------------------------
    @translating
    def generated(self, account_id: str, model_id: str, commit_id: str) -> StoredManifest | None:
        stmt = select(oci_manifests).where(
            self._repo(oci_manifests, account_id, model_id), oci_manifests.c.commit_id == commit_id
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt.order_by(oci_manifests.c.create_time).limit(1)).first()
        return None if row is None else _manifest(row)

    @translating
    def save_generated(
        self,
        account_id: str,
        model_id: str,
        commit_id: str,
        manifest: tuple[str, bytes],
        config: tuple[str, bytes],
    ) -> StoredManifest:
        """Keep the manifest generated for a revision, unless another request kept one first (then that
        one is returned: a revision has one manifest for ever)."""
        digest, content = manifest
        try:
            with self.database.write() as conn:
                conn.execute(
                    insert(oci_manifests).values(
                        account_id=account_id,
                        model_id=model_id,
                        digest=digest,
                        media_type="application/vnd.oci.image.manifest.v1+json",
                        artifact_type="application/vnd.cncf.model.manifest.v1+json",
                        subject=None,
                        commit_id=commit_id,
                        content=content,
                        config_digest=config[0],
                        config=config[1],
                        create_time=now_nanos(),
                    )
                )
        except IntegrityError:
            pass
        found = self.generated(account_id, model_id, commit_id)
        assert found is not None
        return found

    @translating
    def manifest(self, account_id: str, model_id: str, digest: str) -> StoredManifest | None:
        stmt = select(oci_manifests).where(
            self._repo(oci_manifests, account_id, model_id), oci_manifests.c.digest == digest
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _manifest(row)

    @translating
    def config_blob(self, account_id: str, model_id: str, digest: str) -> bytes | None:
        stmt = select(oci_manifests.c.config).where(
            self._repo(oci_manifests, account_id, model_id), oci_manifests.c.config_digest == digest
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt.limit(1)).first()
        return None if row is None or row[0] is None else bytes(row[0])

    @translating
    def put_manifest(self, account_id: str, model_id: str, m: StoredManifest, tag: str | None) -> None:
        """Store a pushed manifest (again: a no-op) and point ``tag`` at it."""
        now = now_nanos()
        with self.database.write() as conn:
            exists = conn.execute(
                select(oci_manifests.c.digest).where(
                    self._repo(oci_manifests, account_id, model_id), oci_manifests.c.digest == m.digest
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(oci_manifests).values(
                        account_id=account_id,
                        model_id=model_id,
                        digest=m.digest,
                        media_type=m.media_type,
                        artifact_type=m.artifact_type,
                        subject=m.subject,
                        commit_id=m.commit_id,
                        content=m.content,
                        config_digest=None,
                        config=None,
                        create_time=now,
                    )
                )
            if tag is not None:
                where = and_(self._repo(oci_tags, account_id, model_id), oci_tags.c.tag == tag)
                done = conn.execute(update(oci_tags).where(where).values(digest=m.digest, update_time=now))
                if not done.rowcount:
                    conn.execute(
                        insert(oci_tags).values(
                            account_id=account_id,
                            model_id=model_id,
                            tag=tag,
                            digest=m.digest,
                            update_time=now,
                        )
                    )

    @translating
    def delete_manifest(self, account_id: str, model_id: str, digest: str) -> bool:
        """Delete a stored manifest and the tags pointing at it; False when there was none."""
        with self.database.write() as conn:
            conn.execute(
                delete(oci_tags).where(
                    self._repo(oci_tags, account_id, model_id), oci_tags.c.digest == digest
                )
            )
            done = conn.execute(
                delete(oci_manifests).where(
                    self._repo(oci_manifests, account_id, model_id),
                    oci_manifests.c.digest == digest,
                    oci_manifests.c.commit_id.is_(None),
                )
            )
        return bool(done.rowcount)

    @translating
    def referrers(self, account_id: str, model_id: str, subject: str) -> list[StoredManifest]:
        stmt = (
            select(oci_manifests)
            .where(self._repo(oci_manifests, account_id, model_id), oci_manifests.c.subject == subject)
            .order_by(oci_manifests.c.digest)
        )
        with self.database.reader() as conn:
            return [_manifest(r) for r in conn.execute(stmt)]

    # -- tags of stored manifests ----------------------------------------------------------------------
    @translating
    def tag(self, account_id: str, model_id: str, tag: str) -> str | None:
        stmt = select(oci_tags.c.digest).where(
            self._repo(oci_tags, account_id, model_id), oci_tags.c.tag == tag
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else str(row[0])

    @translating
    def tags(self, account_id: str, model_id: str) -> list[str]:
        stmt = select(oci_tags.c.tag).where(self._repo(oci_tags, account_id, model_id))
        with self.database.reader() as conn:
            return [str(r[0]) for r in conn.execute(stmt)]

    @translating
    def delete_tag(self, account_id: str, model_id: str, tag: str) -> bool:
        with self.database.write() as conn:
            done = conn.execute(
                delete(oci_tags).where(self._repo(oci_tags, account_id, model_id), oci_tags.c.tag == tag)
            )
        return bool(done.rowcount)

    # -- blobs -----------------------------------------------------------------------------------------
    @translating
    def link_blob(self, account_id: str, model_id: str, sha256: str, size: int) -> None:
        try:
            with self.database.write() as conn:
                conn.execute(
                    insert(oci_blobs).values(
                        account_id=account_id,
                        model_id=model_id,
                        sha256=sha256,
                        size=size,
                        create_time=now_nanos(),
                    )
                )
        except IntegrityError:
            pass  # linked already

    @translating
    def linked_size(self, account_id: str, model_id: str, sha256: str) -> int | None:
        stmt = select(oci_blobs.c.size).where(
            self._repo(oci_blobs, account_id, model_id), oci_blobs.c.sha256 == sha256
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else int(row[0])

    @translating
    def revision_blob_size(self, account_id: str, model_id: str, sha256: str) -> int | None:
        """The size of blob ``sha256`` when a revision of the model holds it as a file."""
        owned = select(revisions.c.commit_id).where(
            revisions.c.account_id == account_id, revisions.c.model_id == model_id
        )
        stmt = select(revision_files.c.size).where(
            revision_files.c.sha256 == sha256, revision_files.c.commit_id.in_(owned)
        )
        with self.database.reader() as conn:
            row = conn.execute(stmt.limit(1)).first()
        return None if row is None else int(row[0])

    @translating
    def linked_anywhere(self, sha256: str) -> list[tuple[str, str, int]]:
        """(account, model, size) of every repository the blob is linked to."""
        stmt = select(oci_blobs.c.account_id, oci_blobs.c.model_id, oci_blobs.c.size).where(
            oci_blobs.c.sha256 == sha256
        )
        with self.database.reader() as conn:
            return [(str(a), str(m), int(s)) for a, m, s in conn.execute(stmt)]

    @translating
    def all_linked(self) -> set[str]:
        """Every blob some repository links (garbage collection keeps them)."""
        with self.database.reader() as conn:
            return {str(r[0]) for r in conn.execute(select(oci_blobs.c.sha256).distinct())}

    @translating
    def forget_orphans(self, older_than_nanos: int) -> int:
        """Delete the rows of models that no longer exist; returns how many rows went. Blobs pushed to a
        model that a manifest will create are kept while younger than ``older_than_nanos``."""
        total = 0
        with self.database.write() as conn:
            for table in (oci_blobs, oci_tags, oci_manifests):
                name = "accounts/" + table.c.account_id + "/models/" + table.c.model_id
                gone = ~select(models.c.name).where(models.c.name == name).exists()
                if table is oci_blobs:
                    gone = and_(gone, oci_blobs.c.create_time < now_nanos() - older_than_nanos)
                total += conn.execute(delete(table).where(gone)).rowcount
        return total
