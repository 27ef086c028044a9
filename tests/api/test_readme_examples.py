"""The README's filter examples, run against the demo catalog through the real server."""

from __future__ import annotations

import json
import re

import pytest

from modelyard.importers.demo import demo_catalog
from modelyard.importers.jsonl import import_lines
from tests.support.accounts import Account
from tests.support.paths import README
from tests.support.server import Server


def _examples() -> list[tuple[str, list[str]]]:
    block = re.search(r"```filter-examples\n(.*?)```", README.read_text(), re.S)
    assert block is not None, "README has no filter-examples block"
    out = []
    for line in block.group(1).strip().splitlines():
        filter_text, _, expected = line.partition("=>")
        out.append((filter_text.strip(), expected.split()))
    return out


@pytest.fixture(scope="module")
def demo_account(server: Server) -> Account:
    acct = server.new_account("docs")
    lines = ((i, json.dumps(m)) for i, m in enumerate(demo_catalog(), start=1))
    report = import_lines(server.store, lines, account=acct.id)
    assert report.ok, report.rejected
    return acct


@pytest.mark.parametrize(("filter_text", "expected"), _examples(), ids=[e[0][:40] for e in _examples()])
def test_readme_filter_example(demo_account: Account, filter_text: str, expected: list[str]) -> None:
    r = demo_account.client.get(demo_account.url(), params={"filter": filter_text, "pageSize": 200})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [m["name"].rsplit("/", 1)[1] for m in body.get("models", [])]
    assert ids == sorted(expected)
    assert body["totalSize"] == len(expected)
