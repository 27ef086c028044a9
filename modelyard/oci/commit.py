"""A model push: the files of a pushed manifest become a revision of the model.

File layers are the files as pushed; archive layers are unpacked into files (``oci/layers.py``). The
tree is committed to ``main`` (tags ``latest`` and ``main``, a push by digest, or any other tag, which
then also names the commit), or to the branch the tag names when the model has one (``fp8``, ...). The
model is created first when missing (its kind read from the files). The commit is validated like every
other commit; a refusal is ``MANIFEST_INVALID`` with the reason. The pushed manifest is kept as the
revision's manifest, so the tag serves back what was pushed.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio.to_thread

from modelyard.oci import layers
from modelyard.oci.errors import OciError
from modelyard.oci.registry import Registry
from modelyard.oci.view import Repo
from modelyard.store.oci import StoredManifest


def gather(
    reg: Registry, account_id: str, model_id: str, manifest: dict[str, Any]
) -> dict[str, tuple[str, int]]:
    """``{path: (sha256, size)}`` of a model push (archives unpacked into storage, sync)."""
    files: dict[str, tuple[str, int]] = {}

    def add(path: str, sha256: str, size: int) -> None:
        if path in files and files[path] != (sha256, size):
            raise OciError("MANIFEST_INVALID", f"two layers carry different contents for {path}")
        files[path] = (sha256, size)

    staging = reg.uploads.root
    for layer in manifest["layers"]:
        try:
            if layers.is_archive(layer):
                sha256 = layer["digest"].removeprefix("sha256:")
                stream = reg.view.open_blob(sha256)
                with contextlib.closing(stream):
                    for path, sha, size in layers.unpack(stream, layer, staging, reg.view.put_blob):
                        reg.records.link_blob(account_id, model_id, sha, size)
                        add(path, sha, size)
            else:
                add(*layers.raw_file(layer))
        except layers.LayerError as e:
            raise OciError("MANIFEST_INVALID", str(e)) from None
    return files


async def commit_push(
    reg: Registry,
    account_id: str,
    model_id: str,
    repo: Repo | None,
    principal: Any,
    manifest: dict[str, Any],
    stored: StoredManifest,
    tag: str | None,
) -> str:
    """Commit a model push; returns the commit id."""
    files = await anyio.to_thread.run_sync(gather, reg, account_id, model_id, manifest)
    message = f"OCI push of {stored.digest}" + (f" as {tag}" if tag else "")

    def run() -> str:
        commit_id = reg.view.commit(account_id, model_id, repo, principal, files, tag, message)
        kept = StoredManifest(
            stored.digest, stored.media_type, stored.artifact_type, None, commit_id, stored.content
        )
        reg.records.put_manifest(account_id, model_id, kept, None)
        return commit_id

    return await anyio.to_thread.run_sync(run)
