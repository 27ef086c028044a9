"""The official Fireworks Python SDK (``fireworks-ai`` 1.2.30) against a real ``modelyard serve`` (SQLite and
PostgreSQL): auto-paging list, create, get, update, delete and the SDK's error classes
(``fireworks-models-api.md`` §1, §3, §5, §6)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fireworks import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Fireworks,
    NotFoundError,
    PermissionDeniedError,
)
from fireworks.types import Model, ModelParam

from tests.support.accounts import Account
from tests.support.api import PEFT_DETAILS, base_model, create, stored, uid
from tests.support.server import Server


@pytest.fixture()
def client(server: Server, account: Account) -> Iterator[Fireworks]:
    with Fireworks(api_key=account.key, base_url=server.base_url, account_id=account.id, max_retries=0) as c:
        yield c


def seed(server: Server, account: Account, n: int) -> list[str]:
    items = [
        (
            f"s-{i:02d}",
            stored(displayName=f"Model {i:02d}", supportsServerless=i % 2 == 0, contextLength=1000 + i),
        )
        for i in range(n)
    ]
    server.store.import_batch(account.id, items, upsert=False)
    return [f"accounts/{account.id}/models/{model_id}" for model_id, _ in items]


def test_list_auto_pages_over_every_model_once(server: Server, account: Account, client: Fireworks) -> None:
    expected = seed(server, account, 7)
    models = list(client.models.list(page_size=2))
    assert all(isinstance(m, Model) for m in models)
    assert [m.name for m in models] == expected
    first = client.models.list(page_size=3)
    assert len(first.models) == 3 and first.next_page_token
    assert first.has_next_page()
    pages = list(first.iter_pages())
    assert [len(p.models) for p in pages] == [3, 3, 1]
    assert not pages[-1].next_page_token


def test_list_with_filter_order_by_and_read_mask(server: Server, account: Account, client: Fireworks) -> None:
    seed(server, account, 9)
    models = list(
        client.models.list(
            page_size=2,
            filter="supports_serverless=true",
            order_by="display_name desc",
            read_mask="name,displayName",
        )
    )
    assert [m.display_name for m in models] == ["Model 08", "Model 06", "Model 04", "Model 02", "Model 00"]
    assert all(m.context_length is None and m.supports_serverless is None for m in models)
    models = list(
        client.models.list(page_size=1, filter="context_length >= 1005", order_by="contextLength desc")
    )
    assert [m.context_length for m in models] == [1008, 1007, 1006, 1005]
    assert all(m.base_model_details is not None for m in models)


def test_list_of_another_account_with_the_account_id_argument(
    server: Server, account: Account, client: Fireworks
) -> None:
    other = server.new_account()
    server.store.import_batch(other.id, [("pub", stored(public=True)), ("priv", stored())], upsert=False)
    assert [m.name for m in client.models.list(account_id=other.id)] == [f"accounts/{other.id}/models/pub"]
    everything = [
        m.name for m in client.models.list(account_id="-", filter=f'name = "accounts/{other.id}/models/*"')
    ]
    assert everything == [f"accounts/{other.id}/models/pub"]


def test_create_get_update_delete(account: Account, client: Fireworks) -> None:
    model_id = uid()
    created = client.models.create(
        model_id=model_id,
        model={
            "display_name": "SDK model",
            "kind": "HF_BASE_MODEL",
            "base_model_details": {"parameter_count": "8000000000", "moe": True},
            "context_length": 8192,
            "deprecation_date": {"year": 2030, "month": 6, "day": 1},
        },
    )
    assert isinstance(created, Model)
    assert created.name == f"accounts/{account.id}/models/{model_id}"
    assert created.state == "UPLOADING"
    assert created.kind == "HF_BASE_MODEL"
    assert created.base_model_details is not None
    assert created.base_model_details.parameter_count == "8000000000"
    assert created.base_model_details.moe is True
    assert created.deprecation_date is not None and created.deprecation_date.year == 2030
    assert created.create_time is not None and created.create_time.tzinfo is not None

    got = client.models.get(model_id)
    assert got == created
    masked = client.models.get(model_id, read_mask="name,baseModelDetails.parameterCount")
    assert masked.name == created.name and masked.display_name is None
    assert masked.base_model_details is not None and masked.base_model_details.parameter_count == "8000000000"

    updated = client.models.update(model_id, display_name="Renamed", supports_tools=True)
    assert updated.display_name == "Renamed"
    assert updated.supports_tools is True
    assert updated.context_length == 8192  # untouched
    assert updated.update_time is not None and created.update_time is not None
    assert updated.update_time > created.update_time
    assert client.models.get(model_id).display_name == "Renamed"

    assert client.models.delete(model_id) == {}
    with pytest.raises(NotFoundError) as e:
        client.models.get(model_id)
    assert e.value.status_code == 404
    assert isinstance(e.value.body, dict) and e.value.body["code"] == 5


def test_create_peft_addon_and_update_peft_details(client: Fireworks) -> None:
    model_id = uid()
    created = client.models.create(
        model_id=model_id,
        model={
            "peft_details": {"base_model": PEFT_DETAILS["baseModel"], "r": 16, "target_modules": ["q_proj"]}
        },
    )
    assert created.kind == "HF_PEFT_ADDON"
    assert created.peft_details is not None and created.peft_details.r == 16
    updated = client.models.update(
        model_id, peft_details={"base_model": PEFT_DETAILS["baseModel"], "r": 64, "target_modules": ["k"]}
    )
    assert updated.peft_details is not None
    assert updated.peft_details.r == 64 and updated.peft_details.target_modules == ["k"]


def test_error_classes(server: Server, account: Account, client: Fireworks) -> None:
    model_id = uid()
    client.models.create(model_id=model_id, model=base_model_param())
    with pytest.raises(ConflictError) as conflict:
        client.models.create(model_id=model_id, model=base_model_param())
    assert conflict.value.status_code == 409
    with pytest.raises(NotFoundError):
        client.models.get(uid())
    with pytest.raises(NotFoundError):
        client.models.delete(uid())
    with pytest.raises(BadRequestError) as bad:
        list(client.models.list(filter="contex_length = 1"))
    assert bad.value.status_code == 400
    with pytest.raises(BadRequestError):
        client.models.list(order_by="nope")
    with pytest.raises(BadRequestError):
        client.models.create(model_id="Bad_Id", model=base_model_param())
    with pytest.raises(BadRequestError):
        client.models.update(model_id, display_name="x" * 64)
    other = server.new_account()
    with pytest.raises(PermissionDeniedError) as denied:
        client.models.create(account_id=other.id, model_id=uid(), model=base_model_param())
    assert denied.value.status_code == 403
    with pytest.raises(PermissionDeniedError):
        client.models.update(model_id, account_id=other.id, display_name="x")
    with pytest.raises(PermissionDeniedError):
        client.models.delete(model_id, account_id=other.id)
    with pytest.raises(NotFoundError):
        Fireworks(api_key=other.key, base_url=server.base_url, max_retries=0).models.get(
            model_id, account_id=account.id
        )
    with Fireworks(
        api_key="my_not-a-key", base_url=server.base_url, account_id=account.id, max_retries=0
    ) as bad_key:
        with pytest.raises(AuthenticationError) as auth:
            bad_key.models.get(model_id)
        assert auth.value.status_code == 401
        with pytest.raises(AuthenticationError):
            list(bad_key.models.list())


def test_bad_page_token_is_bad_request(server: Server, account: Account, client: Fireworks) -> None:
    seed(server, account, 3)
    with pytest.raises(BadRequestError):
        client.models.list(page_token="garbage")
    with pytest.raises(BadRequestError):
        client.models.list(page_size=-1)


def test_environment_variables(server: Server, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    model_id = uid()
    create(account.client, account.id, base_model(displayName="From env"), model_id)
    monkeypatch.setenv("FIREWORKS_BASE_URL", server.base_url)
    monkeypatch.setenv("FIREWORKS_API_KEY", account.key)
    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", account.id)
    with Fireworks(max_retries=0) as env_client:
        assert env_client.models.get(model_id).display_name == "From env"
        assert [m.name for m in env_client.models.list()] == [f"accounts/{account.id}/models/{model_id}"]


def base_model_param() -> ModelParam:
    return {"kind": "HF_BASE_MODEL", "base_model_details": {"parameter_count": "1000"}}
