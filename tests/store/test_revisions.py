"""Revisions and refs (``store/revisions.py``) on SQLite and PostgreSQL: commits, compare-and-swap on the
branch head, branches and tags, the log, deletion with the model, and the migration that carries
existing models' files into a first revision."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert, select

from modelyard.aip.timestamps import now_nanos
from modelyard.store.engine import make_engine
from modelyard.store.migrate import alembic_config, upgrade
from modelyard.store.repository import Store
from modelyard.store.revisions import (
    MAIN,
    BlobMissing,
    CommitConflict,
    InvalidRef,
    ModelNotFound,
    RefExists,
    RevisionNotFound,
    TreeEntry,
)
from modelyard.store.rows import resource_to_row
from modelyard.store.tables import blobs, model_files, revision_files, revisions
from tests.support.api import uid

AUTHOR = "accounts/acme/users/admin"


@pytest.fixture()
def store(backend: str) -> Iterator[Store]:
    s = Store(make_engine(backend))
    upgrade(s.engine)
    yield s
    s.engine.dispose()


def _blob(store: Store, data: bytes) -> tuple[str, int]:
    """A blob row, as a PUT that stored ``data`` leaves it."""
    sha = hashlib.sha256(data).hexdigest()
    with store.engine.begin() as conn:
        if conn.execute(select(blobs.c.sha256).where(blobs.c.sha256 == sha)).first() is None:
            conn.execute(insert(blobs).values(sha256=sha, size=len(data), create_time=now_nanos()))
    return sha, len(data)


def _model(store: Store) -> tuple[str, str]:
    account, model_id = uid("rev"), uid("m")
    store.create_api_key(account)
    store.create_model(account, model_id, {"kind": "HF_BASE_MODEL"})
    return account, model_id


def test_commits_refs_log_and_trees(store: Store) -> None:
    revs = store.revisions
    account, model_id = _model(store)
    config, weights, readme = _blob(store, b'{"a": 1}'), _blob(store, b"weights"), _blob(store, b"# card")
    with pytest.raises(RevisionNotFound):
        revs.resolve(account, model_id, MAIN)
    with pytest.raises(RevisionNotFound):  # a branch is only created when asked to
        revs.commit(account, model_id, changes={"config.json": config}, author=AUTHOR, message="x")

    first = revs.commit(
        account, model_id, changes={"config.json": config, "model.safetensors": weights},
        author=AUTHOR, message="first", allow_create_branch=True,
    )  # fmt: skip
    assert len(first.commit_id) == 40 and first.parent_id is None and first.author == AUTHOR
    assert revs.resolve(account, model_id, MAIN) == first
    assert revs.resolve(account, model_id, first.commit_id) == first
    assert revs.tree(first.commit_id) == [
        TreeEntry("config.json", *config), TreeEntry("model.safetensors", *weights)
    ]  # fmt: skip

    second = revs.commit(
        account, model_id, expected_parent=first.commit_id,
        changes={"README.md": readme, "model.safetensors": None}, author=AUTHOR, message="card",
    )  # fmt: skip
    assert second.parent_id == first.commit_id and second.create_time > first.create_time
    assert [e.path for e in revs.tree(second.commit_id)] == ["README.md", "config.json"]
    assert revs.entry(second.commit_id, "README.md") == TreeEntry("README.md", *readme)
    assert revs.entry(second.commit_id, "model.safetensors") is None
    # A commit that changes nothing makes no revision: the head comes back.
    same = revs.commit(account, model_id, changes={"README.md": readme}, author=AUTHOR, message="again")
    assert same == second

    tag = revs.create_tag(account, model_id, "v1", revision=first.commit_id)
    branch = revs.create_branch(account, model_id, "fp8")
    assert (tag.kind, tag.commit_id, branch.kind, branch.commit_id) == (
        "tag", first.commit_id, "branch", second.commit_id
    )  # fmt: skip
    assert [(r.name, r.kind) for r in revs.refs(account, model_id)] == [
        ("fp8", "branch"), ("main", "branch"), ("v1", "tag")
    ]  # fmt: skip
    assert revs.resolve(account, model_id, "v1") == first
    with pytest.raises(RefExists):
        revs.create_tag(account, model_id, "fp8")
    with pytest.raises(InvalidRef):
        revs.commit(account, model_id, branch="v1", changes={}, author=AUTHOR, message="x")
    fp8 = revs.commit(
        account, model_id, branch="fp8", changes={"model.safetensors": weights}, author=AUTHOR, message="fp8"
    )  # fmt: skip
    assert revs.resolve(account, model_id, MAIN) == second  # other branches do not move

    assert [r.commit_id for r in revs.log(account, model_id, "fp8")] == [
        fp8.commit_id, second.commit_id, first.commit_id
    ]  # fmt: skip
    assert revs.log(account, model_id, "fp8", limit=1, after=second.commit_id) == [first]
    assert revs.log(account, model_id, MAIN, after=first.commit_id) == []

    # A new branch started from a commit, and an orphan branch.
    side = revs.commit(
        account, model_id, branch="side", expected_parent=first.commit_id, changes={"README.md": readme},
        author=AUTHOR, message="side", allow_create_branch=True,
    )  # fmt: skip
    assert side.parent_id == first.commit_id
    orphan = revs.commit(
        account, model_id, branch="orphan", changes={"README.md": readme}, author=AUTHOR, message="o",
        allow_create_branch=True,
    )  # fmt: skip
    assert orphan.parent_id is None

    revs.delete_tag(account, model_id, "v1")
    revs.delete_branch(account, model_id, "fp8")
    with pytest.raises(RevisionNotFound):
        revs.resolve(account, model_id, "v1")
    with pytest.raises(RevisionNotFound):
        revs.delete_tag(account, model_id, "side")  # a branch, not a tag
    with pytest.raises(InvalidRef):
        revs.delete_branch(account, model_id, MAIN)
    assert revs.resolve(account, model_id, fp8.commit_id) == fp8  # revisions stay, only the ref went


def test_commit_ids_resolve_only_in_their_model_and_bad_names_are_refused(store: Store) -> None:
    revs = store.revisions
    a, b = _model(store), _model(store)
    blob = _blob(store, b"shared bytes")
    in_a = revs.commit(*a, changes={"f": blob}, author=AUTHOR, message="m", allow_create_branch=True)
    in_b = revs.commit(*b, changes={"f": blob}, author=AUTHOR, message="m", allow_create_branch=True)
    assert in_a.commit_id != in_b.commit_id  # the model is part of the id
    with pytest.raises(RevisionNotFound):
        revs.resolve(*b, in_a.commit_id)
    for bad in ("", "-x", "a..b", "a//b", "x/", "x.lock", "a b", "0" * 40, "x" * 256):
        with pytest.raises(InvalidRef):
            revs.create_branch(*a, bad)
    with pytest.raises(ModelNotFound):
        revs.commit(
            "nobody", "nothing", changes={"f": blob}, author=AUTHOR, message="m", allow_create_branch=True
        )


def test_a_commit_needs_stored_blobs(store: Store) -> None:
    account, model_id = _model(store)
    never_stored = hashlib.sha256(b"never uploaded").hexdigest()
    with pytest.raises(BlobMissing) as info:
        store.revisions.commit(
            account, model_id, changes={"w.bin": (never_stored, 14)}, author=AUTHOR, message="m",
            allow_create_branch=True,
        )  # fmt: skip
    assert info.value.path == "w.bin"
    with pytest.raises(ValueError):
        store.revisions.commit(
            account, model_id, changes={"w.bin": ("NOT-HEX", 1)}, author=AUTHOR, message="m",
            allow_create_branch=True,
        )  # fmt: skip


def test_racing_commits_on_one_head_land_once(store: Store) -> None:
    revs = store.revisions
    account, model_id = _model(store)
    base = revs.commit(
        account, model_id, changes={"a": _blob(store, b"a")}, author=AUTHOR, message="base",
        allow_create_branch=True,
    )  # fmt: skip
    contenders = [_blob(store, f"contender {i}".encode()) for i in range(4)]
    barrier = threading.Barrier(len(contenders))
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            revs.commit(
                account, model_id, expected_parent=base.commit_id, changes={"b": contenders[i]},
                author=AUTHOR, message=f"contender {i}",
            )  # fmt: skip
            outcomes.append("landed")
        except CommitConflict as e:
            assert e.head is not None and e.head != base.commit_id
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(contenders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * (len(contenders) - 1) + ["landed"]
    log = revs.log(account, model_id, MAIN)
    assert len(log) == 2 and log[1] == base


def test_deleting_a_model_deletes_its_revisions_and_refs(store: Store) -> None:
    revs = store.revisions
    account, model_id = _model(store)
    blob = _blob(store, b"to be deleted")
    rev = revs.commit(
        account, model_id, changes={"f": blob}, author=AUTHOR, message="m", allow_create_branch=True
    )
    revs.create_tag(account, model_id, "v1")
    store.delete_model(f"accounts/{account}/models/{model_id}")
    with store.engine.connect() as conn:
        assert conn.execute(select(revisions).where(revisions.c.commit_id == rev.commit_id)).first() is None
        assert (
            conn.execute(select(revision_files).where(revision_files.c.commit_id == rev.commit_id)).all()
            == []
        )
    assert revs.refs(account, model_id) == []
    # The same name again starts with no history.
    store.create_model(account, model_id, {"kind": "HF_BASE_MODEL"})
    with pytest.raises(RevisionNotFound):
        revs.resolve(account, model_id, MAIN)
    with pytest.raises(RevisionNotFound):
        revs.resolve(account, model_id, rev.commit_id)


def test_0008_carries_ready_models_files_into_a_first_revision(blank_db: str) -> None:
    engine = make_engine(blank_db)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    files = {"config.json": b"{}", "model.safetensors": b"w" * 10}
    now = now_nanos()
    with engine.begin() as conn:
        meta = MetaData()
        models_t = Table("models", meta, autoload_with=conn)
        conn.exec_driver_sql("INSERT INTO accounts (account_id, create_time) VALUES ('acme', 0)")
        for model_id, state in (("ready", "READY"), ("uploading", "UPLOADING")):
            resource = {"name": f"accounts/acme/models/{model_id}", "kind": "HF_BASE_MODEL", "state": state}
            conn.execute(insert(models_t), [resource_to_row(resource, account_id="acme", model_id=model_id)])
            for path, data in files.items():
                sha = hashlib.sha256(data).hexdigest()
                conn.execute(
                    insert(model_files).values(
                        account_id="acme", model_id=model_id, path=path, size=len(data), upload_id="u" * 32,
                        expire_time=0, location=f"sha256:{sha}", create_time=now, complete_time=now,
                    )
                )  # fmt: skip
    upgrade(engine)
    store = Store(engine)
    try:
        head = store.revisions.resolve("acme", "ready", MAIN)
        assert head.author == "modelyard" and head.parent_id is None
        assert {e.path: (e.sha256, e.size) for e in store.revisions.tree(head.commit_id)} == {
            p: (hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()
        }
        with engine.connect() as conn:
            left = conn.execute(select(model_files.c.model_id).distinct()).scalars().all()
        assert left == ["uploading"]  # committed files are no longer declared; uploads in progress stay
        with pytest.raises(RevisionNotFound):
            store.revisions.resolve("acme", "uploading", MAIN)
    finally:
        engine.dispose()


def test_nul_and_overlong_names_are_refused_not_crashed(store: Store) -> None:
    """PostgreSQL refuses NUL in text: every entry point turns it into the store's own answer."""
    revs = store.revisions
    account, model_id = _model(store)
    blob = _blob(store, b"nul test")
    revs.commit(account, model_id, changes={"f": blob}, author=AUTHOR, message="m", allow_create_branch=True)
    for rev in ("ma\x00in", "x" * 300):
        with pytest.raises(RevisionNotFound):
            revs.resolve(account, model_id, rev)
    head = revs.resolve(account, model_id, MAIN)
    assert revs.entry(head.commit_id, "f\x00") is None
    with pytest.raises(ValueError):
        revs.commit(account, model_id, changes={"a\x00b": blob}, author=AUTHOR, message="m")
    with pytest.raises(InvalidRef):
        revs.create_tag(account, model_id, "v\x001")
    with pytest.raises(RevisionNotFound):
        revs.delete_tag(account, model_id, "v\x001")
