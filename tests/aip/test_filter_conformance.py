"""The 298-row AIP-160 conformance table (``tests/data/filter_cases.jsonl``, a copy of the project's
``shared/conformance/filter_cases.jsonl`` kept in the repository so a clone with nothing beside it runs it).

Every row: the input parses to the expected S-expression tree, or fails with FilterError. Rows whose
``check`` column speaks (``ok…`` / ``INVALID_ARGUMENT…`` / F178's ``optional``) are also type-checked
against schema S (:mod:`schema_s`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import check, parse, query, to_sexpr
from tests.support.paths import FILTER_CASES
from tests.support.schema_s import SCHEMA_S

CASES_PATH = Path(os.environ.get("MODELYARD_FILTER_CASES", FILTER_CASES))
ROW_COUNT = 298


def _load() -> list[dict[str, Any]]:
    if not CASES_PATH.exists():
        return []
    with CASES_PATH.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


ROWS = _load()


def test_conformance_file_is_present() -> None:
    """The conformance table is part of the repository: never skip it silently."""
    assert len(ROWS) == ROW_COUNT, f"expected {ROW_COUNT} conformance rows at {CASES_PATH}"


def _text(row: dict[str, Any]) -> str:
    if "input_bytes_hex" in row and row.get("input") is None:
        return bytes.fromhex(row["input_bytes_hex"]).decode("utf-8", errors="surrogateescape")
    return str(row["input"])


def _checked_rows() -> list[dict[str, Any]]:
    return [r for r in ROWS if r["check"].startswith(("ok", "INVALID_ARGUMENT", "optional"))]


def test_table_is_complete() -> None:
    assert len(ROWS) == ROW_COUNT
    assert len({r["id"] for r in ROWS}) == ROW_COUNT


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_parse(row: dict[str, Any]) -> None:
    text = _text(row)
    if row["parses"]:
        assert to_sexpr(parse(text)) == row["tree"]
    else:
        with pytest.raises(FilterError) as info:
            parse(text)
        assert info.value.reason == "INVALID_FILTER"
        assert info.value.column is not None
        assert 1 <= info.value.column <= len(text) + 1
        if "input_bytes_hex" in row:
            assert "invalid UTF-8" in info.value.message


@pytest.mark.parametrize("row", _checked_rows(), ids=[r["id"] for r in _checked_rows()])
def test_check_against_schema_s(row: dict[str, Any]) -> None:
    text = _text(row)
    verdict = row["check"]
    if row["id"] == "F178":
        # "optional: same as (OR (= a b) (= a c))": modelyard expands. Schema S has no field ``a``, so the row
        # literally is an unknown-field error; the expansion is checked on a declared string field.
        with pytest.raises(FilterError) as info:
            check(parse(text), SCHEMA_S, text)
        assert info.value.reason == "UNKNOWN_FILTER_FIELD"
        expanded = check(parse("name = (b OR c)"), SCHEMA_S).query
        assert isinstance(expanded, query.Or)
        assert [(c.op, c.value) for c in expanded.operands if isinstance(c, query.Compare)] == [
            (query.Op.EQ, "b"),
            (query.Op.EQ, "c"),
        ]
        return
    if verdict.startswith("ok"):
        result = check(parse(text), SCHEMA_S, text)
        assert result.text == text
        if row["tree"] == "<empty>":
            assert result.query is None
        else:
            assert result.query is not None
    else:
        with pytest.raises(FilterError) as info:
            check(parse(text), SCHEMA_S, text)
        error = info.value
        assert error.reason in ("INVALID_FILTER", "UNKNOWN_FILTER_FIELD", "INVALID_FILTER_VALUE")
        assert error.column is not None and 1 <= error.column <= len(text)
        if row["id"] == "F143":
            assert "AND" in error.message and '"and"' in error.message
        if "unknown field" in verdict:
            assert error.reason == "UNKNOWN_FILTER_FIELD"


EXPECTED_REASONS = {
    "F089": "UNKNOWN_FILTER_FIELD",
    "F098": "INVALID_FILTER_VALUE",
    "F116": "INVALID_FILTER_VALUE",
    "F118": "INVALID_FILTER_VALUE",
    "F200": "INVALID_FILTER_VALUE",
    "F246": "INVALID_FILTER_VALUE",
    "F248": "INVALID_FILTER_VALUE",
    "F251": "INVALID_FILTER_VALUE",
    "F257": "INVALID_FILTER_VALUE",
    "F258": "INVALID_FILTER_VALUE",
    "F262": "INVALID_FILTER_VALUE",
    "F263": "INVALID_FILTER_VALUE",
    "F266": "INVALID_FILTER_VALUE",
    "F269": "INVALID_FILTER_VALUE",
    "F271": "INVALID_FILTER_VALUE",
    "F273": "INVALID_FILTER_VALUE",
    "F275": "INVALID_FILTER_VALUE",
    "F276": "UNKNOWN_FILTER_FIELD",
    "F041": "INVALID_FILTER",
    "F053": "INVALID_FILTER",
    "F143": "INVALID_FILTER",
    "F204": "INVALID_FILTER",
    "F220": "INVALID_FILTER",
    "F229": "INVALID_FILTER",
    "F231": "INVALID_FILTER",
    "F242": "INVALID_FILTER",
    "F265": "INVALID_FILTER",
    "F277": "INVALID_FILTER",
}


@pytest.mark.parametrize("row_id", sorted(EXPECTED_REASONS))
def test_error_reasons(row_id: str) -> None:
    row = next(r for r in ROWS if r["id"] == row_id)
    text = _text(row)
    with pytest.raises(FilterError) as info:
        check(parse(text), SCHEMA_S, text)
    assert info.value.reason == EXPECTED_REASONS[row_id]
    if info.value.reason == "INVALID_FILTER_VALUE":
        assert set(info.value.metadata) >= {"field", "value"}
    if info.value.reason == "UNKNOWN_FILTER_FIELD":
        assert "field" in info.value.metadata
