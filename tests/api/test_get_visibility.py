"""Issue 15 item 5: a Get of another account's private model is answered exactly as a Get of a missing
id, and the private row is never read or decoded (the visibility test is part of the query), so timing
reveals nothing. The decoder is spied on through the real HTTP path (the app in-process, a real SQLite
database); timing figures, if wanted, belong in ``bench/``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.api.app import create_app
from modelyard.store import models as store_models
from modelyard.store.engine import make_engine
from modelyard.store.repository import Store


async def _get(app: Any, key: str, *paths: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.get(p, headers={"Authorization": f"Bearer {key}"}) for p in paths]


def test_another_accounts_private_model_is_never_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'visibility.db'}"))
    app = create_app(store)
    owner_key = store.create_api_key("owner")
    other_key = store.create_api_key("other")
    resource = {"kind": "EMBEDDING_MODEL", "state": "READY"}
    store.import_batch("owner", [("secret", resource), ("open", {**resource, "public": True})], upsert=False)

    decoded: list[str] = []
    real = store_models.with_deployed_refs

    def spy(text: str, refs: str) -> dict[str, Any]:
        decoded.append(text)
        return real(text, refs)

    monkeypatch.setattr(store_models, "with_deployed_refs", spy)
    private, missing = asyncio.run(
        _get(app, other_key, "/v1/accounts/owner/models/secret", "/v1/accounts/owner/models/nothing")
    )
    assert private.status_code == missing.status_code == 404
    assert decoded == []
    # The same answer, but for the name.
    assert private.text.replace("secret", "X") == missing.text.replace("nothing", "X")

    (public,) = asyncio.run(_get(app, other_key, "/v1/accounts/owner/models/open"))
    (own,) = asyncio.run(_get(app, owner_key, "/v1/accounts/owner/models/secret"))
    assert public.status_code == own.status_code == 200
    assert len(decoded) == 2
    store.engine.dispose()
