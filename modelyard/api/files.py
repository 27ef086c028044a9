"""The Models API's file verbs, as the ``fireworks-ai`` SDK calls them:

* ``POST .../models/{id}:getUploadEndpoint`` ``{"filenameToSize": {...}, "enableResumableUpload"}``
* ``GET  .../models/{id}:validateUpload?configOnly&skipHfConfigValidation&trustRemoteCode``
* ``GET  .../models/{id}:getDownloadEndpoint`` (``?revision=`` a branch, tag or commit id: a modelyard
  extension; without it ``main``)
(``POST .../models/{id}:prepare`` is ``api/prepare.py``.)

Thin: authentication, parameters and errors here; the rules live in ``modelyard.files``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action, Principal
from modelyard.api.errors import invalid
from modelyard.api.params import json_object
from modelyard.doorway import Permission, admit
from modelyard.files.gc import collect
from modelyard.files.multipart import MultipartUploads
from modelyard.files.opening import file_service
from modelyard.files.service import FileService
from modelyard.files.validate import Flags
from modelyard.settings import Settings

router = APIRouter()

MODEL_PATH = "/v1/accounts/{account_id}/models/{model_id}"


def _service(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


def base_url(request: Request) -> str:
    """The base of signed file URLs: ``Settings.public_url`` (a proxy in front), else the request's."""
    settings: Settings = request.app.state.settings
    return settings.public_url or str(request.base_url)


async def _admit(
    request: Request, account_id: str, model_id: str, action: Action, *, body: bool = False
) -> tuple[Principal, bytes]:
    """The preamble; which models of another account the caller may see is the file service's (the
    visibility rule: others' private models are NOT_FOUND)."""
    ids = {"account_id": account_id, "model_id": model_id}
    admitted = await admit(request, ids, Permission(action, account_id), body=body)
    return admitted.principal, admitted.body


def _json(payload: Any) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _bool(request: Request, camel: str, snake: str) -> bool:
    raw = request.query_params.get(camel, request.query_params.get(snake))
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid(f"{camel}: {raw!r} is not true or false", field=camel)


@router.post(MODEL_PATH + ":getUploadEndpoint", include_in_schema=False)
async def get_upload_endpoint(account_id: str, model_id: str, request: Request) -> Response:
    caller, raw = await _admit(request, account_id, model_id, Action.WRITE_FILES, body=True)
    body = json_object(raw)
    service = _service(request)
    return _json(
        await run_in_threadpool(
            service.upload_endpoint, caller, account_id, model_id, body, base_url(request)
        )
    )


@router.get(MODEL_PATH + ":validateUpload", include_in_schema=False)
async def validate_upload(account_id: str, model_id: str, request: Request) -> Response:
    caller, _ = await _admit(request, account_id, model_id, Action.WRITE_FILES)
    flags = Flags(
        config_only=_bool(request, "configOnly", "config_only"),
        skip_hf_config_validation=_bool(request, "skipHfConfigValidation", "skip_hf_config_validation"),
        trust_remote_code=_bool(request, "trustRemoteCode", "trust_remote_code"),
    )
    service = _service(request)
    return _json(await run_in_threadpool(service.validate, caller, account_id, model_id, flags))


@router.get(MODEL_PATH + ":getDownloadEndpoint", include_in_schema=False)
async def get_download_endpoint(account_id: str, model_id: str, request: Request) -> Response:
    caller, _ = await _admit(request, account_id, model_id, Action.READ_FILES)
    revision = request.query_params.get("revision")  # a modelyard extension: a branch, tag or commit id
    service = _service(request)
    return _json(
        await run_in_threadpool(
            service.download_endpoint, caller, account_id, model_id, base_url(request), revision
        )
    )


# -- the multipart-upload verbs of S3 storage (``modelyard.files.multipart`` holds the rules):
# ``:startMultipartUpload``, ``:getUploadPartUrls``, ``:completeMultipartUpload``, all ``POST`` with a JSON
# body, all with ``:getUploadEndpoint``'s access.

MultipartVerb = Callable[[MultipartUploads, Principal, str, str, dict[str, Any]], dict[str, Any]]


async def _multipart(request: Request, account_id: str, model_id: str, verb: MultipartVerb) -> Response:
    caller, raw = await _admit(request, account_id, model_id, Action.WRITE_FILES, body=True)
    body = json_object(raw)
    service = _service(request)
    uploads = MultipartUploads(service.files, service.storage)
    return _json(await run_in_threadpool(verb, uploads, caller, account_id, model_id, body))


@router.post(MODEL_PATH + ":startMultipartUpload", include_in_schema=False)
async def start_multipart_upload(account_id: str, model_id: str, request: Request) -> Response:
    return await _multipart(request, account_id, model_id, MultipartUploads.start)


@router.post(MODEL_PATH + ":getUploadPartUrls", include_in_schema=False)
async def get_upload_part_urls(account_id: str, model_id: str, request: Request) -> Response:
    return await _multipart(request, account_id, model_id, MultipartUploads.part_urls)


@router.post(MODEL_PATH + ":completeMultipartUpload", include_in_schema=False)
async def complete_multipart_upload(account_id: str, model_id: str, request: Request) -> Response:
    return await _multipart(request, account_id, model_id, MultipartUploads.complete)


def install_files(app: FastAPI, service: FileService) -> None:
    """The file verbs (before the models router, whose ``{model_id}`` would take ``id:verb``) and the raw
    file endpoints of ``file://`` storage. Their refusals (``FileError``, ``StorageError``) are rendered
    by the app's one error boundary (``api/app.py``)."""
    from modelyard.api import blobs

    app.state.files = service
    blobs.larger_body_buffer()
    app.include_router(router)
    app.include_router(blobs.router)


@contextlib.asynccontextmanager
async def periodic_sweep(service: FileService, interval: float) -> AsyncIterator[None]:
    """Run ``modelyard.files.gc.collect`` every ``interval`` seconds (``Settings.gc_interval``) while the
    application runs; 0: never."""
    if interval <= 0:
        yield
        return
    log = logging.getLogger("modelyard")

    async def loop() -> None:
        while True:
            await anyio.sleep(interval)
            try:
                report = await run_in_threadpool(collect, service)
            except Exception:
                log.exception("the periodic sweep of model files failed")
                continue
            if report.bytes_freed or report.expired_files or report.orphaned_files:
                log.info("model files sweep: %s", report.summary())

    async with anyio.create_task_group() as group:
        group.start_soon(loop)
        try:
            yield
        finally:
            group.cancel_scope.cancel()


__all__ = ["base_url", "file_service", "install_files", "periodic_sweep", "router"]
