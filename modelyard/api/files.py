"""The Models API's file verbs, as the ``fireworks-ai`` SDK calls them:

* ``POST .../models/{id}:getUploadEndpoint`` ``{"filenameToSize": {...}, "enableResumableUpload"}``
* ``GET  .../models/{id}:validateUpload?configOnly&skipHfConfigValidation&trustRemoteCode``
* ``GET  .../models/{id}:getDownloadEndpoint``
* ``POST .../models/{id}:prepare`` is declared in ``api/models.py``'s ``MODEL_METHODS`` without a handler:
  501 UNIMPLEMENTED with ``x-should-retry: false``.

Thin: authentication, parameters and errors here; the rules live in ``modelyard.files``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.api.auth import Action, authenticate, require
from modelyard.api.errors import ApiError, invalid
from modelyard.api.params import receive_body
from modelyard.files.errors import FileError
from modelyard.files.gc import collect
from modelyard.files.service import FileService
from modelyard.files.validate import Flags
from modelyard.resources.codec import ResourceError, check_id
from modelyard.settings import Settings
from modelyard.storage import Storage, open_storage, storage_url
from modelyard.storage.base import StorageError
from modelyard.storage.local import LocalStorage
from modelyard.storage.signing import UrlSigner
from modelyard.store.files import FileStore
from modelyard.store.repository import Store

router = APIRouter()

MODEL_PATH = "/v1/accounts/{account_id}/models/{model_id}"


def _service(request: Request) -> FileService:
    service: FileService = request.app.state.files
    return service


def base_url(request: Request) -> str:
    """The base of signed file URLs: ``Settings.public_url`` (a proxy in front), else the request's."""
    settings: Settings = request.app.state.settings
    return settings.public_url or str(request.base_url)


def _ids(account_id: str, model_id: str) -> None:
    for value, what, field in ((account_id, "account id", "account_id"), (model_id, "model id", "model_id")):
        try:
            check_id(value, what)
        except ResourceError as e:
            raise invalid(e.message, field=field, reason=f"INVALID_{field.upper()}") from None


async def _caller(request: Request, account_id: str, action: Action) -> str:
    """The caller's account, after its role is checked for ``action`` in its own account (other accounts
    are answered by ``modelyard.files.access``: 403 for writes, 404 for others' private models)."""
    principal = await authenticate(request)
    if principal.account_id == account_id:
        require(principal, action, account_id)
    return principal.account_id


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
    caller = await _caller(request, account_id, Action.WRITE_FILES)
    _ids(account_id, model_id)
    raw = await receive_body(request)
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as e:
        raise invalid(
            f"the request body is not valid JSON: {e}", field="body", reason="INVALID_JSON"
        ) from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", field="body", reason="INVALID_JSON")
    service = _service(request)
    return _json(
        await run_in_threadpool(
            service.upload_endpoint, caller, account_id, model_id, body, base_url(request)
        )
    )


@router.get(MODEL_PATH + ":validateUpload", include_in_schema=False)
async def validate_upload(account_id: str, model_id: str, request: Request) -> Response:
    principal = await authenticate(request)
    if principal.account_id == account_id:
        require(principal, Action.WRITE_FILES, account_id)
    caller = principal.account_id
    _ids(account_id, model_id)
    flags = Flags(
        config_only=_bool(request, "configOnly", "config_only"),
        skip_hf_config_validation=_bool(request, "skipHfConfigValidation", "skip_hf_config_validation"),
        trust_remote_code=_bool(request, "trustRemoteCode", "trust_remote_code"),
    )
    service = _service(request)
    return _json(
        await run_in_threadpool(
            functools.partial(service.validate, author=principal.name), caller, account_id, model_id, flags
        )
    )


@router.get(MODEL_PATH + ":getDownloadEndpoint", include_in_schema=False)
async def get_download_endpoint(account_id: str, model_id: str, request: Request) -> Response:
    caller = await _caller(request, account_id, Action.READ_FILES)
    _ids(account_id, model_id)
    service = _service(request)
    return _json(
        await run_in_threadpool(service.download_endpoint, caller, account_id, model_id, base_url(request))
    )


def file_error(exc: FileError) -> ApiError:
    return ApiError(exc.status, exc.message, reason=exc.reason, field=exc.field, metadata=exc.metadata)


def install_files(app: FastAPI, service: FileService) -> None:
    """The file verbs (before the models router, whose ``{model_id}`` would take ``id:verb``), the raw
    file endpoints of ``file://`` storage and the error mapping."""
    from modelyard.api import blobs

    app.state.files = service
    blobs.larger_body_buffer()
    app.include_router(router)
    app.include_router(blobs.router)

    async def _file_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FileError)
        return file_error(exc).response()

    async def _storage_error(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("modelyard").warning("%s %s: storage: %s", request.method, request.url.path, exc)
        return ApiError(
            "UNAVAILABLE", f"the model storage failed: {exc}", reason="STORAGE_UNAVAILABLE"
        ).response()

    app.add_exception_handler(FileError, _file_error)
    app.add_exception_handler(StorageError, _storage_error)


def file_service(
    store: Store, storage: Storage | None = None, settings: Settings | None = None
) -> FileService:
    """The file service of an application: ``storage``, else the one the settings name, else the default
    beside the database. File storage signs its URLs with a secret held in the database (shared by every
    replica)."""
    if storage is None:
        configured = settings.storage_url if settings is not None else ""
        storage = open_storage(storage_url(configured, str(store.engine.url)))
    if isinstance(storage, LocalStorage) and storage.signer is None:
        storage.signer = UrlSigner(store.secret("file_url_key"))
    return FileService(store, FileStore(store.engine), storage, store.revisions)


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
