"""The decoder's inline fast paths (import speed) give exactly what the general path gives: the same
canonical value, or the same error at the same field, for well-typed and ill-typed input alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.aip.schema import FieldDecl, Kind, MessageDecl, TypeDecl
from modelyard.resources import codec
from modelyard.resources.codec import ResourceError, decode_message
from modelyard.resources.model import MODEL

_TIMESTAMPS = st.sampled_from(
    [
        "2025-03-26T10:35:02.717Z", "2025-03-26T10:35:02Z", "2025-03-26T10:35:02.000Z",
        "2025-03-26T10:35:02.120Z",
        "2025-03-26T10:35:02.123000Z", "2025-03-26T10:35:02.123456789Z", "2025-03-26T10:35:02.123456000Z",
        "2024-02-29T23:59:60Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "2300-01-01T00:00:00Z",
        "1600-01-01T00:00:00Z", "2025-03-26t10:35:02z", "2025-03-26T10:35:02+01:00", "2025-13-01T00:00:00Z",
        "2025-03-26T24:00:00Z", "2025-03-26", "",
    ]
)  # fmt: skip
_INT64_TEXT = st.sampled_from(
    ["0", "7", "007", "123456789012345678", "9223372036854775807", "9223372036854775808", "-5", " 42", "٣",
     "1e3", "", "12345678901234567890123"]
)  # fmt: skip
_ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


def _typed(t: TypeDecl, depth: int) -> st.SearchStrategy[Any]:
    kind = t.kind
    if kind is Kind.STRING:
        return st.text(max_size=6) | st.just("a\x00b")
    if kind is Kind.BOOL:
        return st.booleans()
    if kind in (Kind.INT32, Kind.INT64):
        return st.integers(-(2**64), 2**64) | _INT64_TEXT | st.integers(-5, 5)
    if kind in (Kind.FLOAT, Kind.DOUBLE):
        return st.floats(allow_nan=False) | st.integers(-3, 3)
    if kind is Kind.ENUM:
        assert t.enum is not None
        return st.sampled_from([*t.enum.values, "NOPE", 0, 1, 99])
    if kind is Kind.TIMESTAMP:
        return _TIMESTAMPS
    if kind is Kind.MESSAGE and t.message is not None and depth < 3:
        return _message(t.message, depth + 1)
    return _ANY_JSON


def _value(decl: FieldDecl, depth: int) -> st.SearchStrategy[Any]:
    typed = _typed(decl.type, depth)
    if decl.repeated:
        typed = st.lists(typed, max_size=3)
    return typed | _ANY_JSON | st.none()


def _message(message: MessageDecl, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted({k for f in message.fields for k in (f.name, f.json_name)})
    if not keys:
        return st.just({})
    return st.lists(st.sampled_from(keys), max_size=6, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({k: _value(message.field(k), depth) for k in chosen})  # type: ignore[arg-type]
    )


def _outcome(data: dict[str, Any], *, fast: bool, partial: bool, output_only: bool) -> Any:
    saved_flag, saved_cache = codec.FAST_PATHS, codec._FAST_PATHS
    codec.FAST_PATHS, codec._FAST_PATHS = fast, {}
    try:
        return ("ok", decode_message(MODEL, data, path="", allow_output_only=output_only, partial=partial))
    except ResourceError as e:
        return ("error", e.field, e.message)
    finally:
        codec.FAST_PATHS, codec._FAST_PATHS = saved_flag, saved_cache


@given(data=_message(MODEL), partial=st.booleans(), output_only=st.booleans())
def test_fast_paths_agree_with_the_general_decoder(
    data: dict[str, Any], partial: bool, output_only: bool
) -> None:
    fast = _outcome(data, fast=True, partial=partial, output_only=output_only)
    reference = _outcome(data, fast=False, partial=partial, output_only=output_only)
    assert fast == reference


@pytest.mark.parametrize(
    ("value", "expected"),
    [("007", "7"), (7, "7"), ("0", None), ("9223372036854775807", "9223372036854775807")],
)
def test_int64_text_is_canonical(value: object, expected: str | None) -> None:
    out = decode_message(
        MODEL, {"baseModelDetails": {"parameterCount": value}}, path="", allow_output_only=True
    )
    assert out["baseModelDetails"].get("parameterCount") == expected
