"""Model resource (canonical JSON) <-> ``models`` row values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from modelyard.aip.schema import FieldDecl, Kind
from modelyard.resources.timestamps import parse_rfc3339
from modelyard.store.tables import PRESENCE_COLUMNS, SCALAR_COLUMNS, PresenceColumn, ScalarColumn

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

#: Every column at its zero value: a row starts as a copy of this and gets the values present.
_ZERO_ROW: dict[str, Any] = {c.column: _ZERO[c.decl.kind] for c in SCALAR_COLUMNS}
_ZERO_ROW.update({p.column: False for p in PRESENCE_COLUMNS})

Setter = Callable[[dict[str, Any], Any], None]


def _converter(decl: FieldDecl) -> Callable[[Any], Any]:
    kind = decl.kind
    if kind is Kind.ENUM:
        assert decl.type.enum is not None
        numbers = {name: decl.type.enum.number(name) or 0 for name in decl.type.enum.values}
        return lambda v: numbers.get(v, 0)
    if kind is Kind.INT64:
        return int
    if kind is Kind.TIMESTAMP:
        return lambda v: parse_rfc3339(v) or 0
    return lambda v: v


def _setters(
    scalars: list[ScalarColumn], presences: list[PresenceColumn], depth: int = 0
) -> dict[str, Setter]:
    """JSON key -> a function storing that key's value into a row, from the table's column layout
    (``tables.SCALAR_COLUMNS`` / ``PRESENCE_COLUMNS``): scalars directly, messages through their fields."""
    setters: dict[str, Setter] = {}
    for col in scalars:
        if len(col.path) == depth + 1:
            setters[col.path[depth].json_name] = _scalar_setter(col.column, _converter(col.decl))
    for presence in presences:
        if len(presence.path) == depth + 1:
            head = presence.path[depth]
            inner_scalars = [c for c in scalars if len(c.path) > depth + 1 and c.path[depth] is head]
            inner_presences = [p for p in presences if len(p.path) > depth + 1 and p.path[depth] is head]
            setters[head.json_name] = _message_setter(
                presence.column, _setters(inner_scalars, inner_presences, depth + 1)
            )
    return setters


def _scalar_setter(column: str, convert: Callable[[Any], Any]) -> Setter:
    def set_scalar(row: dict[str, Any], value: Any) -> None:
        row[column] = convert(value)

    return set_scalar


def _message_setter(presence: str, inner: dict[str, Setter]) -> Setter:
    def set_message(row: dict[str, Any], value: Any) -> None:
        row[presence] = True
        for key, sub in value.items():
            setter = inner.get(key)
            if setter is not None:
                setter(row, sub)

    return set_message


_SETTERS = _setters(SCALAR_COLUMNS, PRESENCE_COLUMNS)


def resource_to_row(resource: dict[str, Any], *, account_id: str, model_id: str) -> dict[str, Any]:
    """Row values for a complete canonical Model (with ``name``, ``createTime`` and ``updateTime``)."""
    row = dict(_ZERO_ROW)
    row["account_id"] = account_id
    row["model_id"] = model_id
    refs = None
    for key, value in resource.items():
        setter = _SETTERS.get(key)
        if setter is not None:
            setter(row, value)
        elif key == "deployedModelRefs":
            refs = value
    if refs is None:
        row["resource"] = orjson.dumps(resource).decode()
        row["deployed_model_refs"] = "[]"
    else:
        listed = {k: v for k, v in resource.items() if k != "deployedModelRefs"}
        row["resource"] = orjson.dumps(listed).decode()
        row["deployed_model_refs"] = orjson.dumps(refs).decode()
    return row
