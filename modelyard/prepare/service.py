"""``:prepare``: the request (checks, the model's state, the queued job) and the model's state when a
job ends. Framework-free and synchronous (the API runs it in a worker thread).

decisions.md, "Prepared precisions": ``POST .../models/{id}:prepare {"precision"}`` on a ``READY`` model
answers ``{}`` at once and queues a job (``store/jobs.py``, kind ``prepare``, argument the precision);
the model is ``PREPARING`` until the variant is committed, then ``READY`` with the precision added to
``supportedPrecisions``. Preparing a precision the model has (or is preparing) is a no-op ``{}``.
Precisions other than FP8, BF16 and FP16 are 400 INVALID_ARGUMENT naming those; a PEFT adapter is 400
(adapters follow their base model's precision). Others' private models are 404, another account's
readable model 403, a role without ``WRITE_MODELS`` 403 (the API checks roles). A failed job leaves the
model ``READY`` with ``status`` saying why.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from modelyard import access
from modelyard.access import Action, Principal
from modelyard.errors import RegistryError, not_found
from modelyard.files.errors import FileError
from modelyard.prepare.precisions import SUPPORTED, Precision, parse_precision
from modelyard.store.errors import NotFound
from modelyard.store.jobs import Job
from modelyard.store.repository import Store
from modelyard.store.revisions import RevisionNotFound

KIND = "prepare"
ADAPTER_KINDS = ("HF_PEFT_ADDON", "HF_TEFT_ADDON")
PREPARABLE_STATES = ("READY", "PREPARING")


def _invalid(message: str, field: str = "precision", reason: str = "INVALID_ARGUMENT") -> FileError:
    return FileError("INVALID_ARGUMENT", message, reason=reason, field=field)


def _not_ready(name: str, state: str) -> FileError:
    return FileError(
        "FAILED_PRECONDITION",
        f"model {name} is {state}; only a READY model can be prepared",
        reason="MODEL_NOT_READY",
        metadata={"state": state},
    )


def _model_not_found(name: str) -> RegistryError:
    return not_found("model", name)


def parse_request(body: dict[str, Any]) -> Precision:
    """The precision asked for (``{"precision": "FP8"}``; ``readMask`` is accepted and ignored)."""
    unknown = sorted(set(body) - {"precision", "readMask", "read_mask"})
    if unknown:
        raise _invalid(f"unknown field {unknown[0]!r}; expected precision", field=unknown[0])
    value = body.get("precision")
    precision = parse_precision(value)
    if precision is None:
        shown = "no precision" if value in (None, "", "PRECISION_UNSPECIFIED") else f"precision {value!r}"
        raise _invalid(
            f"{shown}: modelyard prepares {', '.join(SUPPORTED)}",
            reason="UNSUPPORTED_PRECISION",
        )
    return precision


@dataclass
class PrepareService:
    store: Store

    def request(
        self, caller: Principal, account_id: str, model_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Queue the preparation (see the module doc); ``{}``."""
        name = f"accounts/{account_id}/models/{model_id}"
        found = self.store.get_model(name, reader=caller.reader)
        if found is None:
            raise _model_not_found(name)
        access.require(caller, Action.WRITE_MODELS, account_id)
        precision = parse_request(body)
        if found[0].get("kind") in ADAPTER_KINDS:
            raise _invalid(
                f"model {name} is a {found[0]['kind']} adapter: adapters are not prepared, they follow their "
                "base model's precision",
                field="name",
                reason="ADAPTER_NOT_PREPARED",
            )
        state = found[0].get("state", "STATE_UNSPECIFIED")
        if state not in PREPARABLE_STATES and precision.value not in found[0].get("supportedPrecisions", []):
            raise _not_ready(name, state)
        try:
            self.store.revisions.resolve(account_id, model_id, "main")
        except RevisionNotFound:
            raise FileError(
                "FAILED_PRECONDITION",
                f"model {name} has no files (no main revision): upload a checkpoint first",
                reason="MODEL_HAS_NO_FILES",
            ) from None
        active = self.store.jobs_call(lambda jobs: jobs.for_model(account_id, model_id))
        if any(
            j.kind == KIND and j.argument == precision.value and j.state in ("queued", "running")
            for j in active
        ):
            return {}  # being prepared: a no-op
        queued = False

        def mutate(model: dict[str, Any]) -> dict[str, Any]:
            nonlocal queued
            if precision.value in model.get("supportedPrecisions", []):
                return model  # prepared already: a no-op
            state = model.get("state", "STATE_UNSPECIFIED")
            if state not in PREPARABLE_STATES:
                raise _not_ready(name, state)
            queued = True
            return {
                **model,
                "state": "PREPARING",
                "status": {"code": "OK", "message": f"preparing {precision.value}: queued"},
            }

        try:
            self.store.update_model(name, mutate)
        except NotFound:
            raise _model_not_found(name) from None
        if queued:
            try:
                self.store.jobs_call(lambda jobs: jobs.enqueue(KIND, account_id, model_id, precision.value))
            except Exception:
                # Not queued (the database went away): do not leave the model PREPARING for nothing.
                with contextlib.suppress(Exception):
                    self.failed(
                        Job.queued(account_id, model_id, KIND, precision.value), "it could not be queued"
                    )
                raise
        return {}

    # -- the end of a job ------------------------------------------------------------------------------
    def _others_active(self, job: Job) -> bool:
        return any(
            j.id != job.id and j.kind == KIND and j.state in ("queued", "running")
            for j in self.store.jobs_call(lambda jobs: jobs.for_model(job.account_id, job.model_id))
        )

    def progress(self, job: Job, message: str) -> None:
        """Show progress in the model's ``status`` (while it is PREPARING)."""

        def mutate(model: dict[str, Any]) -> dict[str, Any]:
            if model.get("state") != "PREPARING":
                return model
            return {**model, "status": {"code": "OK", "message": f"preparing {job.argument}: {message}"}}

        with contextlib.suppress(NotFound):  # deleted meanwhile: the job is cancelled
            self.store.update_model(job.model_name, mutate)

    def prepared(self, job: Job) -> None:
        """The variant is committed: the precision is supported, the model READY (unless another
        preparation is still queued or running)."""
        others = self._others_active(job)

        def mutate(model: dict[str, Any]) -> dict[str, Any]:
            supported = list(model.get("supportedPrecisions", []))
            if job.argument not in supported:
                supported.append(job.argument)
            new = {**model, "supportedPrecisions": supported}
            new["state"] = "PREPARING" if others else "READY"
            new["status"] = {
                "code": "OK",
                "message": f"{job.argument} prepared (revision {job.argument.lower()})",
            }
            return new

        self.store.update_model(job.model_name, mutate)

    def failed(self, job: Job, message: str) -> None:
        """The job failed: READY again (unless another preparation runs), ``status`` saying why."""
        others = self._others_active(job)

        def mutate(model: dict[str, Any]) -> dict[str, Any]:
            return {
                **model,
                "state": "PREPARING" if others else "READY",
                "status": {
                    "code": "FAILED_PRECONDITION",
                    "message": f"preparing {job.argument} failed: {message}",
                },
            }

        with contextlib.suppress(NotFound):
            self.store.update_model(job.model_name, mutate)
