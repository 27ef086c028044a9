"""Hostile filters through the real HTTP API: every answer is 200 or a clear 400, never a 500 or a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.accounts import Account
from tests.support.filter_inputs import FRAGMENTS, mutated

HTTP_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _probe(account: Account, text: str) -> None:
    # Lone surrogates cannot travel in a URL as UTF-8: send what a client would (replacement characters).
    safe = text.encode("utf-8", "replace").decode("utf-8")
    # A hang fails the test through the client's timeout (30 s, tests/support/server.py), not a clock check.
    r = account.client.get(account.url(), params={"filter": safe, "pageSize": 5})
    assert r.status_code in (200, 400), (safe, r.status_code, r.text)
    body = r.json()
    if r.status_code == 400:
        assert body["code"] == 3
        assert body["message"].startswith("filter: "), body
        assert body["details"][0]["reason"] in {
            "INVALID_FILTER", "UNKNOWN_FILTER_FIELD", "INVALID_FILTER_VALUE", "FILTER_TOO_LONG",
            "FILTER_TOO_COMPLEX",
        }  # fmt: skip
    else:
        assert body["totalSize"] >= 0


@HTTP_SETTINGS
@given(text=mutated())
def test_mutated_filters_over_http(account: Account, text: str) -> None:
    _probe(account, text)


@HTTP_SETTINGS
@given(text=st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_fragment_soup_over_http(account: Account, text: str) -> None:
    _probe(account, text)


@HTTP_SETTINGS
@given(text=st.text(max_size=120))
def test_random_text_over_http(account: Account, text: str) -> None:
    _probe(account, text)


def test_huge_and_deep_filters_over_http(account: Account) -> None:
    for text in ("(" * 5000 + "a" + ")" * 5000, "a " * 4000, "NOT " * 3000 + "a", "x" * 9000, "-" * 8000):
        _probe(account, text)
