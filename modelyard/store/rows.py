"""Model resource (canonical JSON) <-> ``models`` row values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from modelyard.aip.schema import FieldDecl, Kind
from modelyard.aip.timestamps import parse_rfc3339
from modelyard.store.tables import PRESENCE_COLUMNS, SCALAR_COLUMNS, PresenceColumn, ScalarColumn, models

#: The columns of a row, in table order (what ``resource_to_values`` returns, and COPY writes).
COLUMNS: tuple[str, ...] = tuple(c.name for c in models.columns)
_INDEX = {name: i for i, name in enumerate(COLUMNS)}

#: Every column at its zero value: a row starts as a copy of this and gets the values present.
_ZERO_VALUES: list[Any] = [None] * len(COLUMNS)
for _c in SCALAR_COLUMNS:
    _ZERO_VALUES[_INDEX[_c.column]] = _c.decl.type.zero
for _p in PRESENCE_COLUMNS:
    _ZERO_VALUES[_INDEX[_p.column]] = False
_ACCOUNT, _MODEL_ID = _INDEX["account_id"], _INDEX["model_id"]
_RESOURCE, _REFS = _INDEX["resource"], _INDEX["deployed_model_refs"]


class _Step(NamedTuple):
    """Where one JSON key of a message goes: a column (converted, unless ``convert`` is None), or for a
    message field its presence column and the steps of its own keys."""

    column: int
    convert: Callable[[Any], Any] | None
    inner: dict[str, _Step] | None


def _converter(decl: FieldDecl) -> Callable[[Any], Any] | None:
    kind = decl.kind
    if kind is Kind.ENUM:
        assert decl.type.enum is not None
        zero = decl.type.zero
        numbers = {name: decl.type.enum.number(name) or zero for name in decl.type.enum.values}
        return lambda v: numbers.get(v, zero)
    if kind is Kind.INT64:
        return int
    if kind is Kind.TIMESTAMP:
        zero = decl.type.zero
        return lambda v: parse_rfc3339(v) or zero
    return None


def _steps(scalars: list[ScalarColumn], presences: list[PresenceColumn], depth: int = 0) -> dict[str, _Step]:
    """JSON key -> its step, from the table's column layout (``tables.SCALAR_COLUMNS`` /
    ``PRESENCE_COLUMNS``): scalars directly, messages through their fields."""
    steps: dict[str, _Step] = {}
    for col in scalars:
        if len(col.path) == depth + 1:
            steps[col.path[depth].json_name] = _Step(_INDEX[col.column], _converter(col.decl), None)
    for presence in presences:
        if len(presence.path) == depth + 1:
            head = presence.path[depth]
            inner_scalars = [c for c in scalars if len(c.path) > depth + 1 and c.path[depth] is head]
            inner_presences = [p for p in presences if len(p.path) > depth + 1 and p.path[depth] is head]
            steps[head.json_name] = _Step(
                _INDEX[presence.column], None, _steps(inner_scalars, inner_presences, depth + 1)
            )
    return steps


_STEPS = _steps(SCALAR_COLUMNS, PRESENCE_COLUMNS)


def _fill(values: list[Any], steps: dict[str, _Step], message: dict[str, Any]) -> None:
    for key, value in message.items():
        step = steps.get(key)
        if step is None:
            continue
        column, convert, inner = step
        if inner is not None:
            values[column] = True
            _fill(values, inner, value)
        elif convert is None:
            values[column] = value
        else:
            values[column] = convert(value)


def resource_to_values(resource: dict[str, Any], *, account_id: str, model_id: str) -> tuple[Any, ...]:
    """Row values in ``COLUMNS`` order for a complete canonical Model (with ``name``, ``createTime`` and
    ``updateTime``)."""
    values = _ZERO_VALUES.copy()
    values[_ACCOUNT] = account_id
    values[_MODEL_ID] = model_id
    _fill(values, _STEPS, resource)
    refs = resource.get("deployedModelRefs")
    if refs is None:
        values[_RESOURCE] = orjson.dumps(resource).decode()
        values[_REFS] = "[]"
    else:
        listed = {k: v for k, v in resource.items() if k != "deployedModelRefs"}
        values[_RESOURCE] = orjson.dumps(listed).decode()
        values[_REFS] = orjson.dumps(refs).decode()
    return tuple(values)


def resource_to_row(resource: dict[str, Any], *, account_id: str, model_id: str) -> dict[str, Any]:
    """``resource_to_values`` by column name."""
    values = resource_to_values(resource, account_id=account_id, model_id=model_id)
    return dict(zip(COLUMNS, values, strict=True))
