"""The store's one translation of driver errors (``store/errors.py``): a database that does not answer
leaves every Store method as ``Unavailable`` (chained to the driver's error), and the health checks
answer 503 for that only; a bug behind them is a 500 INTERNAL, not "the database does not answer"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from modelyard.api.app import create_app
from modelyard.store.engine import make_engine
from modelyard.store.errors import Unavailable, translated
from modelyard.store.repository import Store

#: Nothing listens on port 1 of the loopback interface: connecting is refused at once.
REFUSED_URL = "postgresql://postgres@127.0.0.1:1/modelyard_nowhere?connect_timeout=2"


@pytest.fixture()
def unreachable() -> Iterator[Store]:
    store = Store(make_engine(REFUSED_URL))
    yield store
    store.engine.dispose()


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = Store(make_engine(f"sqlite:///{tmp_path / 'errors.db'}"))
    with TestClient(create_app(store), raise_server_exceptions=False) as test_client:
        yield test_client
    store.engine.dispose()


def test_every_kind_of_store_method_raises_unavailable(unreachable: Store) -> None:
    calls = {
        "ping": unreachable.ping,
        "check_key": lambda: unreachable.check_key("my_key"),
        "list_keys": lambda: unreachable.list_keys(None),
        "users.list_users": lambda: unreachable.users.list_users("a"),
        "files.model": lambda: unreachable.files.model("a", "m"),
        "get_model": lambda: unreachable.get_model("accounts/a/models/m"),
        "secret": lambda: unreachable.secret("page_token_key"),
        "count_all": unreachable.count_all,
        "export_models (a generator)": lambda: list(unreachable.export_models("a")),
        "schema_revisions": unreachable.schema_revisions,
    }
    for what, call in calls.items():
        with pytest.raises(Unavailable) as caught:
            call()
        assert isinstance(caught.value.__cause__, OperationalError), what
        assert "127.0.0.1" in str(caught.value.__cause__), what


def test_bulk_load_raises_unavailable(unreachable: Store) -> None:
    with pytest.raises(Unavailable), unreachable.bulk_load():
        pytest.fail("the load must not start")


def test_translated_leaves_other_errors_alone() -> None:
    with pytest.raises(KeyError), translated:
        raise KeyError("a bug")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_503_when_the_database_does_not_answer(
    client: TestClient, unreachable: Store, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    assert client.get(path).status_code == 200
    monkeypatch.setattr(client.app.state.store, "ping", unreachable.ping)  # type: ignore[attr-defined]
    response = client.get(path)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == 14
    assert body["details"][0]["reason"] == "DATABASE_UNAVAILABLE"
    assert "127.0.0.1" not in body["message"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_report_a_bug_as_internal(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug, not the database")

    monkeypatch.setattr(client.app.state.store, "ping", broken)  # type: ignore[attr-defined]
    response = client.get(path)
    assert response.status_code == 500
    assert response.json()["code"] == 13
    assert "does not answer" not in response.json()["message"]
