"""The catalog pages over HTTP against a real ``modelyard serve`` (SQLite and PostgreSQL): what anonymous
visitors and key holders see, that every view lists exactly what List Models returns for the same filter
and order, that each facet count is the List ``totalSize`` of what the option would leave, paging both
ways, the model page, escaping, bad input, and the anonymous-browsing switch (decisions.md "Catalog
pages")."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from modelyard.store.catalog_order import catalog_name_value
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from modelyard.web.facets import FACETS, SORTS
from modelyard.web.query import CatalogQuery
from tests.support.accounts import Account
from tests.support.api import stored
from tests.support.databases import fresh_database, migrated_store
from tests.support.server import Server, start_server, stop_server

KINDS = ("HF_BASE_MODEL", "HF_BASE_MODEL", "EMBEDDING_MODEL", "FLUMINA_BASE_MODEL")
PARAMS = (0, 3_000_000_000, 8_000_000_000, 24_000_000_000, 70_000_000_000, 235_000_000_000, 671_000_000_000)
CONTEXTS = (0, 8192, 32768, 131072, 163840, 262144, 1048576)


def _model(i: int) -> dict[str, Any]:
    kind = KINDS[i % len(KINDS)]
    fields: dict[str, Any] = {
        "kind": kind,
        "displayName": f"{['Llama', 'Qwen', 'Mistral', 'Gemma', 'DeepSeek'][i % 5]} {i % 7 + 1}B v{i}",
        "description": f"catalog test model number {i}" + (" with a 70b sibling" if i % 6 == 0 else ""),
        "public": i % 9 != 0,
        "contextLength": CONTEXTS[i % len(CONTEXTS)],
        "supportsTools": i % 2 == 0,
        "supportsServerless": i % 3 == 0,
        "supportsImageInput": i % 5 == 0,
        "tunable": i % 4 == 0,
        "createTime": f"2025-01-{i % 28 + 1:02d}T00:00:00Z",
        "updateTime": f"2025-02-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z",
    }
    if kind == "HF_BASE_MODEL":
        fields["baseModelDetails"] = {"parameterCount": str(PARAMS[i % len(PARAMS)]), "moe": i % 2 == 1}
    else:
        fields["baseModelDetails"] = None
    return stored(**fields)


N_MODELS = 75


@pytest.fixture(scope="module")
def shelf(server: Server) -> Account:
    """An account holding N_MODELS models (every ninth private) spread over every facet."""
    account = server.new_account("shelf")
    server.store.import_batch(account.id, [(f"m-{i:03d}", _model(i)) for i in range(N_MODELS)], upsert=False)
    return account


def names(page: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(r'<li class="card" data-name="([^"]+)"', page)]


def counts(page: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'data-option="([a-z]+):([^"]+)" data-count="(\d+)"', page)
    return {(p, html.unescape(v)): int(c) for p, v, c in found}


def link(page: str, rel: str) -> str | None:
    m = re.search(rf'rel="{rel}" href="([^"]+)"', page)
    return html.unescape(m.group(1)) if m else None


def api_names(client: httpx.Client, account: str, query: CatalogQuery) -> tuple[list[str], int]:
    """Every model List Models returns for the view's filter and order (what the page must show). The
    catalog's name sorts (case aside, unnamed models by id) are List's models sorted so in Python."""
    out: list[dict[str, Any]] = []
    by_name = query.sort_choice.value in ("name", "name-desc")
    token, total = "", -1
    while True:
        order = "name" if by_name else query.sort_choice.order_by
        params = {"filter": query.filter_text(), "orderBy": order, "pageSize": 200}
        if token:
            params["pageToken"] = token
        body = client.get(f"/v1/accounts/{account}/models", params=params).json()
        out += body.get("models", [])
        total = body["totalSize"]
        token = body.get("nextPageToken", "")
        if not token:
            break
    if by_name:  # sorted by name already: a stable sort keeps it as the tiebreaker
        out.sort(
            key=lambda m: catalog_name_value(m.get("displayName", ""), m["name"].rsplit("/", 1)[1]),
            reverse=query.sort_choice.value == "name-desc",
        )
        if query.sort_choice.value == "name-desc":  # the tiebreaker stays ascending
            out = _ties_ascending(out)
    return [m["name"] for m in out], total


def _ties_ascending(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(m: dict[str, Any]) -> str:
        return catalog_name_value(m.get("displayName", ""), m["name"].rsplit("/", 1)[1])

    groups: dict[str, list[dict[str, Any]]] = {}
    for m in models:
        groups.setdefault(key(m), []).append(m)
    return [m for k in groups for m in sorted(groups[k], key=lambda m: m["name"])]


def view_of(url: str) -> CatalogQuery:
    pairs = parse_qsl(urlsplit(url).query)
    return CatalogQuery.from_params(dict(pairs), pairs)


def walk_pages(client: httpx.Client, url: str) -> tuple[list[str], list[str]]:
    """Follow "Next" to the end; returns every name and every page's URL."""
    seen: list[str] = []
    urls = [url]
    while True:
        resp = client.get(urls[-1])
        assert resp.status_code == 200, resp.text
        seen += names(resp.text)
        nxt = link(resp.text, "next")
        if nxt is None:
            return seen, urls
        urls.append(nxt)


def test_anonymous_visitors_see_public_models_and_a_key_adds_private_ones(
    server: Server, shelf: Account
) -> None:
    anonymous = server.anonymous()
    page = anonymous.get("/catalog", params={"account": shelf.id, "sort": "id"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    public = [f"accounts/{shelf.id}/models/m-{i:03d}" for i in range(N_MODELS) if i % 9 != 0]
    assert names(page.text) == public[:30]
    assert f"1–30 of {len(public)} models" in page.text
    keyed = shelf.client.get("/catalog", params={"account": shelf.id, "sort": "id"})
    assert keyed.status_code == 200
    assert names(keyed.text)[0] == f"accounts/{shelf.id}/models/m-000"  # private, the key's own
    assert f"of {N_MODELS} models" in keyed.text and "Signed in as <strong>" + shelf.id in keyed.text
    assert keyed.headers["cache-control"] == "no-store" and "Authorization" in keyed.headers["vary"]
    # X-Api-Key works too; another account's key sees only the public ones
    other = server.new_account("other")
    by_header = anonymous.get("/catalog", params={"account": shelf.id}, headers={"X-Api-Key": shelf.key})
    assert f"of {N_MODELS} models" in by_header.text
    assert f"of {len(public)} models" in other.client.get("/catalog", params={"account": shelf.id}).text


def test_a_key_that_is_not_valid_is_told_so(server: Server) -> None:
    resp = server.anonymous().get("/catalog", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and "The API key is not valid" in resp.text


@pytest.mark.parametrize(
    "query",
    [
        "sort=id",
        "q=llama",
        "q=70b+sibling",
        "q=%22test+model+number+1%22",
        "kind=HF_BASE_MODEL&sort=largest",
        "kind=EMBEDDING_MODEL&kind=FLUMINA_BASE_MODEL&sort=name-desc",
        "cap=tools&cap=serverless&sort=updated",
        "ctx=128k-256k&ctx=256k&params=100b-300b&params=300b&sort=context",
        "params=lt10b&sort=smallest",
        "filter=supports_image_input+OR+tunable&cap=tools&sort=newest",
        "q=qwen&cap=tunable&sort=oldest",
    ],
)
def test_each_view_lists_what_list_models_returns(server: Server, shelf: Account, query: str) -> None:
    """Walk every page of the view; the names, in order, are List's for the same filter and orderBy, and
    each facet count is List's totalSize for what that option would leave."""
    url = f"/catalog?account={shelf.id}&{query}"
    view = view_of(url)
    expected, total = api_names(shelf.client, shelf.id, view)
    seen, _ = walk_pages(shelf.client, url)
    assert seen == expected
    first = shelf.client.get(url).text
    if total:
        assert f"of {total} model" in first
    else:
        assert "No models match" in first
    shown = counts(first)
    for param, value, text in view.option_texts():
        facet = next(f for f in FACETS if f.param == param)
        if (param, value) not in shown:
            assert facet.hide_empty, (param, value)
            continue
        params = {"filter": " AND ".join(t for t in (view.base_text, text) if t), "pageSize": 1}
        body = shelf.client.get(f"/v1/accounts/{shelf.id}/models", params=params).json()
        assert shown[(param, value)] == body["totalSize"], (param, value)


def test_paging_forward_and_back_with_positions(server: Server, shelf: Account) -> None:
    url = f"/catalog?account={shelf.id}&sort=updated"
    seen, urls = walk_pages(shelf.client, url)
    assert len(seen) == N_MODELS == len(set(seen)) and len(urls) == 3
    last = shelf.client.get(urls[-1]).text
    assert f"61–{N_MODELS} of {N_MODELS} models" in last and link(last, "next") is None
    # Previous from the last page gives the middle page again, then the first, which has no Previous
    middle = shelf.client.get(link(last, "prev") or "").text
    assert names(middle) == seen[30:60] and f"31–60 of {N_MODELS}" in middle
    first = shelf.client.get(link(middle, "prev") or "").text
    assert names(first) == seen[:30] and link(first, "prev") is None and link(first, "next")
    # a cursor is bound to its view: with another sort or filter it shows that view's first page
    cursor = dict(parse_qsl(urlsplit(urls[1]).query))["page"]
    other = shelf.client.get("/catalog", params={"account": shelf.id, "sort": "id", "page": cursor})
    assert other.status_code == 200 and "no longer fits this view" in other.text
    assert names(other.text)[0].endswith("/m-000")
    garbage = shelf.client.get("/catalog", params={"account": shelf.id, "page": "garbage"})
    assert garbage.status_code == 200 and "no longer fits this view" in garbage.text


def test_every_sort_pages_through_every_model_once(server: Server, shelf: Account) -> None:
    for sort in SORTS:
        seen, _ = walk_pages(shelf.client, f"/catalog?account={shelf.id}&sort={sort.value}")
        expected, _ = api_names(shelf.client, shelf.id, view_of(f"/catalog?sort={sort.value}"))
        assert seen == expected and len(seen) == N_MODELS, sort.value


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("kind=NOPE", "kind: unknown value &#39;NOPE&#39;"),
        ("sort=random", "sort: unknown order &#39;random&#39;"),
        ("filter=contex_length+%3E+1", "did you mean &#34;context_length&#34;"),
        ("filter=(supports_tools", "column"),
        ("account=Not_An_Id", "account:"),
        ("q=" + "x" * 5000, "longer than 4096 characters"),
    ],
)
def test_bad_input_is_a_400_page_naming_the_problem(server: Server, query: str, needle: str) -> None:
    resp = server.anonymous().get(f"/catalog?{query}")
    assert resp.status_code == 400 and needle in resp.text, resp.text[-2000:]
    assert "No results: the view is not valid" in resp.text


def test_markup_in_model_fields_is_text(server: Server) -> None:
    account = server.new_account("xss")
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    server.store.import_batch(
        account.id,
        [
            (
                "evil",
                stored(
                    public=True,
                    displayName="<b>bold</b>" + evil[:20],
                    description=evil + ' " onmouseover="alert(3)',
                    huggingFaceUrl="javascript:alert(4)",
                    githubUrl='https://github.com/a/b?x=<i>&y="',
                ),
            )
        ],
        upsert=False,
    )
    client = server.anonymous()
    for url in (f"/catalog?account={account.id}", f"/catalog/accounts/{account.id}/models/evil"):
        text = client.get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>bold" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert 'onmouseover="alert' not in text
    page = client.get(f"/catalog/accounts/{account.id}/models/evil")
    assert 'href="javascript:' not in page.text and "javascript:alert(4)" in page.text
    assert 'href="https://github.com/a/b?x=&lt;i&gt;&amp;y=&#34;"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_model_page(server: Server, shelf: Account) -> None:
    client = server.anonymous()
    page = client.get(f"/catalog/accounts/{shelf.id}/models/m-004")
    assert page.status_code == 200
    assert re.search(r"<h1>DeepSeek 5B v4</h1>", page.text)
    for text in (
        "Parameters",
        "70B (70,000,000,000)",
        "Context length",
        "160K (163,840 tokens)",
        "Tool calling",
    ):
        assert text in page.text, text
    assert "Mixture of experts</dt><dd>No" in page.text
    assert "client.models.get(&#39;m-004&#39;)" in page.text
    assert f"/v1/accounts/{shelf.id}/models/m-004" in page.text
    assert f"modelyard models get accounts/{shelf.id}/models/m-004" in page.text
    # a private model: 404 without a key, the page with the owner's key
    assert client.get(f"/catalog/accounts/{shelf.id}/models/m-009").status_code == 404
    assert shelf.client.get(f"/catalog/accounts/{shelf.id}/models/m-009").status_code == 200
    assert client.get(f"/catalog/accounts/{shelf.id}/models/nope").status_code == 404
    bad = client.get("/catalog/accounts/BAD/models/x")
    assert bad.status_code == 404 and "account id" in bad.text


def test_model_page_lists_recorded_files(server: Server) -> None:
    account = server.new_account("files")
    files = ["config.json", "model-00001-of-00002.safetensors", "tokenizer.json"]
    server.store.import_batch(
        account.id,
        [("ckpt", stored(public=True, baseModelDetails={"parameterCount": "7", "huggingfaceFiles": files}))],
        upsert=False,
    )
    page = server.anonymous().get(f"/catalog/accounts/{account.id}/models/ckpt").text
    assert all(f'<td class="mono">{f}</td>' in page for f in files)
    assert '<th scope="col" class="num">Size</th>' in page  # aligned with its column (issue 25 item 9)


def test_pages_are_self_contained(server: Server) -> None:
    """Every script, style and icon comes from modelyard (works offline, no CDN)."""
    client = server.anonymous()
    page = client.get("/catalog").text
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/catalog/static/") for a in assets), assets
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200 and resp.content, asset
    assert "prefers-color-scheme: dark" in client.get("/catalog/static/catalog.css").text
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/catalog"


@pytest.fixture(scope="module")
def closed(tmp_root: Path) -> Iterator[tuple[str, str, Store]]:
    """A server with anonymous browsing turned off by the flag (base URL, a key of account "closed")."""
    db = f"sqlite:///{tmp_root / 'closed-catalog.db'}"
    store = Store(make_engine(db))
    upgrade(store.engine)
    key = store.create_api_key("closed", "test")
    store.import_batch("closed", [("m", stored(public=True))], upsert=False)
    proc, base = start_server(db, "--no-catalog-anonymous")
    try:
        yield base, key, store
    finally:
        stop_server(proc)
        store.engine.dispose()


def test_anonymous_browsing_can_be_turned_off(closed: tuple[str, str, Store]) -> None:
    base, key, store = closed
    with httpx.Client(base_url=base, timeout=30) as client:
        for url in ("/catalog", "/catalog/accounts/closed/models/m"):
            resp = client.get(url)
            assert resp.status_code == 401 and "only open to API key holders" in resp.text
            keyed = client.get(url, headers={"Authorization": f"Bearer {key}"})
            assert keyed.status_code == 200 and "accounts/closed/models/m" in keyed.text
        assert client.get("/catalog/static/catalog.js").status_code == 200
    # the environment variable does the same
    proc, other = start_server(str(store.engine.url), env={"MODELYARD_CATALOG_ANONYMOUS": "false"})
    try:
        assert httpx.get(other + "/catalog", timeout=30).status_code == 401
    finally:
        stop_server(proc)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_catalog_authenticates_as_the_api_does(kind: str, tmp_root: Path) -> None:
    """The catalog and the API take a key through one function: with ``--rate-limit`` the catalog answers
    429 (with Retry-After) past the burst, and the key's bucket is the one the API draws from; another
    account's private model is not found, whoever asks."""
    with fresh_database(kind, tmp_root, "modelyard_test_catalog_limits") as db, migrated_store(db) as store:
        key = store.create_api_key("limited", "test")
        store.import_batch("other", [("secret", stored(public=False))], upsert=False)
        proc, base = start_server(db, "--rate-limit", "0.01/3")
        try:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                pages = [client.get("/catalog") for _ in range(4)]
                assert [p.status_code for p in pages] == [200, 200, 200, 429], [p.text[:200] for p in pages]
                assert int(pages[-1].headers["Retry-After"]) >= 1
                assert "Too many requests" in pages[-1].text
                api = client.get("/v1/accounts/limited/models")
                assert api.status_code == 429 and api.json()["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
            other = store.create_api_key("limited", "second key")
            headers = {"Authorization": f"Bearer {other}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                assert client.get("/catalog/accounts/other/models/secret").status_code == 404
        finally:
            stop_server(proc)


@pytest.mark.parametrize(
    "query",
    [
        "q=catalog+test+model&sort=id",
        "q=catalog+test+model&sort=name",
        "q=catalog+test+model&sort=updated&cap=tools",
        "q=catalog+test+model&kind=HF_BASE_MODEL&params=300b&sort=largest",
    ],
)
def test_anonymous_views_across_accounts_match_list(server: Server, shelf: Account, query: str) -> None:
    """Without a key and without ``account``, the catalog lists every account's public models (the store's
    "anyone" scope): what List over ``accounts/-`` returns to a key whose account has no models."""
    stranger = server.new_account("stranger")
    url = f"/catalog?{query}"
    view = view_of(url)
    expected, total = api_names(stranger.client, "-", view)
    assert expected and all(n.startswith(f"accounts/{shelf.id}/") for n in expected)
    seen, _ = walk_pages(server.anonymous(), url)
    assert seen == expected
    first = server.anonymous().get(url).text
    assert f"of {total} model" in first
    shown = counts(first)
    for param, value, text in view.option_texts():
        if (param, value) in shown:
            params = {"filter": " AND ".join(t for t in (view.base_text, text) if t), "pageSize": 1}
            body = stranger.client.get("/v1/accounts/-/models", params=params).json()
            assert shown[(param, value)] == body["totalSize"], (param, value)
    # with the key of the account holding them: its private models too (public ones and its own private
    # ones are counted apart and added up)
    mine, total = api_names(shelf.client, "-", view)
    assert set(expected) <= set(mine)
    assert walk_pages(shelf.client, url)[0] == mine
    keyed = shelf.client.get(url).text
    assert f"of {total} model" in keyed
    for (param, value), count in counts(keyed).items():
        text = next(t for p, v, t in view.option_texts() if (p, v) == (param, value))
        params = {"filter": " AND ".join(t for t in (view.base_text, text) if t), "pageSize": 1}
        assert count == shelf.client.get("/v1/accounts/-/models", params=params).json()["totalSize"]


def test_name_sort_ignores_case_and_puts_unnamed_models_among_the_others(server: Server) -> None:
    """Issue 25 item 9: "Name (A to Z)" as a reader expects it; List's orderBy keeps code point order."""
    account = server.new_account("names")
    shown = {"m-beta": "beta", "m-alpha": "Alpha", "zed": "Zed", "carrot": "", "m-delta": "DELTA"}
    items = [(i, {"kind": "EMBEDDING_MODEL", "displayName": n} if n else {"kind": "EMBEDDING_MODEL"})
             for i, n in shown.items()]  # fmt: skip
    server.store.import_batch(account.id, items, upsert=False)
    order = ["m-alpha", "m-beta", "carrot", "m-delta", "zed"]
    full = [f"accounts/{account.id}/models/{i}" for i in order]
    assert names(account.client.get(f"/catalog?account={account.id}").text) == full
    assert names(account.client.get(f"/catalog?account={account.id}&sort=name-desc").text) == full[::-1]
    listed = account.client.get(f"/v1/accounts/{account.id}/models", params={"orderBy": "display_name"})
    assert [m["name"].rsplit("/", 1)[1] for m in listed.json()["models"]] == [
        "carrot", "m-alpha", "m-delta", "zed", "m-beta",
    ]  # fmt: skip
