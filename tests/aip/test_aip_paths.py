"""The shared field-path walker (aip/paths.py) and the proto3 zero values declared on TypeDecl."""

from __future__ import annotations

import pytest

from modelyard.aip.paths import MapKey, walk
from modelyard.aip.schema import Kind, TypeDecl
from modelyard.resources.codec import default_of, is_default
from modelyard.resources.model import MODEL, PRECISION


def _segments(names: list[str], *, skip_repeated_star: bool = False) -> list[object]:
    return [step.segment for step in walk(names, MODEL, skip_repeated_star=skip_repeated_star)]


def test_walk_resolves_snake_and_camel_through_messages() -> None:
    details = MODEL.field("base_model_details")
    assert details is not None and details.type.message is not None
    count = details.type.message.field("parameter_count")
    assert _segments(["baseModelDetails", "parameter_count"]) == [details, count]


def test_walk_takes_a_key_after_a_map_and_nothing_looks_past_a_scalar() -> None:
    params = MODEL.field("default_sampling_params")
    steps = list(walk(["default_sampling_params", "temperature"], MODEL))
    assert [s.segment for s in steps] == [params, MapKey("temperature")]
    assert steps[1].message is None
    after_scalar = list(walk(["context_length", "x"], MODEL))
    assert after_scalar[1].message is None and after_scalar[1].segment is None


def test_walk_stops_at_an_unknown_name_with_the_message_it_searched() -> None:
    steps = list(walk(["contex_length", "more"], MODEL))
    assert len(steps) == 1 and steps[0].segment is None and steps[0].message is MODEL
    assert steps[0].message.suggest(steps[0].name) == "context_length"


def test_walk_skips_star_after_a_repeated_field_only_when_asked() -> None:
    refs = MODEL.field("deployed_model_refs")
    assert refs is not None and refs.type.message is not None
    state = refs.type.message.field("state")
    assert _segments(["deployed_model_refs", "*", "state"], skip_repeated_star=True) == [refs, state]
    assert _segments(["deployed_model_refs", "*", "state"]) == [refs, None]


@pytest.mark.parametrize(
    ("t", "zero", "json_zero"),
    [
        (TypeDecl(Kind.STRING), "", ""),
        (TypeDecl(Kind.BOOL), False, False),
        (TypeDecl(Kind.INT32), 0, 0),
        (TypeDecl(Kind.INT64), 0, "0"),
        (TypeDecl(Kind.DOUBLE), 0.0, 0.0),
        (TypeDecl(Kind.ENUM, enum=PRECISION), 0, "PRECISION_UNSPECIFIED"),
        (TypeDecl(Kind.TIMESTAMP), 0, None),
        (TypeDecl(Kind.DURATION), 0, None),
    ],
)
def test_zero_values_live_on_the_type(t: TypeDecl, zero: object, json_zero: object) -> None:
    assert t.zero == zero and type(t.zero) is type(zero)
    assert t.json_zero == json_zero and type(t.json_zero) is type(json_zero)
    assert default_of(t) == json_zero


def test_codec_defaults_follow_the_declared_zero_values() -> None:
    kind = MODEL.field("kind")
    sampling = MODEL.field("default_sampling_params")
    assert kind is not None and sampling is not None
    assert is_default(kind, "KIND_UNSPECIFIED") and not is_default(kind, "HF_BASE_MODEL")
    fresh = default_of(sampling.type)
    assert fresh == {} and fresh is not default_of(sampling.type)  # maps get a new dict each time
