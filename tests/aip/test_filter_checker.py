"""The checker: filter text -> typed query objects, against the Model schema and schema S."""

from __future__ import annotations

import pytest

from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import check, compile_filter, limits, parse
from modelyard.aip.filtering.query import (
    And,
    Call,
    CheckedFilter,
    Compare,
    Contains,
    Duration,
    EnumValue,
    FieldRef,
    HasElement,
    HasKey,
    MapKey,
    Not,
    Op,
    Or,
    Presence,
    Query,
    Search,
    Timestamp,
    Wildcard,
    WildcardKind,
)
from modelyard.aip.schema import FieldDecl, Schema
from modelyard.resources.model import MODEL_FILTER_SCHEMA
from tests.support.counting import count_calls
from tests.support.schema_s import SCHEMA_S, SCHEMA_S_NO_SEARCH

M = MODEL_FILTER_SCHEMA


def q(text: str, schema: Schema = M) -> Query | None:
    return compile_filter(text, schema).query


def err(text: str, schema: Schema = M) -> FilterError:
    with pytest.raises(FilterError) as info:
        compile_filter(text, schema)
    return info.value


def path(ref: FieldRef) -> str:
    return ref.path


# -- the examples (Model schema) ------------------------------------------------------------------


def test_int_compare() -> None:
    result = q("base_model_details.parameter_count > 7000000000")
    assert isinstance(result, Compare)
    assert path(result.field) == "base_model_details.parameter_count"
    assert (result.op, result.value) == (Op.GT, 7_000_000_000)
    assert type(result.value) is int


def test_has_element_repeated_string() -> None:
    result = q('peft_details.target_modules:"q_proj"')
    assert isinstance(result, HasElement)
    assert path(result.field) == "peft_details.target_modules"
    assert result.subpath == ()
    assert result.value == "q_proj"


def test_presence() -> None:
    result = q("deprecation_date:*")
    assert isinstance(result, Presence)
    assert path(result.field) == "deprecation_date"


def test_nested_string_compare() -> None:
    config = M.root.field("conversation_config")
    assert config is not None and config.type.message is not None
    style = config.type.message.field("style")
    assert style is not None
    assert q('conversation_config.style = "jinja"') == Compare(FieldRef((config, style)), Op.EQ, "jinja")


def test_timestamp_compare() -> None:
    result = q('create_time > "2025-01-01T00:00:00Z"')
    assert isinstance(result, Compare)
    assert result.value == Timestamp(1735689600 * 10**9)
    assert q('create_time > timestamp("2025-01-01T01:00:00+01:00")') == result
    assert q('createTime > "2025-01-01t00:00:00z"') == result


def test_enum_compare() -> None:
    result = q("kind = HF_BASE_MODEL")
    assert isinstance(result, Compare)
    assert result.value == EnumValue("HF_BASE_MODEL", 1)
    assert q('kind = "HF_BASE_MODEL"') == result
    assert q("kind != HF_PEFT_ADDON") == Compare(result.field, Op.NE, EnumValue("HF_PEFT_ADDON", 2))


def test_bool_compare_and_camel_case() -> None:
    result = q("supports_serverless=true")
    assert isinstance(result, Compare)
    assert path(result.field) == "supports_serverless"
    assert (result.op, result.value) == (Op.EQ, True)
    assert q("supportsServerless = true") == result
    assert q("supports_serverless") == result
    assert q("supports_serverless != false") == Compare(result.field, Op.NE, False)
    assert q("NOT supportsServerless") == Not(result)


def test_map_value_compare() -> None:
    result = q("default_sampling_params.temperature > 0.5")
    assert isinstance(result, Compare)
    assert result.field.segments[-1] == MapKey("temperature")
    assert path(result.field) == "default_sampling_params.temperature"
    assert (result.op, result.value) == (Op.GT, 0.5)
    widened = q("default_sampling_params.temperature = 1")
    assert isinstance(widened, Compare) and widened.value == 1.0 and type(widened.value) is float


def test_has_element_repeated_message() -> None:
    result = q("deployed_model_refs.state:DEPLOYED")
    assert isinstance(result, HasElement)
    assert path(result.field) == "deployed_model_refs"
    assert [f.name for f in result.subpath] == ["state"]
    assert result.value == EnumValue("DEPLOYED", 3)
    flag = q("deployed_model_refs.default:true")
    assert isinstance(flag, HasElement) and flag.value is True


def test_global_search() -> None:
    assert q('llama "llama 3"') == And((Search("llama"), Search("llama 3")))
    assert q("42") == Search("42")
    assert q("-30") == Search("-30")
    assert q("llama AND qwen") == And((Search("llama"), Search("qwen")))
    assert q("llama OR qwen") == Or((Search("llama"), Search("qwen")))
    assert q("-llama") == Not(Search("llama"))
    assert q("com.google") == Search("com.google")
    # a non-bool field used bare is a search term
    assert q("description") == Search("description")
    mixed = q('llama kind = HF_BASE_MODEL "3.1"')
    assert isinstance(mixed, And) and len(mixed.operands) == 3


def test_enum_and_repeated_enum() -> None:
    result = q("supported_precisions:FP8")
    assert isinstance(result, HasElement) and result.value == EnumValue("FP8", 2)


def test_string_forms() -> None:
    exact = q('display_name = "Llama 3"')
    assert isinstance(exact, Compare) and exact.value == "Llama 3"
    assert q('display_name = "llama*"') == Wildcard(exact.field, WildcardKind.PREFIX, "llama")
    assert q('display_name = "*70b"') == Wildcard(exact.field, WildcardKind.SUFFIX, "70b")
    assert q('display_name = "*ama*"') == Wildcard(exact.field, WildcardKind.CONTAINS, "ama")
    assert q('display_name != "*"') == Wildcard(exact.field, WildcardKind.ANY, "", negated=True)
    assert q("display_name = llama*") == Wildcard(exact.field, WildcardKind.PREFIX, "llama")
    assert q('display_name = "100%_\\\\*"') == Wildcard(exact.field, WildcardKind.PREFIX, "100%_\\")
    assert q('display_name:"Llama"') == Contains(exact.field, "Llama")
    assert q("display_name:llama") == Contains(exact.field, "llama")
    assert q('display_name:"llama*"') == Contains(exact.field, "llama")
    assert q('display_name > "m"') == Compare(exact.field, Op.GT, "m")
    assert q("display_name = 42") == Compare(exact.field, Op.EQ, "42")
    assert q("display_name = 1.50") == Compare(exact.field, Op.EQ, "1.50")
    assert q("display_name = -7") == Compare(exact.field, Op.EQ, "-7")
    assert q("display_name = a.b.c") == Compare(exact.field, Op.EQ, "a.b.c")
    assert q('display_name:""') == Contains(exact.field, "")


def test_presence_on_everything() -> None:
    for text in (
        "display_name:*",
        "kind:*",
        "create_time:*",
        "base_model_details:*",
        "supported_precisions:*",
    ):
        assert isinstance(q(text), Presence), text
    key = q("default_sampling_params.top_p:*")
    assert isinstance(key, Presence) and key.field.segments[-1] == MapKey("top_p")


def test_map_has_key() -> None:
    result = q("default_sampling_params:temperature")
    assert isinstance(result, HasKey) and result.key == "temperature"
    assert q('default_sampling_params:"top p"') == HasKey(result.field, "top p")
    value = q("default_sampling_params.temperature:1")
    assert isinstance(value, Compare) and value.op is Op.EQ and value.value == 1.0


def test_rhs_expansion() -> None:
    result = q("kind = (HF_BASE_MODEL OR HF_PEFT_ADDON)")
    assert isinstance(result, Or)
    assert [c.value for c in result.operands if isinstance(c, Compare)] == [
        EnumValue("HF_BASE_MODEL", 1),
        EnumValue("HF_PEFT_ADDON", 2),
    ]
    both = q("peft_details.target_modules:(q_proj AND v_proj)")
    assert isinstance(both, And)
    assert [h.value for h in both.operands if isinstance(h, HasElement)] == ["q_proj", "v_proj"]
    assert isinstance(q("context_length = (1 2)"), And)


def test_int_ranges() -> None:
    assert isinstance(q("context_length = 2147483647"), Compare)
    assert isinstance(q("context_length = -2147483648"), Compare)
    e = err("context_length = 2147483648")
    assert e.reason == "INVALID_FILTER_VALUE" and "int32" in e.message
    assert isinstance(q("base_model_details.parameter_count = 0x10"), Compare)


def test_deep_message_paths() -> None:
    assert isinstance(q("deprecation_date.year >= 2025"), Compare)
    assert isinstance(q("status.code = NOT_FOUND"), Compare)
    assert isinstance(q("baseModelDetails.parameterCount > 1"), Compare)
    assert q("base_model_details.moe") == q("base_model_details.moe = true")


def test_keyword_functions() -> None:
    public = q("public")
    assert q("NOT(public)") == Not(public)  # type: ignore[arg-type]
    result = q("OR(public, calibrated)")
    assert isinstance(result, Or) and len(result.operands) == 2
    assert isinstance(q("AND(public, calibrated, tunable)"), And)


# -- errors (Model schema) --------------------------------------------------------------------------------


def test_unknown_field_did_you_mean() -> None:
    e = err("contex_length > 4")
    assert e.reason == "UNKNOWN_FILTER_FIELD"
    assert e.message == 'unknown field "contex_length" at column 1; did you mean "context_length"?'
    assert str(e) == 'filter: unknown field "contex_length" at column 1; did you mean "context_length"?'
    assert e.column == 1
    assert e.metadata["field"] == "contex_length"
    nested = err("public AND base_model_details.paramter_count > 1")
    assert nested.column == 31
    assert 'did you mean "parameter_count"?' in nested.message
    assert nested.metadata["field"] == "base_model_details.paramter_count"
    camel = err("contextLenght = 1")
    assert 'did you mean "context_length"?' in camel.message


def test_unknown_enum_value_did_you_mean() -> None:
    e = err("kind = HF_BASE")
    assert e.reason == "INVALID_FILTER_VALUE"
    assert e.column == 8
    assert 'did you mean "HF_BASE_MODEL"?' in e.message
    assert e.metadata == {"field": "kind", "value": "HF_BASE", "column": "8"}
    assert "case-sensitive" in err("kind = hf_base_model").message


def test_lowercase_keywords() -> None:
    e = err('display_name = "a" and kind = HF_BASE_MODEL')
    assert e.reason == "INVALID_FILTER"
    assert e.column == 20
    assert "use AND" in e.message
    assert "use OR" in err("a or b").message
    assert "use NOT" in err("not public").message
    assert "use AND" in err("llama And qwen").message
    # quoted, it is an ordinary search term
    assert q('"and"') == Search("and")


def test_timestamp_errors() -> None:
    e = err('create_time > "2024-01-01T00:00:00 01:00"')
    assert e.reason == "INVALID_FILTER_VALUE"
    assert "%2B" in e.message
    assert e.column == 15
    assert "%2B" not in err('create_time > "2024-01-01"').message
    assert "%2B" in err('create_time > timestamp("2024-01-01T00:00:00.5 01:00")').message
    assert err('create_time > "2024-01-01T00:00:00"').reason == "INVALID_FILTER_VALUE"
    assert err("create_time > 5").reason == "INVALID_FILTER_VALUE"
    assert err('create_time > duration("5s")').reason == "INVALID_FILTER_VALUE"
    assert err('create_time:"2024-01-01T00:00:00Z"').reason == "INVALID_FILTER"


@pytest.mark.parametrize(
    ("text", "fragment", "column"),
    [
        ("supports_serverless > true", '">" at column 21 does not apply', 21),
        ("kind < HF_BASE_MODEL", '"<" at column 6 does not apply', 6),
        ("supports_serverless = TRUE", "true or false", 23),
        ('supports_serverless = "true"', "without quotes", 23),
        ("kind = 1", "compared by name", 8),
        ('context_length = "4096"', "without quotes", 18),
        ("context_length = 4096.0", "float literal", 18),
        ("context_length = big", "expected an integer", 18),
        ("peft_details.target_modules = q_proj", "repeated field", 29),
        ("default_sampling_params = 1", "cannot compare the map", 25),
        ("base_model_details = 1", "cannot compare the message", 20),
        ("deployed_model_refs.state = DEPLOYED", "cannot go through the repeated field", 20),
        ("deployed_model_refs.0.state:DEPLOYED", "indexing", 21),
        ('display_name.x = "a"', "cannot traverse into", 13),
        ("peft_details.target_modules.x:1", "have no fields", 29),
        ("display_name = *", "only meaningful after", 16),
        ('display_name = "a*b"', "in the middle", 16),
        ("*", 'bare "*"', 1),
        ("1 > 0", "must be a field", 1),
        ('"x" = "x"', "must be a field", 1),
        ("kind:HF_BASE_MODEL", "only tests presence", 5),
        ("context_length:4", "only tests presence", 15),
        ('base_model_details:"x"', "only tests presence", 19),
        ('deployed_model_refs:"x"', "are messages", 20),
        ('timestamp("2024-01-01T00:00:00Z")', "not a boolean", 1),
        ("regex(display_name, 'x')", 'unknown function "regex"', 1),
        ("create_time > now()", 'unknown function "now"', 15),
        ('create_time > timestamp("x", "y")', "one quoted string", 15),
        ("deployed_model_refs.state:*", "inside the elements", 26),
        ("x\x1fy", "control character", 1),
        ("default_sampling_params.a.b = 1", "have no fields", 27),
        ("public = (true OR NOT false)", "only values", 19),
        ("labels.`a b`:*", "backticks are field-mask syntax", 11),
    ],
)
def test_check_errors(text: str, fragment: str, column: int) -> None:
    e = err(text)
    assert fragment in e.message
    assert e.column == column
    assert f"column {column}" in e.message or e.reason == "UNKNOWN_FILTER_FIELD"
    assert e.reason in ("INVALID_FILTER", "INVALID_FILTER_VALUE", "UNKNOWN_FILTER_FIELD")
    if e.reason == "INVALID_FILTER":
        assert e.metadata["position"] == str(column)


# -- schema S ---------------------------------------------------------------------------------------------


def test_schema_s_regex_call() -> None:
    result = q('regex(name, "^a.*")', SCHEMA_S)
    assert isinstance(result, Call)
    assert result.name == "regex"
    name_ref, pattern = result.args
    assert isinstance(name_ref, FieldRef) and name_ref.path == "name"
    assert pattern == "^a.*"
    assert isinstance(q('regex(labels.env, "^p")', SCHEMA_S), Call)
    assert isinstance(q('NOT regex(name, "x") AND active', SCHEMA_S), And)
    assert "must be a string" in err('regex(age, "x")', SCHEMA_S).message
    assert "must be a string" in err("regex(name, 1)", SCHEMA_S).message
    assert "takes 2 arguments, got 3" in err('regex(name, "a", "b")', SCHEMA_S).message
    assert err("regex(name, nope)", SCHEMA_S).reason == "UNKNOWN_FILTER_FIELD"
    assert 'did you mean "regex"?' in err('regexp(name, "x")', SCHEMA_S).message


def test_schema_s_values() -> None:
    assert q("ttl > duration('1.5s')", SCHEMA_S) == q('ttl > "1.5s"', SCHEMA_S)
    ttl = q('ttl <= "-2s"', SCHEMA_S)
    assert isinstance(ttl, Compare) and ttl.value == Duration(-2 * 10**9)
    assert isinstance(q("state = ACTIVE", SCHEMA_S), Compare)
    authors = q('authors.given_name:"Ann"', SCHEMA_S)
    assert isinstance(authors, HasElement) and authors.value == "Ann"
    assert q("tags:42", SCHEMA_S) == q('tags:"42"', SCHEMA_S)
    assert isinstance(q('labels."John Smith" = "x"', SCHEMA_S), Compare)
    assert isinstance(q("age = 1 OR rating < 2.5e-1", SCHEMA_S), Or)


def test_no_global_search_schema() -> None:
    for text in ("42", "Hugo", "Victor Hugo", '"quoted text"', "-30", "prod", "name"):
        e = err(text, SCHEMA_S_NO_SEARCH)
        assert e.reason == "INVALID_FILTER", text
        assert "global search" in e.message or "not a boolean" in e.message
    assert 'did you mean the field "name"' in err("nmae", SCHEMA_S_NO_SEARCH).message
    assert isinstance(q("active", SCHEMA_S_NO_SEARCH), Compare)
    assert isinstance(q('name = "x"', SCHEMA_S_NO_SEARCH), Compare)
    assert "use AND" in err("a = 1 and b = 2", SCHEMA_S_NO_SEARCH).message


def test_empty_filter() -> None:
    assert compile_filter("", M) == CheckedFilter("", None)
    assert compile_filter("  ", M) == CheckedFilter("  ", None)
    assert check(None, M) == CheckedFilter("", None)
    assert check(parse("public"), M, "public").text == "public"


def test_compile_filter_is_cached() -> None:
    text = "public AND kind = HF_BASE_MODEL"
    assert compile_filter(text, M) is compile_filter(text, M)


def test_limits_through_compile() -> None:
    assert err("a" * (limits.MAX_FILTER_BYTES + 1)).reason == "FILTER_TOO_LONG"
    assert err("(" * 65 + "public" + ")" * 65).reason == "FILTER_TOO_COMPLEX"
    assert q("(" * 64 + "public" + ")" * 64) == q("public")
    assert err(" ".join(["public"] * 501)).reason == "FILTER_TOO_COMPLEX"
    many = q(" ".join(["public"] * 500))
    assert isinstance(many, And) and len(many.operands) == 500


#: Compiling (parse + check) is linear in the input: at most this many Python function calls per character
#: (plus a constant). Quadratic work on an 8 KiB hostile input would be millions of calls.
CALLS_PER_CHARACTER = 32


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x" * 100_000, "FILTER_TOO_LONG"),
        ("(" * 100_000, "FILTER_TOO_LONG"),
        ("a = " + "(" * 64 + "1" + ")" * 64, "UNKNOWN_FILTER_FIELD"),
        (" OR ".join(["display_name = x"] * 400), None),
        ("a." * 4000 + "a", None),
        ('display_name:"' + "*" * 8000 + '"', None),
        ("contex_length" * 600, None),
    ],
)
def test_hostile_inputs_are_fast(text: str, reason: str | None) -> None:
    """Each hostile input compiles or is refused with the right reason, and the work is bounded: counted
    in function calls, not timed (bench/bench_filter.py times these inputs)."""
    counted = count_calls(compile_filter, text, M, catch=FilterError)
    if reason is None:
        assert counted.error is None, counted.error
    else:
        assert isinstance(counted.error, FilterError), counted.result
        assert counted.error.reason == reason, counted.error.message
    assert counted.calls <= CALLS_PER_CHARACTER * len(text) + 1000, (counted.calls, len(text), text[:40])


def test_field_decl_identity() -> None:
    result = q("context_length = 1")
    assert isinstance(result, Compare)
    leaf = result.field.leaf
    assert isinstance(leaf, FieldDecl) and leaf is M.root.field("contextLength")
