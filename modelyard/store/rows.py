"""Model resource (canonical JSON) <-> ``models`` row values."""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.aip.schema import Kind
from modelyard.resources.timestamps import parse_rfc3339
from modelyard.store.tables import PRESENCE_COLUMNS, SCALAR_COLUMNS, ScalarColumn

_ZERO: dict[Kind, Any] = {
    Kind.STRING: "",
    Kind.BOOL: False,
    Kind.INT32: 0,
    Kind.INT64: 0,
    Kind.FLOAT: 0.0,
    Kind.DOUBLE: 0.0,
    Kind.ENUM: 0,
    Kind.TIMESTAMP: 0,
    Kind.DURATION: 0,
}


def _lookup(resource: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = resource
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _sql_value(col: ScalarColumn, value: Any) -> Any:
    decl = col.decl
    kind = decl.kind
    if value is None:
        return _ZERO[kind]
    if kind is Kind.ENUM:
        assert decl.type.enum is not None
        return decl.type.enum.number(value) or 0
    if kind is Kind.INT64:
        return int(value)
    if kind is Kind.TIMESTAMP:
        return parse_rfc3339(value) or 0
    return value


_SCALAR_KEYS = [(c, tuple(f.json_name for f in c.path)) for c in SCALAR_COLUMNS]
_PRESENCE_KEYS = [(p.column, tuple(f.json_name for f in p.path)) for p in PRESENCE_COLUMNS]


def resource_to_row(resource: dict[str, Any], *, account_id: str, model_id: str) -> dict[str, Any]:
    """Row values for a complete canonical Model (with ``name``, ``createTime`` and ``updateTime``)."""
    row: dict[str, Any] = {"account_id": account_id, "model_id": model_id}
    for col, keys in _SCALAR_KEYS:
        row[col.column] = _sql_value(col, _lookup(resource, keys))
    for column, keys in _PRESENCE_KEYS:
        row[column] = _lookup(resource, keys) is not None
    listed = {k: v for k, v in resource.items() if k != "deployedModelRefs"}
    row["resource"] = orjson.dumps(listed).decode()
    row["deployed_model_refs"] = orjson.dumps(resource.get("deployedModelRefs", [])).decode()
    return row
