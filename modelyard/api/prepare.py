"""``POST .../models/{id}:prepare {"precision"}`` (the SDK's ``client.models.prepare``), and the job
threads each server process runs (``Settings.server_jobs``).

Thin: authentication, the body and errors here; the rules live in ``modelyard.prepare.service`` and the
work in ``modelyard.prepare.jobs`` (also run by ``modelyard worker`` processes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

import orjson
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from modelyard.access import Action
from modelyard.api.models import MODEL_METHODS
from modelyard.api.params import json_object
from modelyard.doorway import Permission, admit
from modelyard.prepare.service import PrepareService
from modelyard.prepare.worker import Worker
from modelyard.settings import Settings
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")


async def prepare(request: Request, account_id: str, model_id: str) -> Response:
    # The preamble admits any reader here: whether the model is visible (else 404) comes first, then the
    # write permission (the service's access.require), so another account's private model is not revealed.
    ids = {"account_id": account_id, "model_id": model_id}
    admitted = await admit(request, ids, Permission(Action.READ_MODELS, account_id), body=True)
    principal, raw = admitted.principal, admitted.body
    body = json_object(raw)
    service: PrepareService = request.app.state.prepare
    answer = await run_in_threadpool(service.request, principal, account_id, model_id, body)
    return Response(orjson.dumps(answer), media_type="application/json")


MODEL_METHODS.add("prepare", "POST", prepare)


def prepare_jobs(
    app: FastAPI, store: Store, settings: Settings
) -> contextlib.AbstractAsyncContextManager[None]:
    """The application's job threads (``Settings.server_jobs``), on the app's file storage."""
    from modelyard.prepare.jobs import handlers

    def make_worker() -> Worker:
        return Worker(store, handlers(store, app.state.files.storage))

    return job_threads(make_worker, settings.server_jobs)


@contextlib.asynccontextmanager
async def job_threads(make_worker: Callable[[], Worker], count: int) -> AsyncIterator[None]:
    """Run ``count`` job threads (a Worker each) while the application runs. At shutdown they are told
    to stop; a job still running is left to its lease (another worker takes it again when it expires)."""
    if count <= 0:
        yield
        return
    stop = threading.Event()
    threads = [
        threading.Thread(target=make_worker().run, args=(stop,), name=f"modelyard-job-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
