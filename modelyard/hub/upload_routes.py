"""The upload half of the Hub door, mounted on the app: ``install_uploads(app, files, store, settings)``
adds the routes of ``hub/repo_writes.py``, ``hub/lfs.py`` and ``hub/commits.py``, the state they share
(``HubUploads``, the LFS URL signer and transfer sizes), the answer to :class:`HubError` in the Hub's
shape. ``api/app.py`` registers ``hub.write_support.audit_context`` with the audit middleware, so every
Hub write is audited like the API's."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from modelyard.files.service import FileService
from modelyard.hub import commits, lfs, repo_writes
from modelyard.hub.errors import HubError
from modelyard.hub.uploads import HubUploads
from modelyard.settings import Settings
from modelyard.store.repository import Store


def install_uploads(app: FastAPI, files: FileService, store: Store, settings: Settings) -> None:
    app.state.hub_uploads = HubUploads(files, store.hub_objects)
    app.state.hub_lfs_signer = lfs.Signer(store.secret("hub_lfs_url_key"))
    app.state.hub_lfs_settings = lfs.LfsSettings(
        multipart_threshold=settings.hf_multipart_threshold, part_size=settings.hf_part_size
    )
    for module in (repo_writes, commits, lfs):
        app.include_router(module.router)

    async def _hub_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        return exc.response(head=_request.method == "HEAD")

    app.add_exception_handler(HubError, _hub_error)
