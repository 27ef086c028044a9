"""Issue 15 items 1 and 2: no NUL anywhere (map keys included) and size limits, on every write path (the
HTTP API against a real ``modelyard serve``, and ``modelyard import`` as a user runs it), on SQLite and
PostgreSQL; and stored data that can never make a filter fail.

Rules: decisions.md "Model files" (request bodies 1 MiB, lists at most 10,000 entries, maps at most
1,000 keys, no NUL anywhere; each refusal names the field and the limit); the per-string limits are in
``modelyard/resources/limits.py`` and the README's "Limits" section.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelyard.api.app import create_app
from modelyard.settings import Settings
from modelyard.store.engine import make_engine
from modelyard.store.repository import Store
from tests.support.accounts import Account
from tests.support.api import (
    INVALID_ARGUMENT,
    assert_error,
    base_model,
    create,
    page,
    post_model,
    seed,
    stored,
    uid,
)
from tests.support.cli import modelyard_cli
from tests.support.server import Server


def _import(server: Server, account: str, tmp_path: Path, records: list[dict[str, Any]]) -> str:
    path = tmp_path / f"{uid('import')}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    result = modelyard_cli("import", str(path), "--account", account, "--db", server.db_url)
    return result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------
# Item 1: NUL in map keys
# ---------------------------------------------------------------------------------------------------


def test_import_refuses_a_nul_in_a_map_key_and_filters_keep_working(server: Server, tmp_path: Path) -> None:
    account = server.new_account("nul")
    out = _import(
        server,
        account.id,
        tmp_path,
        [
            {"name": "accounts/x/models/bad-key", "kind": "EMBEDDING_MODEL", "public": True,
             "defaultSamplingParams": {"a\u0000b": 1}},
            {"name": "accounts/x/models/good", "kind": "EMBEDDING_MODEL", "public": True,
             "defaultSamplingParams": {"a": 1}},
        ],
    )  # fmt: skip
    assert "defaultSamplingParams" in out and "NUL" in out, out
    listed = page(account)
    assert [m["name"].rsplit("/", 1)[1] for m in listed["models"]] == ["good"]
    for text in ("default_sampling_params.a = 1", "default_sampling_params:*", "supported_precisions:FP8"):
        resp = account.client.get(account.url(), params={"filter": text})
        assert resp.status_code == 200, resp.text


def test_a_stored_nul_key_never_makes_a_filter_fail_or_match(server: Server) -> None:
    """A row written before the rule (planted here below the codec) answers no list or map restriction,
    on this account and on ``accounts/-``; every other row is filtered as usual."""
    account = server.new_account("legacy")
    seed(
        server,
        account,
        {
            "legacy": stored(public=True, defaultSamplingParams={"a\u0000b": 1.0, "a": 2.0},
                             supportedPrecisions=["FP8"]),
            "clean": stored(public=True, defaultSamplingParams={"a": 2.0}, supportedPrecisions=["FP8"]),
            # The text "\u0000" (a backslash, then u0000) is no NUL: this row filters as usual.
            "escaped": stored(public=True, description="\\u0000 is how JSON writes NUL",
                              defaultSamplingParams={"a": 2.0}, supportedPrecisions=["FP8"]),
        },
    )  # fmt: skip
    other = server.new_account("viewer")
    for text in (
        "default_sampling_params.a = 2",
        "default_sampling_params.a != 3",
        "default_sampling_params:a",
        "default_sampling_params:*",
        "supported_precisions:FP8",
        "NOT supported_precisions:FP16",
    ):
        for client, url in ((account.client, account.url()), (other.client, other.url("-"))):
            resp = client.get(url, params={"filter": f'({text}) AND name:"{account.id}"', "pageSize": 200})
            assert resp.status_code == 200, (text, resp.text)
            got = sorted(m["name"].rsplit("/", 1)[1] for m in resp.json().get("models", []))
            assert got == ["clean", "escaped"], (text, got)
    # The row itself is still served (a Get, an unfiltered List).
    assert account.client.get(account.url() + "/legacy").status_code == 200


def test_api_refuses_nul_in_list_entries_naming_the_field(account: Account) -> None:
    body = {"modelId": uid(), "model": base_model(baseModelDetails={"huggingfaceFiles": ["ok", "a\u0000b"]})}
    resp = post_model(account, body)
    err = assert_error(resp, 400, INVALID_ARGUMENT, field="model.baseModelDetails.huggingfaceFiles[1]")
    assert "NUL" in err["message"]


# ---------------------------------------------------------------------------------------------------
# Item 2: size limits
# ---------------------------------------------------------------------------------------------------


def test_a_body_over_one_mib_is_refused_before_it_is_read(account: Account) -> None:
    model_id = uid()
    raw = orjson.dumps(
        {"modelId": model_id, "model": base_model(baseModelDetails={"huggingfaceFiles": ["f" * 200] * 6000})}
    )
    assert len(raw) > 1 << 20
    resp = account.client.post(account.url(), content=raw, headers={"content-type": "application/json"})
    err = assert_error(resp, 413, INVALID_ARGUMENT, reason="REQUEST_TOO_LARGE", field="body")
    assert "1,048,576" in err["message"]
    assert account.client.get(account.url() + f"/{model_id}").status_code == 404

    # Without a Content-Length (chunked), the limit holds as the body arrives.
    def chunks() -> Any:
        for i in range(0, len(raw), 65536):
            yield raw[i : i + 65536]

    resp = account.client.post(account.url(), content=chunks(), headers={"content-type": "application/json"})
    assert_error(resp, 413, INVALID_ARGUMENT, reason="REQUEST_TOO_LARGE", field="body")
    assert account.client.get(account.url() + f"/{model_id}").status_code == 404
    # A PATCH body too.
    create(account.client, account.id, base_model(), model_id)
    resp = account.client.patch(account.url() + f"/{model_id}", content=raw)
    assert_error(resp, 413, INVALID_ARGUMENT, reason="REQUEST_TOO_LARGE", field="body")


def test_a_list_over_10000_entries_is_refused(account: Account) -> None:
    files = [f"f{i}" for i in range(10_001)]
    resp = post_model(
        account, {"modelId": uid(), "model": base_model(baseModelDetails={"huggingfaceFiles": files})}
    )
    err = assert_error(resp, 400, INVALID_ARGUMENT, field="model.baseModelDetails.huggingfaceFiles")
    assert "10,000" in err["message"] and "10,001" in err["message"]
    # 10,000 is fine.
    created = create(
        account.client, account.id, base_model(baseModelDetails={"huggingfaceFiles": files[:10_000]})
    )
    assert len(created["baseModelDetails"]["huggingfaceFiles"]) == 10_000


@pytest.mark.parametrize(
    ("field", "model", "limit"),
    [
        ("model.baseModelDetails.modelType", base_model(baseModelDetails={"modelType": "t" * 4096}), "4096"),
        ("model.githubUrl", base_model(githubUrl="https://x/" + "u" * 4096), "4096"),
        ("model.baseModelDetails.huggingfaceFiles[0]",
         base_model(baseModelDetails={"huggingfaceFiles": ["f" * 4096]}), "4096"),
        ("model.conversationConfig.template",
         base_model(conversationConfig={"style": "jinja", "template": "t" * 65_536}), "65536"),
        ("model.description", base_model(description="d" * 5000), "4096"),
    ],
)  # fmt: skip
def test_a_string_over_its_limit_is_refused(
    account: Account, field: str, model: dict[str, Any], limit: str
) -> None:
    err = assert_error(
        post_model(account, {"modelId": uid(), "model": model}), 400, INVALID_ARGUMENT, field=field
    )
    assert f"fewer than {limit} characters" in err["message"], err


def test_a_chat_template_may_be_long(account: Account) -> None:
    template = "{{ messages }}" + " " * 40_000
    created = create(
        account.client, account.id, base_model(conversationConfig={"style": "jinja", "template": template})
    )
    assert created["conversationConfig"]["template"] == template


def test_import_applies_the_same_limits(server: Server, tmp_path: Path) -> None:
    account = server.new_account("limits")
    out = _import(
        server,
        account.id,
        tmp_path,
        [
            {"name": "accounts/x/models/many-keys", "kind": "EMBEDDING_MODEL",
             "defaultSamplingParams": {f"k{i}": 1 for i in range(1001)}},
            {"name": "accounts/x/models/many-files", "kind": "HF_BASE_MODEL",
             "baseModelDetails": {"huggingfaceFiles": [f"f{i}" for i in range(10_001)]}},
            {"name": "accounts/x/models/huge", "kind": "EMBEDDING_MODEL",
             "supportedPrecisions": ["FP8"] * 9000, "description": "x", "status": {"message": "m" * 4000},
             "defaultSamplingParams": {f"{i:0>3000}": 1 for i in range(400)}},
            {"name": "accounts/x/models/fine", "kind": "EMBEDDING_MODEL",
             "defaultSamplingParams": {f"k{i}": 1 for i in range(1000)}},
        ],
    )  # fmt: skip
    assert "1,000" in out and "1,001" in out, out
    assert "10,000" in out and "10,001" in out, out
    assert "1,048,576" in out, out
    assert [m["name"].rsplit("/", 1)[1] for m in page(account)["models"]] == ["fine"]


def test_the_body_limit_is_a_setting(tmp_path: Path) -> None:
    settings = Settings.from_env({"MODELYARD_MAX_BODY_BYTES": "2048"})
    assert settings.max_body_bytes == 2048
    assert Settings.from_env({"MODELYARD_MAX_BODY_BYTES": "lots"}).max_body_bytes == 1 << 20
    assert Settings().max_body_bytes == 1 << 20
    store = Store(make_engine(f"sqlite:///{tmp_path / 'limit.db'}"))
    app = create_app(store, settings=settings)
    key = store.create_api_key("small")

    async def post(description: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                "/v1/accounts/small/models",
                json={"modelId": uid(), "model": {"kind": "EMBEDDING_MODEL", "description": description}},
                headers={"Authorization": f"Bearer {key}"},
            )

    assert asyncio.run(post("d" * 500)).status_code == 200
    err = assert_error(asyncio.run(post("d" * 3000)), 413, INVALID_ARGUMENT, reason="REQUEST_TOO_LARGE")
    assert "2,048" in err["message"]
    store.engine.dispose()
