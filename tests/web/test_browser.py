"""The catalog in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``) against a
real ``modelyard serve`` holding the demo catalog. Search, facets, sort, paging, the URL round trip and
the back button, the model page, markup from models shown as text, the key kept in session storage and
never in a URL, both colour schemes, a phone viewport, keyboard use, pages without JavaScript, and an
axe-core accessibility scan (axe-core bundled by the axe-playwright-python package: works offline).

Without Chromium the module is skipped locally; in CI (``CI=true``) it fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelyard.importers.demo import load_demo
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.files import qwen2_files, upload
from tests.support.server import start_server, stop_server
from tests.web.test_model_card import README

CHROMIUM = os.environ.get("MODELYARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        pytest.fail(
            f"Chromium is required in CI but {CHROMIUM} is missing (.ci/run installs it)", pytrace=False
        )
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from fireworks import Fireworks  # noqa: E402
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402

PRIVATE_ID = "secret-llama"
EVIL_ID = "markup"
EVIL_NAME = '<img src=x onerror="window.__pwned=1">Evil'


@pytest.fixture(scope="module")
def site(tmp_root: Path) -> Iterator[dict[str, str]]:
    """A server on its own SQLite file: the demo catalog, plus a private model and a model whose fields
    hold markup, in account ``owner`` (whose key is returned)."""
    db = f"sqlite:///{tmp_root / 'browser-catalog.db'}"
    store = Store(make_engine(db))
    upgrade(store.engine)
    load_demo(store)
    key = store.create_api_key("owner", "browser test")
    store.import_batch(
        "owner",
        [
            (PRIVATE_ID, {"kind": "HF_BASE_MODEL", "displayName": "Secret Llama", "state": "READY"}),
            (
                EVIL_ID,
                {
                    "kind": "HF_BASE_MODEL",
                    "public": True,
                    "state": "READY",
                    "displayName": EVIL_NAME,
                    "description": "<script>window.__pwned=2</script>"
                    '<a href="javascript:window.__pwned=3">x</a>',
                    "huggingFaceUrl": "javascript:window.__pwned=4",
                    "baseModelDetails": {"huggingfaceFiles": ["config.json", "model.safetensors"]},
                },
            ),
        ],
        upsert=False,
    )
    store.engine.dispose()
    proc, base = start_server(db)
    try:
        yield {"base": base, "key": key}
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, site: dict[str, str]) -> Iterator[Page]:
    context = browser.new_context(base_url=site["base"], viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    yield p
    context.close()
    assert errors == []


def count_text(page: Page) -> str:
    return page.locator("#result-count").inner_text().strip()


def checkbox(page: Page, label: str) -> Locator:
    return page.get_by_role("checkbox", name=re.compile(f"^{re.escape(label)}"))


def card_names(page: Page) -> list[str]:
    return [n or "" for n in page.locator("li.card").evaluate_all("els => els.map(e => e.dataset.name)")]


def test_search_facets_sort_url_round_trip_and_back(page: Page) -> None:
    page.goto("/catalog")
    expect(page.locator("#result-count")).to_contain_text("of 44 models")  # 43 demo + the public markup one
    page.get_by_role("searchbox", name="Search models").fill("llama 70b")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=llama\+70b"))
    expect(page.locator("#result-count")).to_have_text("1–5 of 5 models")
    assert page.locator("#result-count").get_attribute("aria-live") == "polite"
    page.evaluate("document.getElementById('result-count').dataset.marker = 'kept'")
    checkbox(page, "Serverless").check()
    page.wait_for_url(re.compile(r"cap=serverless"))
    expect(page.locator("#result-count")).to_have_text("1–2 of 2 models")
    # the live region's node was kept and its text changed, so screen readers announce the new count
    assert page.evaluate("document.getElementById('result-count').dataset.marker") == "kept"
    page.get_by_label("Sort by").select_option("name-desc")
    page.wait_for_url(re.compile(r"sort=name-desc"))
    sorted_names = card_names(page)
    assert sorted_names == [
        "accounts/fireworks/models/llama-v3p3-70b-instruct",
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
    ]
    url = page.url
    page.reload()
    assert page.url == url and card_names(page) == sorted_names
    expect(checkbox(page, "Serverless")).to_be_checked()
    expect(page.get_by_role("searchbox", name="Search models")).to_have_value("llama 70b")
    expect(page.get_by_label("Sort by")).to_have_value("name-desc")
    page.go_back()
    page.wait_for_url(re.compile(r"cap=serverless$"))
    expect(page.get_by_label("Sort by")).to_have_value("name")
    page.go_back()
    expect(page.locator("#result-count")).to_have_text("1–5 of 5 models")
    expect(checkbox(page, "Serverless")).not_to_be_checked()


def test_facet_counts_say_what_an_option_would_leave(page: Page) -> None:
    page.goto("/catalog?kind=EMBEDDING_MODEL")
    option = page.locator('[data-option="kind:EMBEDDING_MODEL"]')
    assert option.get_attribute("data-count") == "3"
    expect(page.locator("#result-count")).to_have_text("1–3 of 3 models")
    flumina = page.locator('[data-option="kind:FLUMINA_BASE_MODEL"]').get_attribute("data-count")
    checkbox(page, "Flumina base model").check()
    expect(page.locator("#result-count")).to_have_text(
        f"1–{3 + int(flumina or 0)} of {3 + int(flumina or 0)} models"
    )


def test_paging_next_and_previous(page: Page) -> None:
    page.goto("/catalog?sort=id")
    first = card_names(page)
    assert len(first) == 30
    page.get_by_role("link", name="Next →").click()
    expect(page.locator("#result-count")).to_have_text("31–44 of 44 models")
    second = card_names(page)
    assert not set(first) & set(second) and len(second) == 14
    assert "page=" in page.url
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator("#result-count")).to_have_text("1–30 of 44 models")
    assert card_names(page) == first


def test_advanced_filter_error_is_shown_next_to_it(page: Page) -> None:
    page.goto("/catalog")
    page.get_by_text("Advanced filter").click()
    page.get_by_label("Filter expression").fill("contex_length > 100000")
    page.get_by_role("button", name="Apply filters").click()
    error = page.locator("#filter-error")
    expect(error).to_contain_text('did you mean "context_length"')
    # and beside the results, where the eye is (the sidebar field may be below the fold)
    expect(page.locator("#results-error")).to_contain_text("Advanced filter: filter: unknown field")
    assert page.get_by_label("Filter expression").get_attribute("aria-describedby") == "filter-error"
    page.get_by_label("Filter expression").fill("context_length > 1000000")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#result-count")).to_have_text("1–2 of 2 models")


def test_model_page(page: Page, site: dict[str, str]) -> None:
    page.goto("/catalog?q=deepseek+v3&sort=id")
    page.get_by_role("link", name="DeepSeek V3", exact=True).click()
    page.wait_for_url("**/catalog/accounts/fireworks/models/deepseek-v3")
    expect(page.locator("h1")).to_have_text("DeepSeek V3")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("671B (671,026,419,200)")
    expect(facts).to_contain_text("Mixture of experts")
    expect(facts.get_by_role("link", name=re.compile("huggingface.co"))).to_have_attribute(
        "href", re.compile(r"^https://huggingface\.co/")
    )
    expect(page.locator("#snippet-curl")).to_contain_text(
        f"{site['base']}/v1/accounts/fireworks/models/deepseek-v3"
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy curl snippet").click()
    expect(page.locator("#live")).to_have_text("Copied to the clipboard")
    assert "deepseek-v3" in page.evaluate("navigator.clipboard.readText()")
    page.go_back()
    expect(page.locator("#result-count")).to_contain_text("of")
    assert "q=deepseek+v3" in page.url


def test_markup_from_models_is_text_and_never_runs(page: Page) -> None:
    page.goto(f"/catalog?account=owner&q={EVIL_ID}")
    expect(page.locator("li.card h2")).to_have_text(EVIL_NAME)
    page.goto(f"/catalog/accounts/owner/models/{EVIL_ID}")
    expect(page.locator("h1")).to_have_text(EVIL_NAME)
    expect(page.locator(".model-desc")).to_contain_text("<script>window.__pwned=2</script>")
    assert page.locator("main img, main script").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.evaluate("window.__pwned") is None


def test_the_key_stays_in_session_storage_and_out_of_urls(page: Page, site: dict[str, str]) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/catalog?account=owner&sort=id")
    expect(page.locator("#result-count")).to_have_text("1–1 of 1 model")
    page.get_by_label("API key").fill(site["key"])
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-status")).to_contain_text("Signed in as owner")
    expect(page.locator("#result-count")).to_have_text("1–2 of 2 models")
    assert card_names(page)[1] == f"accounts/owner/models/{PRIVATE_ID}"
    page.get_by_role("link", name="Secret Llama").click()
    expect(page.locator("h1")).to_have_text("Secret Llama")
    page.reload()  # the key survives a reload of the tab
    expect(page.locator("h1")).to_have_text("Secret Llama")
    assert page.evaluate("sessionStorage.getItem('modelyard.catalog.key')") == site["key"]
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    assert all(site["key"] not in url for url in requests) and len(requests) > 3
    # another tab's session has no key: the private model is not found there
    other = page.context.browser.new_context(base_url=site["base"]).new_page()  # type: ignore[union-attr]
    other.goto(f"/catalog/accounts/owner/models/{PRIVATE_ID}")
    expect(other.locator("h1")).to_have_text("Model not found")
    other.context.close()
    page.get_by_role("button", name="Forget key").click()
    expect(page.locator("h1")).to_have_text("Model not found")


def test_pages_work_without_javascript(browser: Browser, site: dict[str, str]) -> None:
    context = browser.new_context(base_url=site["base"], java_script_enabled=False)
    p = context.new_page()
    p.goto("/catalog")
    p.get_by_role("searchbox", name="Search models").fill("mixtral")
    p.get_by_role("button", name="Search", exact=True).click()
    expect(p.locator("#result-count")).to_have_text("1–2 of 2 models")
    checkbox(p, "Base model").check()
    p.get_by_label("Sort by").select_option("largest")
    p.get_by_role("button", name="Apply filters").click()
    assert "kind=HF_BASE_MODEL" in p.url and "sort=largest" in p.url and "q=mixtral" in p.url
    assert card_names(p)[0].endswith("mixtral-8x22b-instruct")
    p.get_by_role("link", name=re.compile("Mixtral 8x22B")).click()
    expect(p.locator("h1")).to_contain_text("Mixtral 8x22B")
    assert p.locator("#key-form").is_hidden()  # a key form without JavaScript would put the key in a URL
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_colour_schemes_follow_the_system(browser: Browser, site: dict[str, str], scheme: Any) -> None:
    context = browser.new_context(base_url=site["base"], color_scheme=scheme)
    p = context.new_page()
    p.goto("/catalog")
    background = p.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(247, 248, 250)" if scheme == "light" else "rgb(15, 18, 22)")
    context.close()


@pytest.mark.parametrize(
    "path", ["/catalog?cap=tools&kind=HF_BASE_MODEL", "/catalog/accounts/fireworks/models/deepseek-v3"]
)
def test_phone_viewport_never_scrolls_sideways(browser: Browser, site: dict[str, str], path: str) -> None:
    context = browser.new_context(base_url=site["base"], viewport=PHONE, is_mobile=True, has_touch=True)
    p = context.new_page()
    p.goto(path)
    p.wait_for_load_state("networkidle")
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    if path.startswith("/catalog?"):
        filters = p.locator("#filters")
        assert filters.evaluate("e => e.open") is False  # folded away on a phone, one tap to open
        p.get_by_text("Filters").first.click()
        expect(checkbox(p, "Tool calling")).to_be_checked()
        assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_keyboard_navigation_and_visible_focus(page: Page) -> None:
    page.goto("/catalog")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    expect(page.locator("#content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("gemma")
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_have_text("1–2 of 2 models")
    page.keyboard.press("Tab")  # the Search button: the focus ring is drawn
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "path",
    [
        "/catalog",
        "/catalog?q=llama&cap=tools&filter=contex_length",
        "/catalog/accounts/fireworks/models/deepseek-v3",
        "/catalog/accounts/owner/models/nope",
    ],
)
def test_accessibility_scan(browser: Browser, site: dict[str, str], path: str, scheme: Any) -> None:
    """axe-core finds no violation (labels, roles, contrast, landmarks, ...) in either colour scheme."""
    context = browser.new_context(base_url=site["base"], color_scheme=scheme)
    p = context.new_page()
    p.goto(path)
    p.wait_for_load_state("networkidle")
    results = Axe().run(p)
    assert results.violations_count == 0, results.generate_report()
    context.close()


def test_the_scan_catches_what_it_should(page: Page) -> None:
    """The scan is not vacuous: an unlabelled field and low-contrast text added to the page are found."""
    page.goto("/catalog")
    page.evaluate(
        """() => {
            const input = document.createElement("input");
            document.querySelector("main").append(input);
            const p = document.createElement("p");
            p.textContent = "faint";
            p.style.color = "#eeeeee";
            document.querySelector("main").append(p);
        }"""
    )
    found = {v["id"] for v in Axe().run(page).response["violations"]}
    assert {"label", "color-contrast"} <= found, found


def test_a_refused_key_shows_the_key_box_again_with_the_reason(page: Page) -> None:
    page.goto("/catalog?account=owner&sort=id")
    page.get_by_label("API key").fill("not-a-key-of-anyone")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-error")).to_contain_text("not accepted")
    expect(page.locator("#key-form")).to_be_visible()
    expect(page.get_by_role("button", name="Forget key")).to_be_hidden()
    expect(page.locator("#result-count")).to_have_text("1–1 of 1 model")  # the public view
    assert page.evaluate("sessionStorage.getItem('modelyard.catalog.key')") is None


def test_phone_folds_the_key_form_and_snippets_wrap_between_words(
    browser: Browser, site: dict[str, str]
) -> None:
    context = browser.new_context(base_url=site["base"], viewport=PHONE, is_mobile=True, has_touch=True)
    p = context.new_page()
    p.goto("/catalog/accounts/fireworks/models/deepseek-v3")
    expect(p.locator("h1")).to_have_text("DeepSeek V3")
    expect(p.locator("#key-form")).to_be_hidden()
    toggle = p.get_by_role("button", name="Use an API key")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    expect(p.get_by_label("API key")).to_be_visible()
    expect(p.get_by_label("API key")).to_be_focused()
    assert toggle.get_attribute("aria-expanded") == "true"
    wraps = p.locator("pre").first.evaluate(
        "e => ['overflowWrap', 'wordBreak', 'whiteSpace'].map(k => getComputedStyle(e)[k])"
    )
    assert wraps == ["normal", "normal", "pre-wrap"]
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_the_file_lists_size_header_aligns_with_its_column(page: Page) -> None:
    page.goto(f"/catalog/accounts/owner/models/{EVIL_ID}")
    header = page.get_by_role("columnheader", name="Size")
    cell = page.locator(".file-table td.num").first
    align = "e => getComputedStyle(e).textAlign"
    assert header.evaluate(align) == cell.evaluate(align) == "right"


@pytest.fixture(scope="module")
def card_site(tmp_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A server with file storage holding a public model uploaded through the Fireworks flow, whose
    README.md has front matter, Markdown and hostile HTML (tests/web/test_model_card.py's README)."""
    db = f"sqlite:///{tmp_root / 'browser-card.db'}"
    store = Store(make_engine(db))
    upgrade(store.engine)
    key = store.create_api_key("carder", "browser card test")
    store.engine.dispose()
    proc, base = start_server(db, "--storage", f"file://{tmp_root / 'browser-card-blobs'}")
    try:
        files, _ = qwen2_files(tmp_path_factory.mktemp("card"))
        files["README.md"] = README
        with Fireworks(api_key=key, base_url=base, account_id="carder", max_retries=0) as client:
            model = {"kind": "HF_BASE_MODEL", "public": True, "base_model_details": {}}
            client.models.create(model_id="tiny-card", model=model)
            upload(client, "tiny-card", files)
            client.models.validate_upload("tiny-card")
        yield {"base": base, "path": "/catalog/accounts/carder/models/tiny-card"}
    finally:
        stop_server(proc)


def test_the_model_card_renders_and_no_script_in_it_runs(browser: Browser, card_site: dict[str, str]) -> None:
    context = browser.new_context(base_url=card_site["base"], viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    p.goto(card_site["path"])
    card = p.locator(".model-card .markdown")
    expect(card.locator("h3")).to_have_text("Tiny Qwen")
    expect(card.locator("strong")).to_have_text("bold words")
    expect(card.get_by_role("cell", name="cell 2")).to_be_visible()
    expect(p.locator("dl.card-facts")).to_contain_text("apache-2.0")
    expect(p.locator("#snippet-hf-vllm")).to_contain_text("vllm serve carder/tiny-card")
    p.wait_for_load_state("networkidle")  # the image without its onerror has failed to load by now
    card.get_by_text("raw div").click()  # its onclick is gone
    card.get_by_text("raw link").click()  # its javascript: href is gone
    assert p.evaluate("window.pwned") is None
    assert card.locator("script, iframe, style, [onerror], [onclick]").count() == 0
    assert p.locator('a[href^="javascript:"]').count() == 0
    for scheme in ("light", "dark"):
        p.emulate_media(color_scheme=scheme)
        results = Axe().run(p)
        assert results.violations_count == 0, results.generate_report()
    p.set_viewport_size(PHONE)  # the SHA-256 column and the snippets wrap: no sideways scrolling
    assert p.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
    assert errors == []
