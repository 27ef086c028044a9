"""Unit tests for the reference filter evaluator (modelyard/aip/filtering/evaluator.py).

Each rule of AIP-160 Profile A plus modelyard's decisions gets at least one test: proto3 zero values,
three-valued logic through unset messages and missing map keys, code-point string order,
case-insensitive ``:`` and global search, case-sensitive wildcards, presence, repeated fields, maps,
enums, timestamps and int64 values beyond 2^53.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.aip.filtering import compile_filter
from modelyard.aip.filtering.evaluator import Truth, evaluate, evaluate3, model_search_fields
from modelyard.aip.filtering.query import (
    And,
    FieldRef,
    MapKey,
    Not,
    Or,
    Presence,
    Search,
    Wildcard,
    WildcardKind,
)
from modelyard.resources.model import MODEL, MODEL_FILTER_SCHEMA

ACCT = "accounts/acct-one/models/"

BASE: dict[str, Any] = {
    "name": ACCT + "llama-3-8b",
    "displayName": "Llama 3 8B Instruct",
    "description": "Meta's Llama, 100% open_weights C:\\models",
    "createTime": "2024-03-01T12:00:00.123456789Z",
    "updateTime": "2024-03-02T00:00:00Z",
    "state": "READY",
    "kind": "HF_BASE_MODEL",
    "baseModelDetails": {
        "worldSize": 2,
        "checkpointFormat": "HUGGINGFACE",
        "huggingfaceFiles": ["model.safetensors", "config.json"],
        "parameterCount": "9007199254740993",
        "moe": True,
        "modelType": "llama",
    },
    "public": True,
    "conversationConfig": {"style": "llama-3"},
    "contextLength": 8192,
    "supportsTools": True,
    "deprecationDate": {"year": 2030, "month": 6, "day": 1},
    "defaultSamplingParams": {"temperature": 0.7, "top_p": 1.0},
    "supportsServerless": True,
    "supportedPrecisions": ["FP8", "BF16"],
}

# Set but empty baseModelDetails: every subfield is at its zero value.
EMPTY_DETAILS: dict[str, Any] = {
    "name": ACCT + "empty-details",
    "createTime": "2021-01-01T00:00:00Z",
    "kind": "HF_BASE_MODEL",
    "baseModelDetails": {},
}

PEFT: dict[str, Any] = {
    "name": ACCT + "my-lora",
    "displayName": "Σ adapter 中文",
    "description": "Émile's LoRA",
    "createTime": "2019-12-31T23:00:00Z",
    "kind": "HF_PEFT_ADDON",
    "peftDetails": {"baseModel": ACCT + "llama-3-8b", "r": 16, "targetModules": ["q_proj", "v_proj"]},
    "contextLength": 4096,
    "defaultSamplingParams": {"top_p": 0.9},
}

# Everything at its default: no messages, maps or lists at all.
BARE: dict[str, Any] = {"name": ACCT + "bare", "createTime": "2020-06-15T00:00:00Z"}

ALL = {"base": BASE, "empty": EMPTY_DETAILS, "peft": PEFT, "bare": BARE}


def truth(text: str, resource: dict[str, Any]) -> Truth:
    query = compile_filter(text, MODEL_FILTER_SCHEMA).query
    assert query is not None
    return evaluate3(query, resource, search_fields=model_search_fields)


def matching(text: str) -> set[str]:
    query = compile_filter(text, MODEL_FILTER_SCHEMA).query
    return {key for key, r in ALL.items() if evaluate(query, r, search_fields=model_search_fields)}


def ref(*names: str) -> FieldRef:
    message = MODEL
    segments: list[Any] = []
    for name in names:
        decl = message.field(name)
        if decl is None:
            segments.append(MapKey(name))
            continue
        segments.append(decl)
        if decl.type.message is not None:
            message = decl.type.message
    return FieldRef(tuple(segments))


# -- empty filter and logic ------------------------------------------------------------------------


def test_empty_filter_matches_everything() -> None:
    assert all(evaluate(None, r, search_fields=model_search_fields) for r in ALL.values())
    assert compile_filter("   ", MODEL_FILTER_SCHEMA).query is None


def test_not_over_unset_message_does_not_match() -> None:
    assert truth("base_model_details.moe = true", BARE) is Truth.UNKNOWN
    assert truth("NOT base_model_details.moe = true", BARE) is Truth.UNKNOWN
    assert matching("NOT base_model_details.moe = true") == {"empty"}
    assert matching("-base_model_details.moe = true") == {"empty"}
    assert matching("base_model_details.moe = false") == {"empty"}


def test_not_equal_through_unset_message_does_not_match() -> None:
    assert matching("base_model_details.parameter_count != 5") == {"base", "empty"}
    assert matching("deprecation_date.year != 2030") == set()
    assert matching("NOT deprecation_date.year = 2030") == set()
    assert matching("peft_details.r != 4") == {"peft"}


def test_kleene_and_or() -> None:
    # UNKNOWN OR TRUE = TRUE; UNKNOWN OR FALSE = UNKNOWN;
    # UNKNOWN AND FALSE = FALSE; UNKNOWN AND TRUE = UNKNOWN
    assert truth("base_model_details.moe = true OR context_length = 0", BARE) is Truth.TRUE
    assert truth("base_model_details.moe = true OR context_length = 1", BARE) is Truth.UNKNOWN
    assert truth("base_model_details.moe = true AND context_length = 1", BARE) is Truth.FALSE
    assert truth("base_model_details.moe = true AND context_length = 0", BARE) is Truth.UNKNOWN
    # NOT (UNKNOWN AND FALSE) = NOT FALSE = TRUE: the unset message does not poison the whole filter
    assert truth("NOT (base_model_details.moe = true AND context_length = 1)", BARE) is Truth.TRUE
    assert truth("NOT (base_model_details.moe = true OR context_length = 1)", BARE) is Truth.UNKNOWN


def test_kleene_on_query_objects() -> None:
    unknown = Presence(ref("peft_details", "target_modules"))
    true = Search("bare")
    false = Search("zzz")
    ev = {"search_fields": model_search_fields}
    assert evaluate3(unknown, BARE, **ev) is Truth.UNKNOWN
    assert evaluate3(Not(unknown), BARE, **ev) is Truth.UNKNOWN
    assert evaluate3(And((unknown, true)), BARE, **ev) is Truth.UNKNOWN
    assert evaluate3(And((unknown, false)), BARE, **ev) is Truth.FALSE
    assert evaluate3(Or((unknown, true)), BARE, **ev) is Truth.TRUE
    assert evaluate3(Or((unknown, false)), BARE, **ev) is Truth.UNKNOWN
    assert evaluate3(And(()), BARE, **ev) is Truth.TRUE
    assert evaluate3(Or(()), BARE, **ev) is Truth.FALSE


def test_or_binds_tighter_than_and() -> None:
    # a AND b OR c == a AND (b OR c)
    assert matching("kind = HF_PEFT_ADDON AND context_length = 8192 OR context_length = 4096") == {"peft"}


# -- zero values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "context_length = 0",
        "supports_tools = false",
        "NOT supports_tools",
        "display_name = ''",
        'description = ""',
        "kind = KIND_UNSPECIFIED",
        "state = STATE_UNSPECIFIED",
        "snapshot_type = FULL_SNAPSHOT",
        "public = false",
        'update_time = "1970-01-01T00:00:00Z"',
        "context_length > -1",
        "context_length >= -2147483648",
        "default_draft_token_count <= 0",
    ],
)
def test_unset_scalars_are_zero(text: str) -> None:
    assert truth(text, BARE) is Truth.TRUE


def test_set_empty_message_has_zero_subfields() -> None:
    assert truth("base_model_details.parameter_count = 0", EMPTY_DETAILS) is Truth.TRUE
    unspecified = "base_model_details.checkpoint_format = CHECKPOINT_FORMAT_UNSPECIFIED"
    assert truth(unspecified, EMPTY_DETAILS) is Truth.TRUE
    assert truth('base_model_details.model_type = ""', EMPTY_DETAILS) is Truth.TRUE
    assert truth('base_model_details.model_type = ""', BARE) is Truth.UNKNOWN


# -- strings ---------------------------------------------------------------------------------------


def test_string_equality_is_exact_and_case_sensitive() -> None:
    assert matching('display_name = "Llama 3 8B Instruct"') == {"base"}
    assert matching('display_name = "llama 3 8b instruct"') == set()
    assert matching('display_name != "Llama 3 8B Instruct"') == {"empty", "peft", "bare"}


def test_strings_order_by_code_point() -> None:
    # "Σ" (U+03A3) > "L" > "" and "É" sorts after every ASCII letter
    assert matching('display_name > "Z"') == {"peft"}
    assert matching('display_name < "M"') == {"base", "empty", "bare"}
    assert matching('display_name >= "Σ"') == {"peft"}
    assert matching('display_name > "Ω"') == set()
    assert matching('description > "z"') == {"peft"}  # "Émile" > "z" by code point, not by collation
    assert matching('display_name <= ""') == {"empty", "bare"}


def test_has_on_string_is_case_insensitive_substring() -> None:
    assert matching('display_name:"llama"') == {"base"}
    assert matching("display_name:INSTRUCT") == {"base"}
    assert matching('description:"émile"') == {"peft"}  # str.lower on non-ASCII
    assert matching('display_name:"σ ADAPTER"') == {"peft"}
    assert matching('display_name:"中文"') == {"peft"}
    assert matching('description:"100%"') == {"base"}
    assert matching('description:"open_weights"') == {"base"}
    assert matching('description:"open%weights"') == set()  # % is not a LIKE wildcard
    assert matching('description:"open_"') == {"base"}
    assert matching('description:"o_en"') == set()  # _ is not a LIKE wildcard
    assert matching('description:"c:\\\\models"') == {"base"}  # one backslash, case-insensitive
    assert matching('display_name:""') == set(ALL)  # the empty string is a substring of everything


def test_wildcards_are_case_sensitive() -> None:
    assert matching('display_name = "Llama*"') == {"base"}
    assert matching('display_name = "llama*"') == set()
    assert matching('display_name = "*Instruct"') == {"base"}
    assert matching('display_name = "*instruct"') == set()
    assert matching('display_name = "*3 8B*"') == {"base"}
    assert matching('display_name = "*3 8b*"') == set()
    assert matching('display_name != "Llama*"') == {"empty", "peft", "bare"}


def test_wildcard_special_characters_match_themselves() -> None:
    assert matching('description = "*100%*"') == {"base"}
    assert matching('description = "*100_*"') == set()
    assert matching('description = "*open_weights*"') == {"base"}
    assert matching('description = "*open_weight_*"') == set()
    assert matching('description = "*C:\\\\models"') == {"base"}
    assert matching('description = "*C:\\\\\\\\models"') == set()  # two backslashes
    assert matching('description = "Meta%*"') == set()


def test_wildcard_any_matches_every_value() -> None:
    assert matching('display_name = "*"') == set(ALL)  # including "" (unset)
    assert matching('display_name != "*"') == set()
    assert matching('display_name = "**"') == set(ALL)  # "*abc*" with empty text: contains ""
    assert matching('base_model_details.model_type = "*"') == {"base", "empty"}  # unset message: UNKNOWN
    ev = {"search_fields": model_search_fields}
    any_ = Wildcard(ref("base_model_details", "model_type"), WildcardKind.ANY, "", negated=True)
    assert evaluate3(any_, BARE, **ev) is Truth.UNKNOWN
    assert evaluate3(any_, EMPTY_DETAILS, **ev) is Truth.FALSE


# -- global search ---------------------------------------------------------------------------------


def test_global_search_fields() -> None:
    assert list(model_search_fields(BASE)) == ["llama-3-8b", "Llama 3 8B Instruct", BASE["description"]]
    assert list(model_search_fields(BARE)) == ["bare", "", ""]


def test_global_search() -> None:
    assert matching("llama") == {"base"}  # id, display name, description
    assert matching("LLAMA") == {"base"}
    assert matching('"3 8b"') == {"base"}
    assert matching("bare") == {"bare"}  # the model id
    assert matching("acct") == set()  # the account is not searched
    assert matching("accounts") == set()
    assert matching("émile") == {"peft"}
    assert matching("ÉMILE") == {"peft"}
    assert matching("中") == {"peft"}
    assert matching("llama instruct") == {"base"}  # a sequence: every term must match
    assert matching("llama lora") == set()
    assert matching("llama OR lora") == {"base", "peft"}
    assert matching("-llama") == {"empty", "peft", "bare"}
    assert matching('"100%"') == {"base"}
    assert matching('"0%"') == {"base"}
    assert matching('"1_0"') == set()
    assert matching("8") == {"base"}  # a number is searched as text
    assert matching("-8") == {"base"}  # a negative number is the text "-8": "llama-3-8b"
    assert matching("-3") == {"base"}
    assert matching("-9") == set()


# -- numbers, enums, timestamps --------------------------------------------------------------------


def test_int64_beyond_2_pow_53() -> None:
    assert matching("base_model_details.parameter_count = 9007199254740993") == {"base"}
    assert matching("base_model_details.parameter_count = 9007199254740992") == set()
    assert matching("base_model_details.parameter_count > 9007199254740992") == {"base"}
    assert matching("base_model_details.parameter_count < 9007199254740993") == {"empty"}
    assert matching("base_model_details.parameter_count <= 9223372036854775807") == {"base", "empty"}
    assert matching("base_model_details.parameter_count > -9223372036854775808") == {"base", "empty"}


def test_negative_numbers() -> None:
    assert matching("context_length > -1") == set(ALL)
    assert matching("context_length < -1") == set()
    assert matching("-context_length > 0") == {"empty", "bare"}


def test_enums_compare_by_name() -> None:
    assert matching("kind = HF_BASE_MODEL") == {"base", "empty"}
    assert matching('kind = "HF_PEFT_ADDON"') == {"peft"}
    assert matching("kind != HF_BASE_MODEL") == {"peft", "bare"}
    assert matching("state = READY") == {"base"}
    assert matching("base_model_details.checkpoint_format = HUGGINGFACE") == {"base"}
    assert matching("base_model_details.checkpoint_format != HUGGINGFACE") == {"empty"}


def test_bools() -> None:
    assert matching("public") == {"base"}
    assert matching("public = true") == {"base"}
    assert matching("public != true") == {"empty", "peft", "bare"}
    assert matching("supports_serverless = true AND base_model_details.moe = true") == {"base"}


def test_timestamps_compare_as_nanoseconds() -> None:
    assert matching('create_time > "2024-03-01T12:00:00.123456788Z"') == {"base"}
    assert matching('create_time = "2024-03-01T12:00:00.123456789Z"') == {"base"}
    assert matching('create_time > "2024-03-01T12:00:00.123456789Z"') == set()
    assert matching('create_time = "2024-03-01T14:00:00.123456789+02:00"') == {"base"}
    # 2019-12-31T23:00:00Z is 2020-01-01T00:00:00+01:00
    assert matching('create_time >= "2020-01-01T00:00:00+01:00"') == {"base", "empty", "peft", "bare"}
    assert matching('create_time < "2020-01-01T00:00:00Z"') == {"peft"}
    assert matching('create_time < timestamp("2020-01-01T00:00:00Z")') == {"peft"}
    assert matching('update_time > "2000-01-01T00:00:00Z"') == {"base"}  # unset: the epoch


# -- presence --------------------------------------------------------------------------------------


def test_presence() -> None:
    assert matching("base_model_details:*") == {"base", "empty"}  # a set message, even if empty
    assert matching("peft_details:*") == {"peft"}
    assert matching("-peft_details:*") == {"base", "empty", "bare"}  # top-level presence is never UNKNOWN
    assert matching("display_name:*") == {"base", "peft"}  # a scalar: non-default
    assert matching("context_length:*") == {"base", "peft"}
    assert matching("state:*") == {"base"}  # enum: not the first value
    assert matching("public:*") == {"base"}
    assert matching("create_time:*") == set(ALL)
    assert matching("update_time:*") == {"base"}
    assert matching("supported_precisions:*") == {"base"}  # repeated: non-empty
    assert matching("default_sampling_params:*") == {"base", "peft"}  # map: non-empty
    assert matching("deprecation_date:*") == {"base"}


def test_presence_through_unset_message_is_unknown() -> None:
    assert truth("base_model_details.moe:*", BARE) is Truth.UNKNOWN
    assert truth("base_model_details.moe:*", EMPTY_DETAILS) is Truth.FALSE
    assert truth("base_model_details.moe:*", BASE) is Truth.TRUE
    assert matching("NOT base_model_details.moe:*") == {"empty"}
    assert matching("base_model_details.huggingface_files:*") == {"base"}
    assert matching("-base_model_details.huggingface_files:*") == {"empty"}


def test_presence_of_map_key() -> None:
    assert matching("default_sampling_params.temperature:*") == {"base"}
    assert matching("default_sampling_params.top_p:*") == {"base", "peft"}
    assert matching("NOT default_sampling_params.temperature:*") == {"empty", "peft", "bare"}


# -- repeated fields and maps ----------------------------------------------------------------------


def test_has_element_repeated_enum() -> None:
    assert matching("supported_precisions:FP8") == {"base"}
    assert matching("supported_precisions:FP8_MM") == set()
    assert matching("supported_precisions:BF16") == {"base"}
    assert matching("-supported_precisions:FP8") == {"empty", "peft", "bare"}  # empty list: FALSE


def test_has_element_repeated_string_is_exact() -> None:
    assert matching('peft_details.target_modules:"q_proj"') == {"peft"}
    assert matching("peft_details.target_modules:v_proj") == {"peft"}
    assert matching('peft_details.target_modules:"Q_PROJ"') == set()
    assert matching('peft_details.target_modules:"proj"') == set()
    # through an unset message: UNKNOWN, and so is its negation
    assert truth('peft_details.target_modules:"q_proj"', BARE) is Truth.UNKNOWN
    assert matching('NOT peft_details.target_modules:"k_proj"') == {"peft"}
    assert matching('base_model_details.huggingface_files:"config.json"') == {"base"}
    assert matching('-base_model_details.huggingface_files:"config.json"') == {"empty"}


def test_map_values_and_keys() -> None:
    assert matching("default_sampling_params:temperature") == {"base"}
    assert matching("default_sampling_params:top_p") == {"base", "peft"}
    assert matching("-default_sampling_params:temperature") == {"empty", "peft", "bare"}
    assert matching("default_sampling_params.temperature > 0.5") == {"base"}
    assert matching("default_sampling_params.temperature = 0.7") == {"base"}
    assert matching("default_sampling_params.top_p = 1") == {"base"}  # an int literal widens to float
    assert matching("default_sampling_params.top_p < 0.95") == {"peft"}
    # a missing map key is UNKNOWN, and so is its negation
    assert truth("default_sampling_params.temperature > 0.5", PEFT) is Truth.UNKNOWN
    assert truth("default_sampling_params.temperature > 0.5", BARE) is Truth.UNKNOWN
    assert matching("NOT default_sampling_params.temperature > 0.5") == set()
    assert matching("default_sampling_params.temperature != 0.7") == set()
    assert matching("default_sampling_params.top_p != 0.9") == {"base"}


def test_messages_nested_fields() -> None:
    assert matching('conversation_config.style = "llama-3"') == {"base"}
    assert matching('conversation_config.style != "llama-3"') == set()
    assert matching('conversation_config.system = ""') == {"base"}
    assert matching("deprecation_date.year >= 2030 AND deprecation_date.month = 6") == {"base"}


def test_camel_case_paths_evaluate_the_same() -> None:
    camel = matching("baseModelDetails.parameterCount > 0")
    assert camel == matching("base_model_details.parameter_count > 0") == {"base"}
    assert matching("defaultSamplingParams.temperature:*") == {"base"}


def test_has_element_repeated_message_subpath_with_zero_default() -> None:
    # deployedModelRefs is Get-only, but the evaluator handles repeated messages generically.
    resource = {
        **BARE,
        "deployedModelRefs": [{"name": "d1", "state": "DEPLOYED", "default": True}, {"name": "d2"}],
    }
    assert truth("deployed_model_refs.state:DEPLOYED", resource) is Truth.TRUE
    assert truth("deployed_model_refs.state:UPDATING", resource) is Truth.FALSE
    assert truth("deployed_model_refs.state:STATE_UNSPECIFIED", resource) is Truth.TRUE  # d2: zero default
    assert truth('deployed_model_refs.name:"d2"', resource) is Truth.TRUE
    assert truth('deployed_model_refs.name:"D2"', resource) is Truth.FALSE
    assert truth("deployed_model_refs.public:false", resource) is Truth.TRUE
    assert truth("deployed_model_refs.public:true", resource) is Truth.FALSE
    assert truth("deployed_model_refs.state:STATE_UNSPECIFIED", BARE) is Truth.FALSE  # no elements
    assert truth("deployed_model_refs:*", resource) is Truth.TRUE
    assert truth("deployed_model_refs:*", BARE) is Truth.FALSE
