"""``list_models`` through huggingface_hub over the registry's List engine (both databases): the caller's
scope, author, search, sort, ``full`` and ``cardData``, and keyset paging through ``Link`` headers."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from modelyard.store.revisions import MAIN
from tests.support.files import FilesServer
from tests.support.hub import hub_model


def test_list_models_scope_search_sort_and_paging(file_storage_server: FilesServer, tmp_path: Path) -> None:
    owner = hub_model(file_storage_server, tmp_path)  # private, with files and a card
    store = file_storage_server.store
    word = f"zebra{secrets.token_hex(3)}"
    extra = {f"listed-{i}": i % 2 == 0 for i in range(4)}  # model id -> public
    for model_id, public in extra.items():
        store.create_model(
            owner.account, model_id, {"kind": "HF_BASE_MODEL", "public": public, "description": f"a {word}"}
        )
    everything = sorted([owner.repo, *(f"{owner.account}/{m}" for m in extra)])
    public = sorted(f"{owner.account}/{m}" for m, p in extra.items() if p)

    api = owner.api()
    assert sorted(m.id for m in api.list_models(author=owner.account)) == everything
    anonymous = owner.api(token=False)
    assert sorted(m.id for m in anonymous.list_models(author=owner.account)) == public
    stranger = hub_model(file_storage_server, tmp_path)
    assert sorted(m.id for m in stranger.api().list_models(author=owner.account)) == public
    assert sorted(m.id for m in api.list_models(search=word)) == sorted(f"{owner.account}/{m}" for m in extra)
    assert [m.id for m in anonymous.list_models(search=word)] == public

    newest_first = [m.id for m in api.list_models(author=owner.account, sort="last_modified")]
    assert newest_first[0] == f"{owner.account}/listed-3"  # created last
    assert sorted(newest_first) == everything

    (full,) = [
        m for m in api.list_models(author=owner.account, full=True, cardData=True) if m.id == owner.repo
    ]
    head = store.revisions.resolve(owner.account, owner.model_id, MAIN)
    assert full.sha == head.commit_id and full.private is True
    assert sorted(s.rfilename for s in full.siblings or []) == sorted(owner.files)
    assert full.card_data is not None and full.card_data.license == "apache-2.0"

    # One model a page: the next page is named by the Link header, and the walk sees each model once.
    seen: list[str] = []
    url: str | None = f"{owner.endpoint}/api/models?author={owner.account}&limit=1"
    with httpx.Client(headers={"Authorization": f"Bearer {owner.key}"}, timeout=30) as http:
        while url is not None:
            page = http.get(url)
            assert page.status_code == 200, page.text
            seen += [m["id"] for m in page.json()]
            url = page.links.get("next", {}).get("url")
        assert seen == everything
        bad = http.get(f"{owner.endpoint}/api/models", params={"cursor": "tampered"})
        assert bad.status_code == 400 and "error" in bad.json()
