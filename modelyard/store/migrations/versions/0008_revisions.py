"""revisions, their trees and refs; existing models' files become a first revision on main

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 21:45:00

``revisions`` (40-hex commit id, model, parent, author, message, time), ``revision_files`` (the tree of
each revision: path -> SHA-256 and size) and ``refs`` (branches and tags per model); see
``store/revisions.py``.

Every ``READY`` model whose declared files are all stored by SHA-256 (file storage) gets a first revision
on ``main`` with those files (author ``modelyard``), and its declared-file rows are removed: the files
are committed, so their old upload URLs stop working. Files on S3 from before revisions have no SHA-256
yet; they stay declared and are hashed and committed the first time the model's files are read
(``FileService.ensure_main``). Models still ``UPLOADING`` keep their declared files for
``:validateUpload``.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_READY = 2  # gatewayModelState READY, as stored in models.state
_AUTHOR = "modelyard"
_MESSAGE = "Files uploaded before revisions"


def _text_c(length: int | None = None) -> sa.types.TypeEngine[str]:
    base = sa.String(length) if length else sa.Text()
    collated = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(collated, "postgresql")


def _commit_id(account_id: str, model_id: str, tree: dict[str, tuple[str, int]], author: str, t: int) -> str:
    """``store.revisions.commit_id`` as of this migration (frozen here)."""
    h = hashlib.sha256()
    for path in sorted(tree):
        sha, size = tree[path]
        h.update(f"{path}\0{sha} {size}\n".encode())
    text = (
        f"model accounts/{account_id}/models/{model_id}\ntree {h.hexdigest()}\nparent \n"
        f"author {author} {t}\n\n{_MESSAGE}"
    )
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("commit_id", _text_c(40), nullable=False),
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("parent_id", _text_c(40), nullable=True),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("commit_id"),
    )
    op.create_index("ix_revisions_model", "revisions", ["account_id", "model_id", "create_time"])
    op.create_table(
        "revision_files",
        sa.Column("commit_id", _text_c(40), nullable=False),
        sa.Column("path", _text_c(1024), nullable=False),
        sa.Column("sha256", _text_c(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("commit_id", "path"),
    )
    op.create_index("ix_revision_files_sha256", "revision_files", ["sha256"])
    op.create_table(
        "refs",
        sa.Column("account_id", _text_c(63), nullable=False),
        sa.Column("model_id", _text_c(63), nullable=False),
        sa.Column("name", _text_c(255), nullable=False),
        sa.Column("kind", _text_c(8), nullable=False),
        sa.Column("commit_id", _text_c(40), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "model_id", "name"),
    )
    _carry_files()


def _carry_files() -> None:
    conn = op.get_bind()
    meta = sa.MetaData()
    model_files = sa.Table("model_files", meta, autoload_with=conn)
    models = sa.Table("models", meta, autoload_with=conn)
    revisions = sa.Table("revisions", meta, autoload_with=conn)
    revision_files = sa.Table("revision_files", meta, autoload_with=conn)
    refs = sa.Table("refs", meta, autoload_with=conn)
    name = models.c.name == ("accounts/" + model_files.c.account_id + "/models/" + model_files.c.model_id)
    rows = conn.execute(
        sa.select(
            model_files.c.account_id, model_files.c.model_id, model_files.c.path, model_files.c.size,
            model_files.c.location, model_files.c.complete_time,
        ).where(sa.exists().where(name, models.c.state == _READY))
    )  # fmt: skip
    by_model: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        by_model[(row.account_id, row.model_id)].append(row)
    now = time.time_ns()
    for (account_id, model_id), files in sorted(by_model.items()):
        hashed = all(f.complete_time is not None and (f.location or "").startswith("sha256:") for f in files)
        if not hashed:
            continue
        tree = {f.path: ((f.location or "")[7:], int(f.size)) for f in files}
        cid = _commit_id(account_id, model_id, tree, _AUTHOR, now)
        conn.execute(
            sa.insert(revisions).values(
                commit_id=cid, account_id=account_id, model_id=model_id, parent_id=None, author=_AUTHOR,
                message=_MESSAGE, create_time=now,
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(revision_files),
            [{"commit_id": cid, "path": p, "sha256": s, "size": n} for p, (s, n) in tree.items()],
        )
        conn.execute(
            sa.insert(refs).values(
                account_id=account_id, model_id=model_id, name="main", kind="branch", commit_id=cid,
                update_time=now,
            )
        )  # fmt: skip
        conn.execute(
            sa.delete(model_files).where(
                model_files.c.account_id == account_id, model_files.c.model_id == model_id
            )
        )


def downgrade() -> None:
    # Each main branch's files become declared, complete files again (what 0007 serves).
    conn = op.get_bind()
    meta = sa.MetaData()
    model_files = sa.Table("model_files", meta, autoload_with=conn)
    revision_files = sa.Table("revision_files", meta, autoload_with=conn)
    refs = sa.Table("refs", meta, autoload_with=conn)
    now = time.time_ns()
    mains = conn.execute(
        sa.select(refs.c.account_id, refs.c.model_id, refs.c.commit_id).where(refs.c.name == "main")
    )
    for account_id, model_id, cid in mains.all():
        conn.execute(
            sa.delete(model_files).where(
                model_files.c.account_id == account_id, model_files.c.model_id == model_id
            )
        )
        tree = conn.execute(sa.select(revision_files).where(revision_files.c.commit_id == cid)).all()
        if tree:
            conn.execute(
                sa.insert(model_files),
                [
                    {"account_id": account_id, "model_id": model_id, "path": f.path, "size": f.size,
                     "upload_id": "committed", "expire_time": 0, "location": f"sha256:{f.sha256}",
                     "create_time": now, "complete_time": now}
                    for f in tree
                ],
            )  # fmt: skip
    op.drop_table("refs")
    op.drop_index("ix_revision_files_sha256", table_name="revision_files")
    op.drop_table("revision_files")
    op.drop_index("ix_revisions_model", table_name="revisions")
    op.drop_table("revisions")
