"""Administrative data paths shared by the CLI: the demo catalog, JSON Lines import and export.

The admin path may set output-only fields (``state``, ``createTime``, ``supportsServerless``, ...),
unlike the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from typing import Any, TextIO

import orjson

from modelyard.resources.codec import ResourceError, check_id, decode_message, validate_model
from modelyard.resources.model import MODEL
from modelyard.store.repository import AlreadyExists, Store

DEMO_ACCOUNT = "fireworks"


def demo_catalog() -> list[dict[str, Any]]:
    text = importlib_resources.files("modelyard.resources").joinpath("demo_catalog.json").read_text("utf-8")
    data: list[dict[str, Any]] = json.loads(text)
    return data


def admin_model(data: Any, *, account: str) -> tuple[str, dict[str, Any]]:
    """(model id, canonical resource without ``name``) from one Model JSON object of an import file.

    The id comes from ``name`` (``accounts/*/models/<id>``; the account part is replaced by
    ``account``) or from ``modelId``."""
    if not isinstance(data, dict):
        raise ResourceError("", "each line must be a JSON object (a Model)")
    data = dict(data)
    name = data.pop("name", None)
    model_id = data.pop("modelId", None) or data.pop("model_id", None)
    if name is not None:
        if not isinstance(name, str):
            raise ResourceError("name", "must be a string")
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "models":
            raise ResourceError("name", f"{name!r} is not of the form accounts/<account>/models/<model>")
        model_id = parts[3]
    if not model_id:
        raise ResourceError("name", "each model needs a name (accounts/<account>/models/<id>) or a modelId")
    check_id(model_id)
    check_id(account, "account id")
    resource = decode_message(MODEL, data, path="", allow_output_only=True)
    resource.setdefault("state", "READY")
    if resource.get("kind", "KIND_UNSPECIFIED") == "KIND_UNSPECIFIED":
        resource["kind"] = "HF_PEFT_ADDON"
    validate_model(resource, path="", check_peft_rank=False)  # decode_message already omitted defaults
    return model_id, resource


@dataclass
class ImportReport:
    created: int = 0
    replaced: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def import_lines(
    store: Store,
    lines: Iterable[tuple[int, str]],
    *,
    account: str,
    upsert: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import numbered JSON lines. Each batch is one transaction; a bad line is reported with its line
    number and skipped, and never costs the good lines around it. Decoding the next batch overlaps with
    writing the previous one (a writer thread), so the database and Python work at the same time."""
    report = ImportReport()

    def write(batch: list[tuple[int, str, dict[str, Any]]], rows: list[dict[str, Any]]) -> None:
        try:
            created, replaced = store.write_rows(account, rows, upsert=upsert)
            report.created += created
            report.replaced += replaced
        except AlreadyExists:
            # Find the duplicates one by one; everything else still lands.
            for lineno, mid, res in batch:
                try:
                    c, r = store.import_batch(account, [(mid, res)], upsert=upsert)
                    report.created += c
                    report.replaced += r
                except AlreadyExists:
                    report.rejected.append(
                        (lineno, f"model accounts/{account}/models/{mid} already exists (use --upsert)")
                    )
        if progress is not None:
            progress(len(batch))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-import") as writer:
        pending: Future[None] | None = None
        batch: list[tuple[int, str, dict[str, Any]]] = []
        seen: dict[str, int] = {}

        def flush() -> None:
            nonlocal pending, batch
            if not batch:
                return
            rows = store.prepare_rows(account, [(mid, res) for _, mid, res in batch])
            if pending is not None:
                pending.result()
            pending = writer.submit(write, batch, rows)
            batch = []
            seen.clear()

        for lineno, line in lines:
            if not line.strip():
                continue
            try:
                model_id, resource = admin_model(orjson.loads(line), account=account)
            except orjson.JSONDecodeError as e:
                report.rejected.append((lineno, f"not valid JSON: {e}"))
                continue
            except ResourceError as e:
                report.rejected.append((lineno, str(e)))
                continue
            if model_id in seen:
                report.rejected.append(
                    (lineno, f"model id {model_id!r} already appears on line {seen[model_id]}")
                )
                continue
            seen[model_id] = lineno
            batch.append((lineno, model_id, resource))
            if len(batch) >= batch_size:
                flush()
        flush()
        if pending is not None:
            pending.result()
    report.rejected.sort()
    return report


def numbered_lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    yield from enumerate(handle, start=1)


def load_demo(store: Store) -> int:
    lines = ((i, json.dumps(m)) for i, m in enumerate(demo_catalog(), start=1))
    report = import_lines(store, lines, account=DEMO_ACCOUNT, upsert=True)
    if not report.ok:
        raise RuntimeError(f"demo catalog is invalid: {report.rejected[:3]}")
    return report.created + report.replaced
