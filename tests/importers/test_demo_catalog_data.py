"""Invariants of the bundled demo catalog (``modelyard/resources/demo_catalog.json``).

The file is a JSON array of public ``fireworks`` Model resources in canonical proto3 JSON. These tests
check it against the declared Model schema only, so they need nothing beyond the standard library and
``modelyard.resources.model``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from modelyard.resources import model as model_module

if TYPE_CHECKING:
    from modelyard.aip.schema import FieldDecl, MessageDecl, TypeDecl

MODEL = model_module.MODEL
KIND = model_module.KIND
STATE = model_module.STATE
MAX_DISPLAY_NAME = model_module.MAX_DISPLAY_NAME
MAX_DESCRIPTION = model_module.MAX_DESCRIPTION

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)

CATALOG_PATH = Path(model_module.__file__).with_name("demo_catalog.json")
NAME_PREFIX = "accounts/fireworks/models/"
ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
INT64_STRING_RE = re.compile(r"^-?(0|[1-9][0-9]*)$")
HF_URL_RE = re.compile(r"^https://huggingface\.co/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

Entry = dict[str, Any]


def _load() -> list[Entry]:
    data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    for entry in data:
        assert isinstance(entry, dict)
    return data


CATALOG: list[Entry] = _load()


def _model_id(entry: Entry) -> str:
    name = entry["name"]
    assert isinstance(name, str)
    return name.removeprefix(NAME_PREFIX)


def _ids() -> list[str]:
    return [_model_id(e) for e in CATALOG]


def _by_id() -> dict[str, Entry]:
    return {_model_id(e): e for e in CATALOG}


def _parse_timestamp(value: str) -> dt.datetime:
    assert value.endswith("Z"), f"timestamp {value!r} is not UTC 'Z'"
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == dt.timedelta(0)
    return parsed


def _is_default(decl: TypeDecl, value: Any) -> bool:
    """Whether ``value`` is the proto3 default of a singular field (canonical JSON omits those)."""
    if decl.kind.value == "enum":
        assert decl.enum is not None
        return bool(value == decl.enum.values[0])
    if decl.kind.value == "int64":
        return value in ("0", "-0")
    if decl.kind.value in ("message", "map"):
        return False  # a present empty message is meaningful (e.g. teftDetails: {})
    return bool(value in (False, 0, ""))


def _check_scalar(path: str, decl: TypeDecl, value: Any) -> None:
    kind = decl.kind.value
    if kind == "string":
        assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
    elif kind == "bool":
        assert isinstance(value, bool), f"{path}: expected a bool, got {value!r}"
    elif kind == "int32":
        assert isinstance(value, int) and not isinstance(value, bool), (
            f"{path}: expected int32, got {value!r}"
        )
        assert INT32_RANGE[0] <= value <= INT32_RANGE[1], f"{path}: {value} out of int32 range"
    elif kind == "int64":
        # proto3 JSON writes int64 as a decimal string
        assert isinstance(value, str), f"{path}: int64 must be a decimal string, got {value!r}"
        assert INT64_STRING_RE.match(value), f"{path}: {value!r} is not a decimal integer"
        assert INT64_RANGE[0] <= int(value) <= INT64_RANGE[1], f"{path}: {value} out of int64 range"
    elif kind in ("float", "double"):
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: not a number"
    elif kind == "enum":
        assert decl.enum is not None
        assert isinstance(value, str), f"{path}: enums are written by name, got {value!r}"
        assert value in decl.enum.values, f"{path}: {value!r} is not a {decl.enum.name} value"
    elif kind == "timestamp":
        assert isinstance(value, str), f"{path}: timestamps are RFC 3339 strings"
        _parse_timestamp(value)
    else:  # pragma: no cover - no other scalar kinds are declared on Model
        pytest.fail(f"{path}: unexpected kind {kind}")


def _check_value(path: str, decl: TypeDecl, value: Any) -> None:
    if decl.kind.value == "message":
        assert decl.message is not None
        assert isinstance(value, dict), f"{path}: expected an object"
        _check_message(path, decl.message, value)
    elif decl.kind.value == "map":
        assert decl.map_value is not None
        assert isinstance(value, dict), f"{path}: expected a map object"
        assert value, f"{path}: empty maps are omitted in canonical JSON"
        for key, item in value.items():
            assert isinstance(key, str) and key, f"{path}: map keys are non-empty strings"
            _check_value(f"{path}[{key!r}]", decl.map_value, item)
    else:
        _check_scalar(path, decl, value)


def _check_field(path: str, field: FieldDecl, value: Any) -> None:
    if field.repeated:
        assert isinstance(value, list), f"{path}: repeated field must be a list"
        assert value, f"{path}: empty repeated fields are omitted in canonical JSON"
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", field.type, item)
        return
    assert not _is_default(field.type, value), f"{path}: default value {value!r} should be omitted"
    _check_value(path, field.type, value)


def _check_message(path: str, message: MessageDecl, obj: dict[str, Any]) -> None:
    for key, value in obj.items():
        field = message.field(key)
        assert field is not None, f"{path}.{key}: not a field of {message.name}"
        assert key == field.json_name, f"{path}.{key}: use the lowerCamelCase JSON name {field.json_name!r}"
        assert value is not None, f"{path}.{key}: null values are omitted in canonical JSON"
        _check_field(f"{path}.{key}", field, value)


# --------------------------------------------------------------------------------------------------
# Shape
# --------------------------------------------------------------------------------------------------


def test_catalog_has_enough_entries() -> None:
    assert len(CATALOG) >= 30


def test_names_are_public_fireworks_models_with_valid_unique_ids() -> None:
    ids = _ids()
    for entry, model_id in zip(CATALOG, ids, strict=True):
        assert entry["name"] == NAME_PREFIX + model_id
        assert ID_RE.match(model_id), f"invalid model id {model_id!r}"
        assert len(model_id) <= 63
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate ids: {duplicates}"


@pytest.mark.parametrize("entry", CATALOG, ids=_ids())
def test_entry_matches_declared_schema(entry: Entry) -> None:
    _check_message(_model_id(entry), MODEL, entry)


@pytest.mark.parametrize("entry", CATALOG, ids=_ids())
def test_entry_required_fields_and_limits(entry: Entry) -> None:
    model_id = _model_id(entry)
    assert entry.get("state") == "READY" and "READY" in STATE.values
    assert entry.get("public") is True
    assert entry.get("kind") in KIND.values

    display = entry.get("displayName")
    assert isinstance(display, str) and display.strip(), f"{model_id}: displayName missing"
    assert len(display) <= MAX_DISPLAY_NAME < 64

    description = entry.get("description")
    assert isinstance(description, str) and description.strip(), f"{model_id}: description missing"
    assert len(description) <= MAX_DESCRIPTION < 1000

    url = entry.get("huggingFaceUrl")
    assert isinstance(url, str) and HF_URL_RE.match(url), f"{model_id}: bad huggingFaceUrl {url!r}"
    github = entry.get("githubUrl")
    if github is not None:
        assert github.startswith("https://github.com/")


@pytest.mark.parametrize("entry", CATALOG, ids=_ids())
def test_timestamps_parse_and_are_ordered(entry: Entry) -> None:
    created = _parse_timestamp(entry["createTime"])
    updated = _parse_timestamp(entry["updateTime"])
    assert created <= updated
    assert created >= dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("entry", [e for e in CATALOG if "deprecationDate" in e], ids=_model_id)
def test_deprecation_dates_are_real_dates_after_creation(entry: Entry) -> None:
    d = entry["deprecationDate"]
    deprecated = dt.date(d["year"], d["month"], d["day"])
    assert deprecated > _parse_timestamp(entry["createTime"]).date()


# --------------------------------------------------------------------------------------------------
# Kind-dependent rules
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=_ids())
def test_base_model_details_iff_hf_base_model(entry: Entry) -> None:
    is_base = entry["kind"] == "HF_BASE_MODEL"
    assert ("baseModelDetails" in entry) == is_base
    if not is_base:
        return
    details = entry["baseModelDetails"]
    assert details.get("checkpointFormat") == "HUGGINGFACE"
    assert isinstance(details.get("modelType"), str) and details["modelType"]
    assert details.get("worldSize", 1) >= 1
    if "parameterCount" in details:
        assert int(details["parameterCount"]) > 0


@pytest.mark.parametrize("entry", CATALOG, ids=_ids())
def test_chat_config_only_on_llms(entry: Entry) -> None:
    if entry["kind"] == "HF_BASE_MODEL":
        assert entry.get("conversationConfig", {}).get("style"), "chat models carry a template style"
        assert entry.get("contextLength", 0) > 0
    else:
        assert entry["kind"] in ("EMBEDDING_MODEL", "FLUMINA_BASE_MODEL")
        for key in ("conversationConfig", "supportsTools", "supportsImageInput", "baseModelDetails"):
            assert key not in entry, f"{key} does not belong on {entry['kind']}"


def test_tunable_models_also_support_lora() -> None:
    for entry in CATALOG:
        if entry.get("tunable"):
            assert entry.get("supportsLora") is True
            assert entry["baseModelDetails"].get("tunable") is True


# --------------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------------

COVERAGE: dict[str, Callable[[Entry], bool]] = {
    "moe": lambda e: e.get("baseModelDetails", {}).get("moe") is True,
    "image input": lambda e: e.get("supportsImageInput") is True,
    "tools": lambda e: e.get("supportsTools") is True,
    "embedding": lambda e: e["kind"] == "EMBEDDING_MODEL",
    "image generation": lambda e: e["kind"] == "FLUMINA_BASE_MODEL",
    "serverless": lambda e: e.get("supportsServerless") is True,
    "deprecated": lambda e: "deprecationDate" in e,
    "sampling defaults": lambda e: "defaultSamplingParams" in e,
    "precisions": lambda e: "supportedPrecisions" in e,
    "llama": lambda e: _model_id(e).startswith("llama"),
    "qwen": lambda e: _model_id(e).startswith("qwen"),
    "deepseek": lambda e: _model_id(e).startswith("deepseek"),
    "mistral/mixtral": lambda e: _model_id(e).startswith(("mistral", "mixtral")),
    "gemma": lambda e: _model_id(e).startswith("gemma"),
    "gpt-oss": lambda e: _model_id(e).startswith("gpt-oss"),
}


@pytest.mark.parametrize("label", sorted(COVERAGE))
def test_catalog_covers(label: str) -> None:
    predicate = COVERAGE[label]
    assert any(predicate(e) for e in CATALOG), f"no catalog entry for {label}"


def test_serverless_is_a_subset() -> None:
    serverless = sum(1 for e in CATALOG if e.get("supportsServerless"))
    assert 0 < serverless < len(CATALOG)


# --------------------------------------------------------------------------------------------------
# Spot checks of published facts
# --------------------------------------------------------------------------------------------------

KNOWN_FACTS: list[tuple[str, str, str, int]] = [
    # (id, modelType, parameterCount, contextLength)
    ("llama-v3p1-8b-instruct", "llama", "8030261248", 131072),
    ("llama-v3p1-70b-instruct", "llama", "70553706496", 131072),
    ("llama-v3p1-405b-instruct", "llama", "405853388800", 131072),
    ("mixtral-8x7b-instruct", "mixtral", "46702792704", 32768),
]


@pytest.mark.parametrize(("model_id", "model_type", "parameter_count", "context_length"), KNOWN_FACTS)
def test_known_facts(model_id: str, model_type: str, parameter_count: str, context_length: int) -> None:
    entry = _by_id()[model_id]
    details = entry["baseModelDetails"]
    assert details["modelType"] == model_type
    assert details["parameterCount"] == parameter_count
    assert entry["contextLength"] == context_length


def test_moe_flags_match_well_known_moe_families() -> None:
    moe_prefixes = ("mixtral", "deepseek-v3", "kimi-k2", "gpt-oss", "llama4", "glm-4p5", "qwen3-235b")
    for model_id, entry in _by_id().items():
        if model_id.startswith(moe_prefixes) or model_id == "deepseek-r1-0528":
            assert entry["baseModelDetails"].get("moe") is True, model_id
