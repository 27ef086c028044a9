"""The admin data path: keys, import and export from the command line, against real databases."""

from __future__ import annotations

import json
from pathlib import Path

from modelyard.importers.demo import demo_catalog
from tests.support.cli import modelyard_cli
from tests.support.server import Server


def test_keys_create_prints_a_working_key(server: Server) -> None:
    result = modelyard_cli("keys", "create", "--account", "cli-keys-acct", "--db", server.db_url)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("my_")
    owner = server.store.check_key(key)
    assert owner is not None and owner.account_id == "cli-keys-acct"
    bad = modelyard_cli("keys", "create", "--account", "Bad_Account", "--db", server.db_url)
    assert bad.returncode == 2
    assert "Bad_Account" in bad.stderr


def test_import_reports_bad_lines_and_keeps_good_ones(server: Server, tmp_path: Path) -> None:
    account = server.new_account("imp")
    lines = [
        json.dumps({"name": "accounts/x/models/good-one", "kind": "EMBEDDING_MODEL", "state": "READY"}),
        "{not json",
        json.dumps({"name": "accounts/x/models/Bad_Id", "kind": "EMBEDDING_MODEL"}),
        json.dumps({"name": "accounts/x/models/good-two", "kind": "HF_BASE_MODEL"}),  # no baseModelDetails
        json.dumps(
            {
                "name": "accounts/x/models/good-three",
                "kind": "HF_BASE_MODEL",
                "baseModelDetails": {"parameterCount": "123"},
                "supportsServerless": True,
                "createTime": "2024-01-02T03:04:05.123456Z",
            }
        ),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = modelyard_cli(
        "import", str(path), "--account", account.id, "--db", server.db_url, "--batch-size", "2"
    )
    assert result.returncode == 1
    assert "line 2:" in result.stderr and "line 3:" in result.stderr and "line 4:" in result.stderr
    assert "baseModelDetails" in result.stderr
    r = account.client.get(account.url())
    models = {m["name"].rsplit("/", 1)[1]: m for m in r.json()["models"]}
    assert sorted(models) == ["good-one", "good-three"]
    assert models["good-three"]["supportsServerless"] is True
    assert models["good-three"]["createTime"] == "2024-01-02T03:04:05.123456Z"
    assert models["good-one"]["state"] == "READY"

    again = modelyard_cli("import", str(path), "--account", account.id, "--db", server.db_url)
    assert "already exist" in again.stderr and "--upsert" in again.stderr  # one summary line
    upsert = modelyard_cli("import", str(path), "--account", account.id, "--db", server.db_url, "--upsert")
    assert "2 replaced" in upsert.stderr.replace("\n", " ")


def test_export_import_round_trip(server: Server, tmp_path: Path) -> None:
    source = server.new_account("src")
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(m) + "\n" for m in demo_catalog()))
    assert (
        modelyard_cli("import", str(catalog), "--account", source.id, "--db", server.db_url).returncode == 0
    )
    first = tmp_path / "first.jsonl"
    exported = modelyard_cli("export", "--account", source.id, "--db", server.db_url, "-o", str(first))
    assert exported.returncode == 0, exported.stderr
    assert len(first.read_text().splitlines()) == len(demo_catalog())

    target = server.new_account("dst")
    assert modelyard_cli("import", str(first), "--account", target.id, "--db", server.db_url).returncode == 0
    second = modelyard_cli("export", "--account", target.id, "--db", server.db_url)
    again = [json.loads(line) for line in second.stdout.splitlines()]
    before = [json.loads(line) for line in first.read_text().splitlines()]
    for a, b in zip(before, again, strict=True):
        assert a["name"].replace(source.id, target.id) == b["name"]
        assert {k: v for k, v in a.items() if k != "name"} == {k: v for k, v in b.items() if k != "name"}
    # and the demo catalog itself survives the trip field for field
    originals = {m["name"].rsplit("/", 1)[1]: m for m in demo_catalog()}
    for b in again:
        original = originals[b["name"].rsplit("/", 1)[1]]
        assert {k: v for k, v in original.items() if k != "name"} == {
            k: v for k, v in b.items() if k != "name"
        }
