"""What a revision of a model's files is (decisions.md, "Revisions"): the records, the rules of ref names
and the canonical serialisation a commit id is the SHA-1 of. Framework- and database-free; the store
(``store/revisions.py``) keeps them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

BRANCH = "branch"
TAG = "tag"
MAIN = "main"
#: The author of revisions modelyard makes itself (the migration of files from before revisions).
SYSTEM_AUTHOR = "modelyard"

_COMMIT_ID = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")
_REF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")


class InvalidRef(ValueError):
    """A ref name that breaks the rules, a commit to a tag, or the deletion of ``main``."""


@dataclass(frozen=True)
class Revision:
    commit_id: str
    account_id: str
    model_id: str
    parent_id: str | None
    author: str
    message: str
    #: Nanoseconds since the epoch (UTC).
    create_time: int


@dataclass(frozen=True)
class TreeEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Ref:
    name: str
    kind: str  # BRANCH or TAG
    commit_id: str


Change = tuple[str, int] | None


def is_commit_id(rev: str) -> bool:
    return _COMMIT_ID.fullmatch(rev) is not None


def check_ref_name(name: str) -> None:
    """InvalidRef unless ``name`` may name a branch or tag."""
    if (
        _REF_NAME.fullmatch(name) is None
        or ".." in name
        or "//" in name
        or name.endswith(("/", ".lock"))
        or is_commit_id(name)
    ):
        raise InvalidRef(
            f"{name!r} is not a valid branch or tag name: 1-255 characters of A-Z a-z 0-9 . _ - /, starting "
            "with a letter or digit, without '..' or '//', not 40 hex digits"
        )


def tree_digest(tree: Mapping[str, tuple[str, int]]) -> str:
    """The SHA-256 of a tree's canonical listing (``path NUL sha256 SP size LF``, by path)."""
    h = hashlib.sha256()
    for path in sorted(tree):
        sha, size = tree[path]
        h.update(f"{path}\0{sha} {size}\n".encode())
    return h.hexdigest()


def commit_id(
    account_id: str,
    model_id: str,
    tree: Mapping[str, tuple[str, int]],
    parent: str | None,
    author: str,
    create_time: int,
    message: str,
) -> str:
    """The id of a revision: SHA-1 over its canonical serialisation (git-like text)."""
    text = (
        f"model accounts/{account_id}/models/{model_id}\ntree {tree_digest(tree)}\nparent {parent or ''}\n"
        f"author {author} {create_time}\n\n{message}"
    )
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
