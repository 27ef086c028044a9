"""The multipart-upload verbs of S3 storage (``modelyard.files.multipart`` holds the rules):
``:startMultipartUpload``, ``:getUploadPartUrls``, ``:completeMultipartUpload``, all ``POST`` with a JSON
body, all with ``:getUploadEndpoint``'s access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action, Principal
from modelyard.api.errors import invalid
from modelyard.api.files import MODEL_PATH, _admit, _json, _service
from modelyard.files.multipart import MultipartUploads

router = APIRouter()

Verb = Callable[[MultipartUploads, Principal, str, str, dict[str, Any]], dict[str, Any]]


async def _run(request: Request, account_id: str, model_id: str, verb: Verb) -> Response:
    caller, raw = await _admit(request, account_id, model_id, Action.WRITE_FILES, body=True)
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as e:
        raise invalid(
            f"the request body is not valid JSON: {e}", field="body", reason="INVALID_JSON"
        ) from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", field="body", reason="INVALID_JSON")
    service = _service(request)
    uploads = MultipartUploads(service.files, service.storage)
    return _json(await run_in_threadpool(verb, uploads, caller, account_id, model_id, body))


@router.post(MODEL_PATH + ":startMultipartUpload", include_in_schema=False)
async def start_multipart_upload(account_id: str, model_id: str, request: Request) -> Response:
    return await _run(request, account_id, model_id, MultipartUploads.start)


@router.post(MODEL_PATH + ":getUploadPartUrls", include_in_schema=False)
async def get_upload_part_urls(account_id: str, model_id: str, request: Request) -> Response:
    return await _run(request, account_id, model_id, MultipartUploads.part_urls)


@router.post(MODEL_PATH + ":completeMultipartUpload", include_in_schema=False)
async def complete_multipart_upload(account_id: str, model_id: str, request: Request) -> Response:
    return await _run(request, account_id, model_id, MultipartUploads.complete)
