"""Administrative data paths shared by the CLI: the admin decoding of a Model, and the demo catalog.

The admin path may set output-only fields (``state``, ``createTime``, ``supportsServerless``, ...),
unlike the API.
"""

from __future__ import annotations

import json
from importlib import resources as importlib_resources
from typing import Any

from modelyard.resources.codec import ResourceError, check_id, decode_message, validate_model
from modelyard.resources.model import MODEL, apply_default_kind, parse_model_name
from modelyard.store.repository import Store

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
        parsed = parse_model_name(name)
        if parsed is None:
            raise ResourceError("name", f"{name!r} is not of the form accounts/<account>/models/<model>")
        model_id = parsed[1]
    if not model_id:
        raise ResourceError("name", "each model needs a name (accounts/<account>/models/<id>) or a modelId")
    check_id(model_id)
    check_id(account, "account id")
    resource = decode_message(MODEL, data, path="", allow_output_only=True)
    resource.setdefault("state", "READY")
    apply_default_kind(resource)
    validate_model(resource, path="", check_peft_rank=False)  # decode_message already omitted defaults
    return model_id, resource


def load_demo(store: Store) -> int:
    from modelyard.importers.jsonl import import_lines

    lines = ((i, json.dumps(m)) for i, m in enumerate(demo_catalog(), start=1))
    report = import_lines(store, lines, account=DEMO_ACCOUNT, upsert=True)
    if not report.ok:
        raise RuntimeError(f"demo catalog is invalid: {report.rejected[:3]}")
    return report.created + report.replaced
