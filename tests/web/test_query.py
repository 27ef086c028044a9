"""The catalog's view state (``modelyard.web.query``): URL query -> the filter text and order the List API
takes, checked by the same filter engine; URLs round-trip; bad values are named problems."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from modelyard.aip.filtering.query import Search
from modelyard.web.facets import FACETS, SORTS
from modelyard.web.present import card, facts, human_count, human_tokens, safe_url
from modelyard.web.query import CatalogQuery, compile_text, reversed_order


def view(query: str) -> CatalogQuery:
    pairs = parse_qsl(query, keep_blank_values=True)
    return CatalogQuery.from_params(dict(pairs), pairs)


def test_plain_words_are_global_search_terms_never_filter_syntax() -> None:
    assert view("q=llama+70b").search_text == '"llama" AND "70b"'
    # operators, keywords and field syntax typed in the box are just words
    q = view("q=" + "context_length%3E5 and a:b NOT -x (y")
    assert q.search_text == '"context_length>5" AND "and" AND "a:b" AND "NOT" AND "-x" AND "(y"'
    checked = compile_text(q.filter_text())
    assert checked.query is not None
    # a quoted phrase stays one term; quotes and backslashes inside words are escaped
    assert view('q="llama 3" 8b').words == ["llama 3", "8b"]
    assert compile_text(view('q=a\\b c"d').filter_text()).query is not None


def test_a_single_word_is_one_search_node() -> None:
    checked = compile_text(view("q=mixtral").filter_text())
    assert isinstance(checked.query, Search) and checked.query.text == "mixtral"


def test_facets_or_within_and_across() -> None:
    q = view("kind=HF_BASE_MODEL&kind=EMBEDDING_MODEL&cap=tools&cap=serverless&ctx=256k")
    text = q.filter_text()
    assert text == (
        "((kind = HF_BASE_MODEL) OR (kind = EMBEDDING_MODEL)) AND ((supports_serverless) AND "
        "(supports_tools)) AND (context_length >= 262144)"
    )
    compile_text(text)  # the engine accepts it


def test_advanced_filter_is_parenthesised_so_its_or_cannot_leak() -> None:
    q = view("q=llama&filter=supports_tools+OR+supports_image_input&kind=HF_BASE_MODEL")
    assert (
        q.filter_text() == '"llama" AND (supports_tools OR supports_image_input) AND (kind = HF_BASE_MODEL)'
    )


def test_option_counts_leave_out_their_own_facet_only_for_or_facets() -> None:
    q = view("kind=HF_BASE_MODEL&cap=tools")
    texts = {(p, v): t for p, v, t in q.option_texts()}
    # a kind option's count: the other facets' choices and that kind (not the kind already chosen)
    assert texts[("kind", "EMBEDDING_MODEL")] == "(supports_tools) AND (kind = EMBEDDING_MODEL)"
    # a capability's count: everything chosen, and that capability too (capabilities add up)
    assert texts[("cap", "image")] == (
        "(kind = HF_BASE_MODEL) AND (supports_tools) AND (supports_image_input)"
    )
    assert len(texts) == sum(len(f.options) for f in FACETS)
    for text in texts.values():
        compile_text(text)


def test_every_sort_is_a_valid_order_ending_with_name() -> None:
    for sort in SORTS:
        order = view(f"sort={sort.value}").order()
        assert order.fields[-1].name == "name"
        back = reversed_order(order)
        assert [f.desc for f in back.fields] == [not f.desc for f in order.fields]


def test_urls_round_trip_and_start_on_the_first_page() -> None:
    q = view(
        "q=llama+70b&kind=HF_BASE_MODEL&cap=tools&filter=context_length>1&sort=largest&account=acme&page=X"
    )
    again = view(urlsplit(q.url()).query)
    assert again == CatalogQuery(**{**q.__dict__, "page": ""})
    assert "page=" not in q.url() and "page=X" not in q.toggled("cap", "image")
    on = view(urlsplit(q.toggled("cap", "image")).query)
    assert on.selected["cap"] == ("tools", "image")
    off = view(urlsplit(on.toggled("cap", "tools")).query)
    assert off.selected["cap"] == ("image",)
    assert q.url(q="").startswith("/catalog?kind=")
    assert view("").url() == "/catalog"


@pytest.mark.parametrize(
    ("query", "field", "needle"),
    [
        ("kind=NOPE", "kind", "kind: unknown value 'NOPE'"),
        ("cap=flying", "cap", "expected one of serverless, tools, image, tunable"),
        ("sort=random", "sort", "sort: unknown order 'random'"),
        ("account=Bad_Account", "account", "account:"),
        ("filter=contex_length+>+1", "filter", 'did you mean "context_length"'),
        ("filter=kind+<+HF_BASE_MODEL", "filter", "filter:"),
        ("filter=(a", "filter", "column"),
        ("q=" + "x" * 5000, "q", "longer than 4096 characters"),
    ],
)
def test_problems_name_the_parameter(query: str, field: str, needle: str) -> None:
    problems = view(query).problems()
    assert problems and problems[0].field == field and needle in problems[0].message, problems


def test_a_valid_view_has_no_problems() -> None:
    assert (
        view("q=llama&kind=HF_BASE_MODEL&params=300b&ctx=lt32k&sort=updated&account=fireworks").problems()
        == []
    )


def test_display_values() -> None:
    assert human_count(70_553_706_496) == "70.6B" and human_count(8_000_000_000) == "8B"
    assert human_tokens(131072) == "128K" and human_tokens(1048576) == "1M" and human_tokens(128000) == "128K"
    assert safe_url("https://huggingface.co/x") == "https://huggingface.co/x"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example/x", "/relative", 42, None):
        assert safe_url(bad) is None
    model = {
        "name": "accounts/a/models/m",
        "kind": "HF_BASE_MODEL",
        "baseModelDetails": {"parameterCount": "671026419200", "moe": True},
        "contextLength": 163840,
        "supportsTools": True,
        "huggingFaceUrl": "javascript:alert(1)",
    }
    c = card(model)
    assert c.title == "m" and c.chips == ["Base model", "671B params MoE", "160K context"]
    assert c.capabilities == ["Tool calling"]
    by_label = {f.label: f for f in facts(model)}
    assert by_label["Parameters"].value == "671B (671,026,419,200)"
    assert by_label["Hugging Face"].href is None  # shown as text, never as a javascript: link
