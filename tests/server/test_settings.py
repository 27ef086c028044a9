"""The server's ``Settings``: built once from flags and the environment, passed to ``create_app``, and
handed to worker processes by a picklable ``AppFactory`` (never through ``os.environ``)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from modelyard.serving.server import AppFactory
from modelyard.settings import MAX_DRAIN_SECONDS, Settings
from modelyard.store.engine import make_engine
from modelyard.store.migrate import upgrade
from modelyard.store.repository import Store
from tests.support.server import start_server, stop_server


def test_from_env_reads_the_environment_and_flags_override_it() -> None:
    env = {
        "MODELYARD_DB": "sqlite:///env.db",
        "MODELYARD_ACCESS_LOG": "off",
        "MODELYARD_DRAIN_SECONDS": "2.5",
    }
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.access_log, settings.drain_seconds) == (
        "sqlite:///env.db",
        False,
        2.5,
    )
    assert Settings.from_env(env, database_url="sqlite:///flag.db").database_url == "sqlite:///flag.db"
    assert Settings.from_env(env, database_url=None).database_url == "sqlite:///env.db"  # None: not given
    assert Settings.from_env({}) == Settings()
    assert Settings().access_log is True
    for value in ("0", "false", "No", " OFF "):
        assert Settings.from_env({"MODELYARD_ACCESS_LOG": value}).access_log is False
    assert Settings.from_env({"MODELYARD_DRAIN_SECONDS": "soon"}).drain_seconds == 0.0
    assert Settings.from_env({"MODELYARD_DRAIN_SECONDS": "-3"}).drain_seconds == 0.0
    assert Settings.from_env({"MODELYARD_DRAIN_SECONDS": "1e9"}).drain_seconds == MAX_DRAIN_SECONDS
    with pytest.raises(TypeError, match="unknown setting 'port'"):
        Settings.from_env({}, port=1)


def test_a_file_path_becomes_a_sqlite_url(tmp_path: Path) -> None:
    url = Settings(database_url=str(tmp_path / "x.db")).resolved_database_url()
    assert url == f"sqlite:///{(tmp_path / 'x.db').resolve()}"


def test_the_app_factory_survives_pickling_and_serves_its_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'factory.db'}"
    store = Store(make_engine(url))
    upgrade(store.engine)
    key = store.create_api_key("factory", "test")
    store.engine.dispose()
    settings = Settings(database_url=url, access_log=False, drain_seconds=3.0)
    factory = pickle.loads(pickle.dumps(AppFactory(settings)))  # as uvicorn hands it to a worker
    app = factory()
    assert app.state.settings == settings
    assert app.state.observability.access_log is None
    assert app.state.observability.drain_seconds == 3.0
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        listed = client.get("/v1/accounts/factory/models", headers={"Authorization": f"Bearer {key}"})
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"models": [], "totalSize": 0}


def test_workers_serve_the_database_given_by_flag_not_the_environment(tmp_path: Path) -> None:
    """``--db`` wins over ``MODELYARD_DB`` in every worker: the two worker processes get the settings
    from the AppFactory, and the environment they inherit names another database."""
    url = f"sqlite:///{tmp_path / 'flag.db'}"
    other = f"sqlite:///{tmp_path / 'env.db'}"
    store = Store(make_engine(url))
    upgrade(store.engine)
    key = store.create_api_key("flagged", "test")
    store.engine.dispose()
    proc, base = start_server(url, "--workers", "2", env={"MODELYARD_DB": other})
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for _ in range(8):  # new connections, spread over both workers
                response = client.get("/v1/accounts/flagged/models", headers={"Connection": "close"})
                assert response.status_code == 200, response.text
    finally:
        stop_server(proc)
    assert not (tmp_path / "env.db").exists()


def test_import_jsonl_subcommand_and_the_short_form(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'imp.db'}"
    path = tmp_path / "models.jsonl"
    path.write_text(
        '{"modelId": "one", "kind": "EMBEDDING_MODEL"}\n{"modelId": "two", "kind": "EMBEDDING_MODEL"}\n'
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelyard.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        )

    long_form = cli("import", "jsonl", str(path), "--account", "a", "--db", db)
    assert long_form.returncode == 0, long_form.stderr
    assert "Imported 2 new and 0 replaced models into account 'a'" in long_form.stderr
    short_form = cli("import", str(path), "--account", "b", "--db", db)
    assert short_form.returncode == 0, short_form.stderr
    assert "Imported 2 new and 0 replaced models into account 'b'" in short_form.stderr
    store = Store(make_engine(db))
    try:
        for account in ("a", "b"):
            names = sorted(json.loads(line)["name"] for line in store.export_models(account))
            assert names == [f"accounts/{account}/models/one", f"accounts/{account}/models/two"]
    finally:
        store.engine.dispose()
    helped = cli("import", "--help")
    assert helped.returncode == 0
    assert "jsonl" in helped.stdout and "hf" in helped.stdout
