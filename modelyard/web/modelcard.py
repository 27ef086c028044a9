"""The model page's revision-backed parts (issue 21 item 6, issue 22 item 4): the model card, the
revisions and refs of ``main``, the prepared precisions, and the Hugging Face snippets.

* **The card**: ``main``'s ``README.md``, read through the storage (at most
  :data:`~modelyard.files.card.MAX_CARD_BYTES`), its front matter parsed by ``modelyard.files.card``
  (shown as facts: license, tags, base model, pipeline tag, ...) and stripped; the rest rendered as
  CommonMark (plus tables and strikethrough) by ``markdown-it-py`` and then sanitised by ``nh3``
  (ammonia): only an allow-list of tags and attributes survives, no ``<script>``/``<style>``/``<iframe>``,
  no event handler attributes, links only to ``http``/``https``/``mailto`` (never ``javascript:``) and
  with ``rel="noopener noreferrer nofollow"``. The page's Content Security Policy (no inline script) is
  the second wall. The card's headings are moved two levels down (its ``#`` becomes ``<h3>``) so they
  sit under the page's "Model card" heading.
  Rendered cards are kept (at most 256) by the README's SHA-256; a card the storage cannot read is
  replaced by a sentence saying so.
* **Revisions**: the newest :data:`LOG_PAGE` of ``main`` (short id, author, message, time), paged by the
  last shown commit id (``?after=``); the refs (branches and tags) with the commit each names.
* **Precisions**: ``main`` (its ``defaultPrecision``) and each precision branch (``fp8``, ``bf16``,
  ``fp16``) that exists, with the total size of its files and snippets to serve it.

Everything is read with the caller as the reader: the route has already read the model with the
visibility rule, and this module reads only that model's revisions (``store.revisions``, the Store
facade) and files (``FileService``).
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from modelyard.files.card import MAX_CARD_BYTES, split_card
from modelyard.files.service import FileService
from modelyard.prepare.precisions import Precision
from modelyard.resources.revision import BRANCH, MAIN, Ref, Revision, TreeEntry
from modelyard.storage.base import StorageError
from modelyard.store.repository import Store
from modelyard.store.revisions import RevisionNotFound
from modelyard.web.present import Fact, Snippet, human_bytes, safe_url

#: Revisions of ``main`` shown per page of the log.
LOG_PAGE = 20
#: Front-matter keys shown as facts, in this order, with their labels.
CARD_FACTS = (
    ("license", "License"),
    ("license_name", "License name"),
    ("base_model", "Base model"),
    ("pipeline_tag", "Pipeline"),
    ("library_name", "Library"),
    ("language", "Languages"),
    ("datasets", "Datasets"),
    ("tags", "Tags"),
)
#: The tags nh3 keeps (ammonia's defaults without the rarely used ones), and their attributes.
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
_URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> str:
    """Sanitised HTML of a card's Markdown body (see the module docstring)."""
    tokens = _markdown.parse(text)
    _demote_headings(tokens)
    html = _markdown.renderer.render(tokens, _markdown.options, {})
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return _IMG.sub(_with_alt, clean)


#: An ``<img>`` as nh3 (html5ever) writes it: every attribute value in double quotes, none inside one.
_IMG = re.compile(r'<img((?:\s+[\w-]+="[^"]*")*)\s*/?>')


def _with_alt(match: re.Match[str]) -> str:
    """An image the card gives no alternative text is marked decorative (``alt=""``), as screen readers
    would otherwise read its URL."""
    attributes = match.group(1)
    if re.search(r'\salt="', attributes):
        return match.group(0)
    return f'<img{attributes} alt="">'


def _demote_headings(tokens: list[Token]) -> None:
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1]) + 2)
            token.tag = f"h{level}"


@dataclass(frozen=True)
class ModelCard:
    html: str
    facts: list[Fact]
    truncated: bool
    #: The storage did not answer: the page says so instead of the card.
    unreadable: bool = False


def card_facts(data: dict[str, Any] | None) -> list[Fact]:
    """The card's front matter as facts; lists are joined, other shapes are left out."""
    if not data:
        return []
    out: list[Fact] = []
    for key, label in CARD_FACTS:
        value = data.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            text = str(value)
        elif isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
            text = ", ".join(str(v) for v in value)
        else:
            continue
        href = None
        if key == "base_model" and isinstance(value, str):
            href = value if value.startswith("accounts/") else None
            href = f"/catalog/{href}" if href else safe_url(f"https://huggingface.co/{value}")
        out.append(Fact(label, text, href))
    return out


@dataclass(frozen=True)
class RevisionRow:
    commit_id: str
    short: str
    author: str
    message: str
    time: str
    iso: str


@dataclass(frozen=True)
class RefRow:
    name: str
    kind: str
    short: str
    commit_id: str


@dataclass(frozen=True)
class PrecisionRow:
    branch: str
    label: str
    size: str
    files: int
    short: str
    snippets: list[Snippet]


@dataclass
class Details:
    """What the page shows of a model's revisions; empty when it has none yet."""

    card: ModelCard | None = None
    revisions: list[RevisionRow] = field(default_factory=list)
    older: str | None = None
    after: str | None = None
    refs: list[RefRow] = field(default_factory=list)
    precisions: list[PrecisionRow] = field(default_factory=list)
    hub_snippets: list[Snippet] = field(default_factory=list)


def _time(nanos: int) -> tuple[str, str]:
    when = datetime.datetime.fromtimestamp(nanos / 1e9, tz=datetime.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%d %H:%M UTC"), when.isoformat().replace("+00:00", "Z")


def _revision_row(revision: Revision) -> RevisionRow:
    shown, iso = _time(revision.create_time)
    author = revision.author
    parts = author.split("/")
    if len(parts) == 4 and parts[0] == "accounts" and parts[2] == "users":
        author = f"{parts[3]} ({parts[1]})"
    message = revision.message.strip().splitlines()[0] if revision.message.strip() else "(no message)"
    return RevisionRow(revision.commit_id, revision.commit_id[:7], author, message, shown, iso)


def load(
    store: Store,
    service: FileService,
    model: dict[str, Any],
    base_url: str,
    after: str | None = None,
) -> Details:
    """The revisions, refs, card and precisions of ``model`` (already read with the caller as the
    reader). ``after`` continues the log after that commit id (RevisionNotFound when it is not one of
    the model's)."""
    _, account_id, _, model_id = str(model["name"]).split("/")
    revisions = store.revisions
    details = Details()
    try:
        log = revisions.log(account_id, model_id, MAIN, limit=LOG_PAGE + 1, after=after)
    except RevisionNotFound:
        if after is not None:
            raise
        return details  # no revision yet (uploading, or a model without files)
    details.after = after
    details.hub_snippets = hub_snippets(account_id, model_id, base_url)
    details.revisions = [_revision_row(r) for r in log[:LOG_PAGE]]
    if len(log) > LOG_PAGE:
        details.older = log[LOG_PAGE - 1].commit_id
    refs: list[Ref] = revisions.refs(account_id, model_id)
    details.refs = [RefRow(r.name, r.kind.lower(), r.commit_id[:7], r.commit_id) for r in refs]
    heads = {r.name: r.commit_id for r in refs if r.kind == BRANCH}
    if MAIN not in heads:
        return details
    tree = revisions.tree(heads[MAIN])
    details.card = _card(service, account_id, model_id, tree)
    details.precisions = _precisions(store, model, heads, tree, base_url)
    return details


#: Rendered cards by their README's SHA-256 (content-addressed: a rendering never goes stale).
_CARDS: OrderedDict[str, ModelCard] = OrderedDict()
_CARD_CACHE_SIZE = 256
_cards_lock = threading.Lock()


def _card(service: FileService, account_id: str, model_id: str, tree: list[TreeEntry]) -> ModelCard | None:
    readme = next((e for e in tree if e.path == "README.md"), None)
    if readme is None:
        return None
    with _cards_lock:
        if (cached := _CARDS.get(readme.sha256)) is not None:
            _CARDS.move_to_end(readme.sha256)
            return cached
    try:
        data, body = split_card(service.read_committed(account_id, model_id, readme, MAX_CARD_BYTES))
    except StorageError:
        logging.getLogger("modelyard").warning(
            "reading the model card of accounts/%s/models/%s failed", account_id, model_id, exc_info=True
        )
        return ModelCard("", [], False, unreadable=True)
    card = ModelCard(render_markdown(body), card_facts(data), readme.size > MAX_CARD_BYTES)
    with _cards_lock:
        _CARDS[readme.sha256] = card
        while len(_CARDS) > _CARD_CACHE_SIZE:
            _CARDS.popitem(last=False)
    return card


def _precisions(
    store: Store, model: dict[str, Any], heads: dict[str, str], main_tree: list[TreeEntry], base_url: str
) -> list[PrecisionRow]:
    _, account_id, _, model_id = str(model["name"]).split("/")
    default = (model.get("baseModelDetails") or {}).get("defaultPrecision")
    label = f"main ({default})" if default else "main (as uploaded)"
    rows = [_precision_row(MAIN, label, heads[MAIN], main_tree, account_id, model_id, base_url)]
    for precision in Precision:
        branch = precision.branch
        if branch in heads:
            tree = store.revisions.tree(heads[branch])
            rows.append(
                _precision_row(branch, precision.value, heads[branch], tree, account_id, model_id, base_url)
            )
    return rows


def _precision_row(
    branch: str,
    label: str,
    commit_id: str,
    tree: list[TreeEntry],
    account_id: str,
    model_id: str,
    base_url: str,
) -> PrecisionRow:
    size = sum(e.size for e in tree)
    snippets = hub_snippets(account_id, model_id, base_url, revision=branch, prefix=f"p-{branch}")
    return PrecisionRow(branch, label, human_bytes(size), len(tree), commit_id[:7], snippets)


def hub_snippets(
    account_id: str, model_id: str, base_url: str, *, revision: str = MAIN, prefix: str = "hf"
) -> list[Snippet]:
    """Copyable ways to use a revision through the Hub door (``BASE/hf``): ``vllm serve``,
    ``snapshot_download`` and transformers' ``from_pretrained``, with ``HF_ENDPOINT`` and ``HF_TOKEN``."""
    endpoint = base_url.rstrip("/") + "/hf"
    repo = f"{account_id}/{model_id}"
    rev_flag = "" if revision == MAIN else f" --revision {revision}"
    rev_arg = "" if revision == MAIN else f", revision={revision!r}"
    vllm = f"HF_ENDPOINT={endpoint} HF_TOKEN=$MODELYARD_API_KEY vllm serve {repo}{rev_flag}"
    download = (
        "import os\n"
        f'os.environ["HF_ENDPOINT"] = {endpoint!r}  # before importing huggingface_hub\n'
        "from huggingface_hub import snapshot_download\n\n"
        f'path = snapshot_download({repo!r}{rev_arg}, token=os.environ["MODELYARD_API_KEY"])'
    )
    transformers = (
        "import os\n"
        f'os.environ["HF_ENDPOINT"] = {endpoint!r}  # before importing transformers\n'
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        'token = os.environ["MODELYARD_API_KEY"]\n'
        f"tokenizer = AutoTokenizer.from_pretrained({repo!r}{rev_arg}, token=token)\n"
        f"model = AutoModelForCausalLM.from_pretrained({repo!r}{rev_arg}, token=token)"
    )
    suffix = "" if revision == MAIN else f" ({revision})"
    return [
        Snippet(f"{prefix}-vllm", f"vllm serve{suffix}", vllm),
        Snippet(f"{prefix}-snapshot", f"snapshot_download{suffix}", download),
        Snippet(f"{prefix}-transformers", f"transformers{suffix}", transformers),
    ]
