"""Property tests of the filter engine: whatever the input, parse/check either succeed or raise FilterError
(never another exception, never a RecursionError), and generated well-formed filters print the tree their
structure implies."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import check, limits, parse, to_sexpr
from modelyard.resources.model import MODEL_FILTER_SCHEMA
from tests.support.filter_inputs import FRAGMENTS, SEEDS, mutated
from tests.support.schema_s import SCHEMA_S, SCHEMA_S_NO_SEARCH

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMAS = (SCHEMA_S, SCHEMA_S_NO_SEARCH, MODEL_FILTER_SCHEMA)


def _exercise(text: str) -> None:
    """parse + print + check against every schema: only FilterError may escape."""
    try:
        expr = parse(text)
    except FilterError as e:
        assert e.reason in ("INVALID_FILTER", "FILTER_TOO_LONG", "FILTER_TOO_COMPLEX")
        assert e.column is None or 1 <= e.column <= len(text) + 1
        return
    printed = to_sexpr(expr)
    assert isinstance(printed, str) and printed
    assert to_sexpr(parse(text)) == printed  # deterministic
    for schema in SCHEMAS:
        try:
            result = check(expr, schema, text)
        except FilterError as e:
            assert e.reason in ("INVALID_FILTER", "UNKNOWN_FILTER_FIELD", "INVALID_FILTER_VALUE")
            assert e.column is not None and 1 <= e.column <= len(text)
        else:
            assert (result.query is None) == (expr is None)


@SETTINGS
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _exercise(text)


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_random_fragments(text: str) -> None:
    _exercise(text)


@SETTINGS
@given(mutated())
def test_mutated_filters(text: str) -> None:
    _exercise(text)


@SETTINGS
@given(st.sampled_from(SEEDS), st.integers(1, 120))
def test_deep_nesting_never_crashes(seed: str, depth: int) -> None:
    text = "(" * depth + seed + ")" * depth
    _exercise(text)
    if depth > limits.MAX_DEPTH:
        try:
            parse(text)
        except FilterError as e:
            assert e.reason in ("FILTER_TOO_COMPLEX", "INVALID_FILTER")
        else:
            raise AssertionError("nesting beyond the limit parsed")


# -- generated well-formed filters ------------------------------------------------------------------------

Tree = str | tuple[str, tuple["Tree", ...]]


def _render(tree: Tree) -> str:
    if isinstance(tree, str):
        return tree
    op, kids = tree
    return "(" + op + "".join(" " + _render(k) for k in kids) + ")"


def _chain(op: str, kids: list[Tree]) -> Tree:
    if len(kids) == 1:
        return kids[0]
    flat: list[Tree] = []
    for kid in kids:
        if isinstance(kid, tuple) and kid[0] == op:
            flat.extend(kid[1])
        else:
            flat.append(kid)
    return (op, tuple(flat))


WS = st.sampled_from([" ", "  ", "\t", "\n", " \u3000"])
OPT_WS = st.sampled_from(["", " ", "\t"])
FIELDS = st.sampled_from(
    [("name", "name"), ("a.b", "a.b"), ("labels.env", "labels.env"), ('m."k 1"', 'm."k 1"')]
)
# (source, tree with "=", tree after ":")
VALUES = st.sampled_from(
    [
        ("1", "1", "1"),
        ("-2", "-2", "-2"),
        ("2.5", "2.5", "2.5"),
        ("1e3", "1000.0", "1000.0"),
        ("0x10", "16", "16"),
        ('"x y"', '"x y"', '"x y"'),
        ("'q'", '"q"', '"q"'),
        ("foo", "foo", '"foo"'),
        ("c.d", "c.d", "c.d"),
        ("true", "true", '"true"'),
        ("*", "*", '"*"'),
        ('timestamp("2024-01-01T00:00:00Z")', '(timestamp "2024-01-01T00:00:00Z")', None),
    ]
)
COMPARATORS = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", ":"])


@st.composite
def restrictions(draw: st.DrawFn) -> tuple[str, Tree]:
    field_src, field_tree = draw(FIELDS)
    op = draw(COMPARATORS)
    src, eq_tree, has_tree = draw(VALUES)
    if op == ":" and has_tree is None:
        op = "="
    tree = has_tree if op == ":" else eq_tree
    assert tree is not None
    text = f"{field_src}{draw(OPT_WS)}{op}{draw(OPT_WS)}{src}"
    return text, (op, (field_tree, tree))


BARE = st.sampled_from([("prod", "prod"), ('"a b"', '"a b"'), ("42", "42"), ("x.y", "x.y"), ("f()", "(f)")])
LEAVES = st.one_of(restrictions(), BARE)


def _expressions(inner: st.SearchStrategy[tuple[str, Tree]]) -> st.SearchStrategy[tuple[str, Tree]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, Tree]:
        def simple() -> tuple[str, Tree]:
            if draw(st.booleans()):
                return draw(LEAVES)
            text, tree = draw(inner)
            return f"({draw(OPT_WS)}{text}{draw(OPT_WS)})", tree

        def term() -> tuple[str, Tree]:
            text, tree = simple()
            if draw(st.integers(0, 3)) == 0:
                return f"NOT{draw(WS)}{text}", ("NOT", (tree,))
            return text, tree

        def level(op: str, sep: str, part: object) -> tuple[str, Tree]:
            assert callable(part)
            items = [part() for _ in range(draw(st.integers(1, 3)))]
            joined = items[0][0]
            for text, _ in items[1:]:
                joined += f"{draw(WS)}{sep}{draw(WS)}" if sep else draw(WS)
                joined += text
            return joined, _chain(op, [tree for _, tree in items])

        def factor() -> tuple[str, Tree]:
            return level("OR", "OR", term)

        def sequence() -> tuple[str, Tree]:
            return level("FUZZY", "", factor)

        return level("AND", "AND", sequence)

    return build()


GENERATED = st.recursive(LEAVES, _expressions, max_leaves=25)


@SETTINGS
@given(GENERATED, OPT_WS, OPT_WS)
def test_generated_filters_round_trip(generated: tuple[str, Tree], before: str, after: str) -> None:
    text, tree = generated
    expected = _render(tree)
    assert to_sexpr(parse(before + text + after)) == expected
    # parenthesising a whole filter does not change its tree
    assert to_sexpr(parse(f"({text})")) == expected
    _exercise(text)
