"""Checks of what the Hugging Face importer produces: canonical proto3 JSON, and ``inspect`` (inspect a
checkpoint and check its resource)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.aip.schema import Kind, MessageDecl
from modelyard.importers.huggingface import (
    ImportedModel,
    inspect_checkpoint,
    is_valid_model_id,
)
from modelyard.resources.model import MODEL


def assert_canonical(resource: dict[str, Any], message: MessageDecl = MODEL) -> None:
    """Every key is a declared JSON name in declaration order, no value is a proto3 default, int64 is a
    decimal string, enums are names."""
    order = [f.json_name for f in message.fields]
    assert list(resource) == sorted(resource, key=order.index), "keys not in declaration order"
    for key, value in resource.items():
        decl = message.field(key)
        assert decl is not None and decl.json_name == key, key
        if decl.repeated:
            assert isinstance(value, list) and value, key
            items = value
        else:
            items = [value]
        for item in items:
            kind = decl.kind
            if kind is Kind.STRING:
                assert isinstance(item, str) and item, key
            elif kind is Kind.INT64:
                assert isinstance(item, str) and item.isdigit() and item != "0", key
            elif kind is Kind.INT32:
                assert isinstance(item, int) and not isinstance(item, bool) and item != 0, key
            elif kind is Kind.BOOL:
                assert item is True, key
            elif kind is Kind.ENUM:
                assert decl.type.enum is not None
                assert item in decl.type.enum.values[1:], key
            elif kind is Kind.MESSAGE:
                assert decl.type.message is not None and isinstance(item, dict) and item, key
                assert_canonical(item, decl.type.message)
            else:  # pragma: no cover
                raise AssertionError(f"unexpected field kind for {key}")


def inspect(path: Path, **kwargs: Any) -> ImportedModel:
    imported = inspect_checkpoint(path, **kwargs)
    assert_canonical(imported.resource)
    for key in ("name", "createTime", "updateTime"):
        assert key not in imported.resource
    assert is_valid_model_id(imported.model_id)
    return imported


def details(imported: ImportedModel) -> dict[str, Any]:
    result: dict[str, Any] = imported.resource["baseModelDetails"]
    return result
