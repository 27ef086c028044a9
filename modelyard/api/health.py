"""``GET /healthz`` (liveness: the database answers) and ``GET /readyz`` (readiness: the database answers,
its schema is at the Alembic head, the model storage answers and the process is not draining; see
:mod:`modelyard.api.observability` and :class:`modelyard.storage.factory.StorageProbe`)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import Response

from modelyard.api.errors import ApiError
from modelyard.api.observability import Observability
from modelyard.storage.factory import StorageProbe
from modelyard.store.errors import Unavailable
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")

router = APIRouter()

_OK = b'{"status":"ok"}'


def _database_unavailable() -> Response:
    return ApiError("UNAVAILABLE", "the database does not answer", reason="DATABASE_UNAVAILABLE").response()


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> Response:
    store: Store = request.app.state.store
    try:
        store.ping()
    except Unavailable as e:
        log.warning("health check failed: %s", e)
        return _database_unavailable()
    return Response(_OK, media_type="application/json")


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> Response:
    obs: Observability = request.app.state.observability
    if obs.draining:
        return ApiError("UNAVAILABLE", "the server is shutting down", reason="SHUTTING_DOWN").response()
    try:
        obs.store.ping()
        current, revision = obs.schema_current()
    except Unavailable as e:
        log.warning("readiness check failed: %s", e)
        return _database_unavailable()
    if not current:
        return ApiError(
            "UNAVAILABLE",
            f"the database schema is at revision {revision}, not {obs.expected_revision()}; "
            "run the migrations (any modelyard command does)",
            reason="SCHEMA_NOT_CURRENT",
            metadata={"current": revision, "expected": obs.expected_revision()},
        ).response()
    if (problem := _storage_probe(request).problem()) is not None:
        log.warning("readiness check failed: %s", problem)
        return ApiError("UNAVAILABLE", problem, reason="STORAGE_UNAVAILABLE").response()
    return Response(_OK, media_type="application/json")


def _storage_probe(request: Request) -> StorageProbe:
    probe: StorageProbe | None = getattr(request.app.state, "storage_probe", None)
    if probe is None:
        probe = request.app.state.storage_probe = StorageProbe(request.app.state.files.storage)
    return probe
