"""Lexer, parser and S-expression printer of the AIP-160 filter engine (beyond the conformance table)."""

from __future__ import annotations

import pytest

from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, limits, parse, to_sexpr
from modelyard.aip.filtering.lexer import TokenKind, tokenize
from modelyard.aip.filtering.values import parse_duration
from modelyard.aip.timestamps import format_rfc3339, parse_rfc3339
from tests.support.counting import count_calls


def sx(text: str) -> str:
    return to_sexpr(parse(text))


def error(text: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse(text)
    return info.value


# -- lexer ------------------------------------------------------------------------------------------------


def test_tokens_carry_columns_and_whitespace() -> None:
    tokens = tokenize('a = "x y"  AND\tb<=1')
    assert [(t.kind, t.column, t.ws_before) for t in tokens] == [
        (TokenKind.TEXT, 1, False),
        (TokenKind.EQ, 3, True),
        (TokenKind.STRING, 5, True),
        (TokenKind.TEXT, 12, True),
        (TokenKind.TEXT, 16, True),
        (TokenKind.LE, 17, False),
        (TokenKind.NUMBER, 19, False),
        (TokenKind.EOF, 20, False),
    ]
    assert tokens[2].value == "x y"


def test_unicode_whitespace_separates_terms() -> None:
    assert sx("a\u00a0b\u3000c\u2028d") == "(FUZZY a b c d)"


def test_unit_separator_is_not_whitespace() -> None:
    # str.isspace() says U+001F is whitespace; Unicode White_Space does not.
    assert sx("a\x1fb") == "a\x1fb"


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('a = "\\a\\b\\f\\v"', '(= a "\\u0007\\u0008\\u000c\\u000b")'),
        ('a = "\\101\\x41\\u0041\\U00000041"', '(= a "AAAA")'),
        ("a = '\\''", '(= a "\'")'),
        ('a = "\\?\\`"', '(= a "?`")'),
        ('a = "é\\u00e9"', '(= a "éé")'),
        ('a = "\x7f"', '(= a "\x7f")'),
        ('a = "<&>"', '(= a "<&>")'),
    ],
)
def test_string_escapes_and_printing(text: str, tree: str) -> None:
    assert sx(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        'a = "\\400"',
        'a = "\\08"',
        'a = "\\x4"',
        'a = "\\u12"',
        'a = "\\U00110000"',
        'a = "\\',
        'a = "\\ud800"',
    ],
)
def test_bad_escapes(text: str) -> None:
    assert error(text).reason == "INVALID_FILTER"


# -- numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a = 1e3", "(= a 1000.0)"),
        ("a = 1E+3", "(= a 1000.0)"),
        ("a = 2.5e-1", "(= a 0.25)"),
        ("a = -.5", "(= a -0.5)"),
        ("a = 0x0", "(= a 0)"),
        ("a = -0x8000000000000000", "(= a -9223372036854775808)"),
        ("a = 0x7fffffffffffffff", "(= a 9223372036854775807)"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("a = 00000000000000000000000001", "(= a 1)"),
        ("-(1.5)", "-1.5"),
        ("f(-1, .5)", "(f -1 0.5)"),
    ],
)
def test_numbers(text: str, tree: str) -> None:
    assert sx(text) == tree


@pytest.mark.parametrize(
    "text",
    [
        "a = 0x8000000000000000",
        "a = 1e400",
        "a = 99999999999999999999",
        "-(-9223372036854775808)",
        "9223372036854775808",
        "a = 1" + "0" * 5000,
    ],
)
def test_numbers_out_of_range(text: str) -> None:
    assert "out of range" in error(text).message


def test_number_source_text_is_kept() -> None:
    node = parse("a = 007")
    assert isinstance(node, ast.Restriction) and isinstance(node.rhs, ast.Int)
    assert (node.rhs.value, node.rhs.text) == (7, "007")
    neg = parse("-30")
    assert isinstance(neg, ast.Int) and neg.text == "-30"
    double = parse("-(-42)")
    assert isinstance(double, ast.Int) and double.text == "42"


# -- structure --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("(a AND b) AND c", "(AND a b c)"),
        ("a AND (b AND c)", "(AND a b c)"),
        ("(a OR b) OR (c OR d)", "(OR a b c d)"),
        ("(a b) c", "(FUZZY a b c)"),
        ("a.b.c:*", '(: a.b.c "*")'),
        ("m.'k.1' = 1", '(= m."k.1" 1)'),
        ('"a".b = 1', '(= "a".b 1)'),
        ("a = f(g(), h(x.y, 'z'))", '(= a (f (g) (h x.y "z")))'),
        ("x.y.z()", "(x.y.z)"),
        ("NOT(a) OR NOT (b)", "(OR (NOT a) (NOT b))"),
        ("-f(x)", "(NOT (f x))"),
        ("a:(b OR c)", "(: a (OR b c))"),
        ("a:-1", "(: a -1)"),
        ("a != (1 2)", "(!= a (FUZZY 1 2))"),
        ("a.NOT.OR = 1", "(= a.NOT.OR 1)"),
        ("a = AND.b", None),
    ],
)
def test_structure(text: str, tree: str | None) -> None:
    if tree is None:
        error(text)
    else:
        assert sx(text) == tree


def test_nodes_keep_columns() -> None:
    node = parse("x AND  name = 'a'")
    assert isinstance(node, ast.And)
    restriction = node.operands[1]
    assert isinstance(restriction, ast.Restriction)
    assert restriction.column == 13
    assert isinstance(restriction.lhs, ast.Text) and restriction.lhs.column == 8
    assert isinstance(restriction.rhs, ast.String) and restriction.rhs.column == 15


def test_empty_and_whitespace() -> None:
    assert parse("") is None
    assert parse(" \t\n\u3000") is None
    assert to_sexpr(None) == "<empty>"


# -- digit-led words (decisions.md: `70b`, `8x7b`, `30s` are TEXT) -------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("70b", "70b"),
        ("llama 70b", "(FUZZY llama 70b)"),
        ("mixtral 8x7b", "(FUZZY mixtral 8x7b)"),
        ("ttl > 30s", "(> ttl 30s)"),
        ("a = 1e5x", "(= a 1e5x)"),
        ("a = 1e-3", "(= a 0.001)"),
        ("a = 12", "(= a 12)"),
        ("a = 0x1F", "(= a 31)"),
    ],
)
def test_digit_led_words(text: str, tree: str) -> None:
    assert to_sexpr(parse(text)) == tree


# -- syntax errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(name = )", 'unexpected ")" at column 9; expected a value'),
        ("a AND", "unexpected end of input at column 6; expected a term"),
        ("70b-instruct", 'quote it: "70b-instruct"'),
        ("name = foo-bar", 'quote it: "foo-bar"'),
        ("t > 2024-01-01T00:00:00Z", 'quote it: "2024-01-01T00:00:00Z"'),
        ("a ! b", 'did you mean "!="'),
        ("(a", 'expected ")" to close the "(" at column 1'),
        ("a)", 'unexpected ")" at column 2'),
        ("f(a,)", "no trailing comma"),
        ("a = b = c", "comparisons cannot be chained"),
        ("- a", '"-" must touch'),
        ("NOT NOT a", "negated only once"),
        ("(a) > 1", "parenthesised expression cannot be compared"),
        ('a = "abc', "unterminated string starting at column 5"),
        ('a = "\\*"', "literal * cannot be escaped"),
        ("a AND(b)", 'whitespace after "AND"'),
        ("(a)OR(b)", 'whitespace before "OR"'),
    ],
)
def test_syntax_error_messages(text: str, message: str) -> None:
    err = error(text)
    assert message in err.message
    assert err.reason == "INVALID_FILTER"
    assert err.parameter == "filter"
    assert err.metadata["column"] == str(err.column)
    assert f"column {err.column}" in err.message


def test_invalid_utf8() -> None:
    text = b"name = caf\xc3".decode("utf-8", errors="surrogateescape")
    err = error(text)
    assert err.message == "invalid UTF-8 at column 11"
    assert err.column == 11


# -- limits -----------------------------------------------------------------------------------------------


def test_length_limit() -> None:
    ok = "a" * limits.MAX_FILTER_BYTES
    assert parse(ok) is not None
    err = error("a" * (limits.MAX_FILTER_BYTES + 1))
    assert err.reason == "FILTER_TOO_LONG"
    assert "8192" in err.message
    # bytes, not characters: 2-byte characters
    assert error("é" * (limits.MAX_FILTER_BYTES // 2 + 1)).reason == "FILTER_TOO_LONG"
    assert parse("é" * (limits.MAX_FILTER_BYTES // 2)) is not None


def test_depth_limit() -> None:
    depth = limits.MAX_DEPTH
    assert sx("(" * depth + "a" + ")" * depth) == "a"
    err = error("(" * (depth + 1) + "a" + ")" * (depth + 1))
    assert err.reason == "FILTER_TOO_COMPLEX"
    assert err.column == depth + 1
    assert "64" in err.message
    assert sx("f(" * depth + ")" * depth).startswith("(f (f")
    assert error("f(" * (depth + 1) + ")" * (depth + 1)).reason == "FILTER_TOO_COMPLEX"
    mixed = "a = (" * 32 + "1" + ")" * 32
    assert parse(mixed) is not None


def test_32_levels_parse() -> None:
    assert sx("(" * 32 + "a" + ")" * 32) == "a"


def test_term_limit() -> None:
    assert parse(" ".join(["a"] * limits.MAX_TERMS)) is not None
    err = error(" ".join(["a"] * (limits.MAX_TERMS + 1)))
    assert err.reason == "FILTER_TOO_COMPLEX"
    assert "500" in err.message
    assert err.column == 2 * limits.MAX_TERMS + 1
    restrictions = " OR ".join(["a=1"] * (limits.MAX_TERMS + 1))
    assert error(restrictions).reason == "FILTER_TOO_COMPLEX"


#: Parsing is linear in the input: at most this many Python function calls per character (plus a constant).
#: Quadratic work on an 8 KiB hostile input would be millions of calls, far above the bound.
CALLS_PER_CHARACTER = 16
#: A filter over the length limit is refused before it is lexed: a handful of calls, whatever its size.
CALLS_TO_REFUSE_TOO_LONG = 20


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(" * 100_000, "FILTER_TOO_LONG"),
        (")" * 100_000, "FILTER_TOO_LONG"),
        ("a" * 100_000, "FILTER_TOO_LONG"),
        ("-" * 100_000, "FILTER_TOO_LONG"),
        ('"' * 100_000, "FILTER_TOO_LONG"),
        ("NOT " * 25_000, "FILTER_TOO_LONG"),
        ("(" * 8000, "FILTER_TOO_COMPLEX"),
        ("-" * 8000 + "a", "INVALID_FILTER"),
        ("NOT " * 2000 + "a", "INVALID_FILTER"),
        ("a." * 4000 + "a", None),
        ("f(" * 4000, "FILTER_TOO_COMPLEX"),
        ("a = " + "(" * 4000, "FILTER_TOO_COMPLEX"),
        ('"' + "\\" * 8000, "INVALID_FILTER"),
        ("a " * 4096, "FILTER_TOO_COMPLEX"),
        ("a=1 " * 2048, "FILTER_TOO_COMPLEX"),
        ("1" * 8192, "INVALID_FILTER"),
        ("9" * 8000 + "e9", "INVALID_FILTER"),
        ("\\" * 8192, None),
        ("\udcff" * 8000, "FILTER_TOO_LONG"),
    ],
)
def test_hostile_inputs_fail_fast(text: str, reason: str | None) -> None:
    """Each hostile input gets its answer (a tree, or the FilterError naming the limit or the problem),
    and the parser's work is bounded: counted in function calls, not timed (bench/bench_filter.py times
    these inputs)."""
    counted = count_calls(parse, text, catch=FilterError)
    if reason is None:
        assert counted.error is None, counted.error
        assert counted.result is not None
    else:
        assert isinstance(counted.error, FilterError), counted.result
        assert counted.error.reason == reason, counted.error.message
        assert counted.error.message
    if reason == "FILTER_TOO_LONG":
        assert counted.calls <= CALLS_TO_REFUSE_TOO_LONG, counted.calls
    assert counted.calls <= CALLS_PER_CHARACTER * len(text) + 200, (counted.calls, len(text))


# -- values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1969-12-31T23:00:00-01:00", 0),
        ("2012-04-21t11:30:00z", 1335007800 * 10**9),
        ("2012-04-21T11:30:00.123456789Z", 1335007800 * 10**9 + 123456789),
        ("2012-04-21T11:30:00.5Z", 1335007800 * 10**9 + 500_000_000),
        ("0001-01-01T00:00:00Z", -62135596800 * 10**9),
        ("2024-02-29T00:00:00Z", 1709164800 * 10**9),
    ],
)
def test_parse_timestamp(text: str, expected: int) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2012-04-21",
        "2012-04-21T11:30:00",
        "2012-04-21 11:30:00Z",
        "20120421T113000Z",
        "2012-04-21T11:30:00+0100",
        "2012-04-21T11:30:00.1234567891Z",
        "2023-02-29T00:00:00Z",
        "2012-04-21T24:00:00Z",
        "2012-04-21T11:60:00Z",
        "2012-04-21T11:30:60Z",
        "2012-04-21T11:30:00+24:00",
        "0000-01-01T00:00:00Z",
        "٢٠١٢-04-21T11:30:00Z",
    ],
)
def test_parse_timestamp_rejects(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_format_timestamp_round_trip() -> None:
    # proto3 JSON's canonical form: 0, 3, 6 or 9 fractional digits (".5" is written ".500").
    for text in ("2012-04-21T11:30:00.123456789Z", "1969-12-31T23:59:59.500Z", "2024-01-01T00:00:00Z"):
        nanos = parse_rfc3339(text)
        assert nanos is not None
        assert format_rfc3339(nanos) == text
    assert format_rfc3339(parse_rfc3339("1969-12-31T23:59:59.5Z") or 0) == "1969-12-31T23:59:59.500Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30 * 10**9),
        ("1.5s", 1_500_000_000),
        ("-1.5s", -1_500_000_000),
        (".25s", 250_000_000),
        ("0s", 0),
        ("1.000000001s", 1_000_000_001),
        ("4h", None),
        ("30", None),
        ("s", None),
        ("-s", None),
        ("1.0000000001s", None),
        ("1e3s", None),
        ("315576000001s", None),
        (" 30s", None),
    ],
)
def test_parse_duration(text: str, expected: int | None) -> None:
    assert parse_duration(text) == expected
