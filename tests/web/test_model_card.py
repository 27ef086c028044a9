"""The model page's card, revisions, refs and precisions (issue 21 item 6, issue 22 item 4) over HTTP
against a real ``modelyard serve`` with file storage, on SQLite and PostgreSQL: a model uploaded through
the Fireworks flow with a ``README.md`` holding front matter, Markdown and hostile HTML; the page shows
the rendered Markdown and the front matter as facts, and none of the hostile parts; the files with their
SHA-256; the revisions of ``main`` (paged) and the refs; a precision branch with its size and snippets.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.resources.revision import MAIN
from modelyard.storage.local import LocalStorage
from modelyard.web.modelcard import LOG_PAGE
from modelyard.web.present import human_bytes
from tests.support.api import uid
from tests.support.databases import migrated_store
from tests.support.files import FilesServer, qwen2_files, upload
from tests.support.server import start_server, stop_server

README = b"""---
license: apache-2.0
tags:
- chat
- tiny
base_model: Qwen/Qwen2.5-0.5B
pipeline_tag: text-generation
---
# Tiny Qwen

Some **bold words** and a [documentation link](https://example.com/docs).

| column a | column b |
|----------|----------|
| cell 1   | cell 2   |

<script>window.pwned=1</script>
<img src="x" onerror="window.pwned=2">

[markdown link](javascript:window.pwned=3)

<a href="javascript:window.pwned=4">raw link</a>
<div onclick="window.pwned=5" style="position:fixed">raw div</div>
<iframe src="https://evil.example/"></iframe>
<style>body { display: none }</style>
"""


@pytest.fixture(scope="module")
def card_server(backend: str, tmp_root: Path) -> Iterator[FilesServer]:
    storage = f"file://{tmp_root / ('card-blobs-' + secrets.token_hex(4))}"
    with migrated_store(backend) as store:
        proc, base = start_server(backend, "--storage", storage, env={"MODELYARD_GC_INTERVAL": "0"})
        srv = FilesServer(base, backend, storage, "file", store, proc, {})
        try:
            yield srv
        finally:
            for c in srv.clients:
                c.close()
            stop_server(proc)


def _section(page: str, cls: str) -> str:
    match = re.search(rf'<div class="{cls}">(.*?)</div>\s*(?:<p class="muted">|</section>)', page, re.S)
    assert match is not None, f"no {cls} section"
    return match.group(1)


def _tables(page: str, title: str) -> list[list[str]]:
    """The body rows (cells as text) of the table in the section headed ``title``."""
    match = re.search(rf">{re.escape(title)}</h2>(.*?)</table>", page, re.S)
    assert match is not None, f"no section {title!r}"
    body = match.group(1).split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


def test_the_card_renders_as_sanitised_markdown_with_revisions_refs_and_precisions(
    card_server: FilesServer, tmp_path: Path
) -> None:
    account = card_server.new_account("card")
    client = card_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    files["README.md"] = README
    model_id = uid("card")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    url = f"/catalog/accounts/{account.id}/models/{model_id}"

    # The caller is the reader: the model is private, so a visitor without a key does not see it.
    with httpx.Client(base_url=card_server.base_url, timeout=30) as visitor:
        assert visitor.get(url).status_code == 404

    response = account.client.get(url)
    assert response.status_code == 200, response.text
    page = response.text

    # The Markdown rendered, headings under the page's "Model card" heading, front matter stripped.
    card = _section(page, "markdown")
    assert "<h3>Tiny Qwen</h3>" in card
    assert "<strong>bold words</strong>" in card
    assert re.search(
        r'<a href="https://example\.com/docs" rel="noopener noreferrer nofollow">documentation link</a>', card
    )
    assert "<table>" in card and "<td>cell 2</td>" in card
    assert "pipeline_tag" not in card and "---" not in card
    assert "raw div" in card and "raw link" in card  # the text stays, the dangerous parts go

    # None of the hostile parts: no script but the page's own, no handler, no javascript: URL, no frame.
    scripts = re.findall(r"<script\b[^>]*>", page, re.I)
    assert scripts and all('src="/catalog/static/' in s for s in scripts)
    assert "window.pwned=1" not in page
    assert re.search(r"<[a-z][^>]*\son[a-z]+\s*=", page, re.I) is None
    assert re.search(r"""href\s*=\s*["']?\s*javascript:""", page, re.I) is None
    for tag in ("<iframe", "<style", "style="):
        assert tag not in page.lower(), tag
    assert '<img src="x" alt="">' in card  # the image stays, without its handler, marked decorative

    # The front matter as facts.
    facts = re.search(r'<dl class="facts card-facts">(.*?)</dl>', page, re.S)
    assert facts is not None
    text = html.unescape(re.sub(r"<[^>]+>", " ", facts.group(1)))
    for value in ("apache-2.0", "chat, tiny", "Qwen/Qwen2.5-0.5B", "text-generation"):
        assert value in text, value
    assert 'href="https://huggingface.co/Qwen/Qwen2.5-0.5B"' in facts.group(1)

    # The files with their SHA-256.
    rows = {row[0]: row for row in _tables(page, "Files")}
    assert set(rows) == set(files)
    for name, data in files.items():
        assert rows[name][1] == human_bytes(len(data)) and rows[name][2] == hashlib.sha256(data).hexdigest()

    # The revision of main and the refs.
    revisions = card_server.store.revisions
    head = revisions.resolve(account.id, model_id, MAIN)
    log = _tables(page, "Revisions of main")
    assert [row[0] for row in log] == [head.commit_id[:7]]
    assert log[0][1] == head.message.strip().splitlines()[0]

    # The Hub snippets for main.
    text = html.unescape(page)
    endpoint = f"{card_server.base_url}/hf"
    repo = f"{account.id}/{model_id}"
    assert f"HF_ENDPOINT={endpoint} HF_TOKEN=$MODELYARD_API_KEY vllm serve {repo}</code>" in text
    assert f"snapshot_download({repo!r}, token=" in text
    assert f"AutoModelForCausalLM.from_pretrained({repo!r}, token=token)" in text

    # A prepared branch (made here without a conversion) and a tag show up.
    revisions.create_branch(account.id, model_id, "fp8")
    revisions.create_tag(account.id, model_id, "v1")
    page = account.client.get(url).text
    precisions = {row[0]: row for row in _tables(page, "Precisions")}
    total = human_bytes(sum(len(d) for d in files.values()))
    assert precisions["main"][3] == total and precisions["fp8"][1] == "FP8" and precisions["fp8"][3] == total
    assert precisions["fp8"][2] == str(len(files))
    text = html.unescape(page)
    assert f"HF_ENDPOINT={endpoint} HF_TOKEN=$MODELYARD_API_KEY vllm serve {repo} --revision fp8" in text
    assert f"snapshot_download({repo!r}, revision='fp8', token=" in text
    assert f"from_pretrained({repo!r}, revision='fp8', token=token)" in text
    refs = re.search(r'<ul class="refs"[^>]*>(.*?)</ul>', page, re.S)
    assert refs is not None
    listed = re.findall(r'<span class="chip">(\w+)</span> <code>([^<]+)</code>', refs.group(1))
    assert listed == [("branch", "fp8"), ("branch", "main"), ("tag", "v1")]


def test_the_log_of_main_is_paged_newest_first(card_server: FilesServer, tmp_path: Path) -> None:
    account = card_server.new_account("log")
    client = card_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("log")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    revisions = card_server.store.revisions
    config = revisions.entry(revisions.resolve(account.id, model_id, MAIN).commit_id, "config.json")
    assert config is not None
    made = [revisions.resolve(account.id, model_id, MAIN).commit_id]
    for i in range(LOG_PAGE + 1):  # commits that copy a stored blob under a new path
        rev = revisions.commit(
            account.id,
            model_id,
            changes={f"copies/{i}.json": (config.sha256, config.size)},
            author=f"accounts/{account.id}/users/alice",
            message=f"copy number {i}\n\nmore text",
        )
        made.append(rev.commit_id)
    newest_first = [c[:7] for c in reversed(made)]
    url = f"/catalog/accounts/{account.id}/models/{model_id}"

    first = account.client.get(url).text
    rows = _tables(first, "Revisions of main")
    assert [r[0] for r in rows] == newest_first[:LOG_PAGE]
    assert rows[0][1] == f"copy number {LOG_PAGE}" and rows[0][2] == f"alice ({account.id})"
    older = re.search(r'<a href="([^"]+)" rel="next">Older revisions</a>', first)
    assert older is not None
    second = account.client.get(url + html.unescape(older.group(1))).text
    assert [r[0] for r in _tables(second, "Revisions of main")] == newest_first[LOG_PAGE:]
    assert 'rel="next"' not in second and ">Newest revisions</a>" in second

    missing = account.client.get(url, params={"after": "0" * 40})
    assert missing.status_code == 404 and "Revision not found" in missing.text
    assert account.client.get(url, params={"after": "not a commit"}).status_code == 404


def test_a_card_the_storage_cannot_read_is_a_sentence_not_an_error(
    card_server: FilesServer, tmp_path: Path
) -> None:
    account = card_server.new_account("lost")
    client = card_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    files["README.md"] = f"# Card {secrets.token_hex(8)}\n\nGone before anyone reads it.\n".encode()
    model_id = uid("lost")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    LocalStorage(card_server.root).blob_path(hashlib.sha256(files["README.md"]).hexdigest()).unlink()

    page = account.client.get(f"/catalog/accounts/{account.id}/models/{model_id}")
    assert page.status_code == 200
    assert "could not be read from storage" in page.text and "Gone before" not in page.text
    assert len(_tables(page.text, "Revisions of main")) == 1  # the rest of the page is there
