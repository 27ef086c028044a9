"""The demo catalog (``modelyard serve --demo``): public models under ``accounts/fireworks``."""

from __future__ import annotations

import json
from importlib import resources as importlib_resources
from typing import Any

from modelyard.importers.jsonl import import_lines
from modelyard.store.repository import Store

DEMO_ACCOUNT = "fireworks"


def demo_catalog() -> list[dict[str, Any]]:
    text = importlib_resources.files("modelyard.resources").joinpath("demo_catalog.json").read_text("utf-8")
    data: list[dict[str, Any]] = json.loads(text)
    return data


def load_demo(store: Store) -> int:
    lines = ((i, json.dumps(m)) for i, m in enumerate(demo_catalog(), start=1))
    report = import_lines(store, lines, account=DEMO_ACCOUNT, upsert=True)
    if not report.ok:
        raise RuntimeError(f"demo catalog is invalid: {report.rejected[:3]}")
    return report.created + report.replaced
