"""``modelyard import`` into an empty catalog: the bulk load (one transaction, indexes built at the end)
and decoding in worker processes, on fresh SQLite and PostgreSQL databases, through the CLI and a server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from modelyard.importers.jsonl import import_lines
from modelyard.store.engine import make_engine
from modelyard.store.errors import CatalogNotEmpty
from modelyard.store.repository import Store
from tests.support.catalog_gen import generate_catalog
from tests.support.cli import modelyard_cli
from tests.support.server import start_server, stop_server


def _schema(url: str) -> list[str]:
    """Every index and constraint of the models table, as the database defines it."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rows = conn.execute(
                    text(
                        "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                        "WHERE indrelid = 'models'::regclass "
                        "UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conrelid = 'models'::regclass"
                    )
                ).all()
            else:
                rows = conn.execute(
                    text(
                        "SELECT name || ' ' || coalesce(sql, '') FROM sqlite_master WHERE tbl_name = 'models'"
                    )
                ).all()
        return sorted(r[0] for r in rows)
    finally:
        engine.dispose()


def _rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM models")).scalar_one())


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _catalog_lines(size: int = 300) -> list[str]:
    return [json.dumps({"modelId": model_id, **resource}) for model_id, resource in generate_catalog(7, size)]


def _exported(url: str, account: str, tmp_path: Path) -> list[dict[str, object]]:
    out = tmp_path / f"export-{account}.jsonl"
    result = modelyard_cli("export", "--account", account, "--db", url, "-o", str(out))
    assert result.returncode == 0, result.stderr
    models = [json.loads(line) for line in out.read_text().splitlines()]
    for m in models:
        assert isinstance(m["name"], str)
        m["name"] = m["name"].rsplit("/", 1)[1]
    return models


def test_bulk_load_stores_what_a_batch_import_stores(empty_db: str, tmp_path: Path) -> None:
    """Same file, same answers: the bulk load (worker processes, small batches) and the batch path
    report the same rejected lines and store the same models; afterwards every index and constraint of
    the models table is back exactly as it was."""
    before = _schema(empty_db)
    lines = _catalog_lines()
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({"modelId": "Bad_Id", "kind": "EMBEDDING_MODEL"}))
    lines.insert(250, lines[100])  # the same model again, in a later batch: the database finds it
    path = _write(tmp_path / "catalog.jsonl", lines)

    bulk = modelyard_cli(
        "import", str(path), "--account", "bulk", "--db", empty_db, "--bulk", "--jobs", "2",
        "--batch-size", "40",
    )  # fmt: skip
    assert "bulk load" in bulk.stderr
    batch = modelyard_cli(
        "import", str(path), "--account", "batch", "--db", empty_db, "--no-bulk", "--batch-size", "40"
    )
    assert "bulk load" not in batch.stderr
    reports = []
    for result in (bulk, batch):
        assert result.returncode == 1, result.stderr
        said = " ".join(result.stderr.split())
        assert "line 11: not valid JSON" in said
        assert "line 21: modelId: model id 'Bad_Id'" in said
        assert "line 251: model accounts/" in said and "already exists (use --upsert)" in said
        said = said.replace("accounts/bulk/", "accounts/batch/").replace("account 'bulk'", "account 'batch'")
        reports.append(re.findall(r"line \d+: [^:]+", said) + re.findall(r"Imported \d+ new", said))
    assert reports[0] == reports[1]
    assert len(reports[0]) > 4

    assert _schema(empty_db) == before
    assert _exported(empty_db, "bulk", tmp_path) == _exported(empty_db, "batch", tmp_path)
    store = Store(make_engine(empty_db))
    try:
        created = int(reports[0][-1].split()[1])
        assert store.count_all() == {"bulk": created, "batch": created}  # the accounts' exact counts
        assert _rows(store) == 2 * created
    finally:
        store.engine.dispose()


def test_bulk_upsert_keeps_the_last_copy_of_a_model(empty_db: str, tmp_path: Path) -> None:
    lines = [
        json.dumps({"modelId": "twice", "kind": "EMBEDDING_MODEL", "displayName": "first"}),
        json.dumps({"modelId": "once", "kind": "EMBEDDING_MODEL", "public": True}),
        json.dumps({"modelId": "twice", "kind": "EMBEDDING_MODEL", "displayName": "second"}),
    ]
    path = _write(tmp_path / "dup.jsonl", lines)
    result = modelyard_cli(
        "import", str(path), "--account", "up", "--db", empty_db, "--bulk", "--upsert", "--batch-size", "2"
    )
    assert result.returncode == 0, result.stderr
    assert "Imported 2 new and 1 replaced" in " ".join(result.stderr.split())
    models = {m["name"]: m for m in _exported(empty_db, "up", tmp_path)}
    assert models["twice"]["displayName"] == "second"
    assert sorted(models) == ["once", "twice"]


def test_bulk_refuses_a_catalog_that_holds_models(empty_db: str, tmp_path: Path) -> None:
    one = _write(tmp_path / "one.jsonl", [json.dumps({"modelId": "first", "kind": "EMBEDDING_MODEL"})])
    assert modelyard_cli("import", str(one), "--account", "a", "--db", empty_db).returncode == 0
    before = _schema(empty_db)
    more = _write(
        tmp_path / "more.jsonl",
        [json.dumps({"modelId": f"m{i}", "kind": "EMBEDDING_MODEL"}) for i in range(20)],
    )
    refused = modelyard_cli("import", str(more), "--account", "b", "--db", empty_db, "--bulk")
    assert refused.returncode == 2
    assert "--bulk loads only into an empty catalog" in " ".join(refused.stderr.split())
    assert _exported(empty_db, "b", tmp_path) == []
    assert _schema(empty_db) == before
    # Without --bulk the same file goes in batch by batch.
    assert modelyard_cli("import", str(more), "--account", "b", "--db", empty_db).returncode == 0
    assert len(_exported(empty_db, "b", tmp_path)) == 20


def test_a_failed_bulk_load_leaves_nothing_behind(empty_db: str) -> None:
    """Anything that fails during the load rolls all of it back: no models, no counts, and the indexes
    and foreign key that the load dropped are there again."""
    before = _schema(empty_db)
    store = Store(make_engine(empty_db))
    written = 0

    def progress(n: int) -> None:
        nonlocal written
        written += n
        if written >= 100:
            raise RuntimeError("the disk is full")

    lines = list(enumerate(_catalog_lines(), start=1))
    try:
        with pytest.raises(RuntimeError, match="the disk is full"):
            import_lines(store, lines, account="gone", batch_size=50, bulk=True, progress=progress)
        assert written == 100  # two batches were written, inside the load's transaction
        assert _rows(store) == 0
        assert store.count_all() == {}
        assert _schema(empty_db) == before
        # The catalog is still empty, so a second attempt may bulk-load it.
        report = import_lines(store, lines, account="gone", batch_size=50, bulk=True)
        assert report.created > 250
        with pytest.raises(CatalogNotEmpty):
            import_lines(store, lines, account="again", bulk=True)
    finally:
        store.engine.dispose()


def test_a_large_file_into_an_empty_catalog_is_bulk_loaded_and_served(empty_db: str, tmp_path: Path) -> None:
    """No options: 10,000 lines into an empty catalog take the bulk path with worker processes; the
    server then pages, counts and filters them with the rebuilt indexes."""
    lines = [
        json.dumps(
            {
                "modelId": f"m{i:05d}",
                "kind": "HF_BASE_MODEL",
                "displayName": f"{'Qwen' if i % 4 == 0 else 'Llama'} {i}",
                "baseModelDetails": {"parameterCount": str(1000 + i)},
                "public": i % 2 == 0,
            }
        )
        for i in range(10_000)
    ]
    path = _write(tmp_path / "big.jsonl", lines)
    result = modelyard_cli("import", str(path), "--account", "big", "--db", empty_db)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "bulk load into the empty catalog" in said and "building the indexes" in said
    assert "Imported 10000 new" in said
    store = Store(make_engine(empty_db))
    key = store.create_api_key("big", "test")
    store.engine.dispose()
    proc, base = start_server(empty_db)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            page = c.get("/v1/accounts/big/models", params={"pageSize": 3}).json()
            assert page["totalSize"] == 10_000
            assert [m["name"].rsplit("/", 1)[1] for m in page["models"]] == ["m00000", "m00001", "m00002"]
            qwen = c.get(
                "/v1/accounts/big/models",
                params={
                    "filter": 'display_name = "Qwen*"',
                    "orderBy": "base_model_details.parameter_count desc",
                },
            ).json()
            assert qwen["totalSize"] == 2_500
            assert qwen["models"][0]["name"].endswith("/m09996")
    finally:
        stop_server(proc)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_worker_chunks_keep_line_numbers(empty_db: str, tmp_path: Path, jobs: str) -> None:
    """Workers read their own chunks of the file: CRLF line ends, blank lines, a line that is not UTF-8
    and a last line without a line break are all numbered as an editor numbers them."""
    good = [json.dumps({"modelId": f"m{i}", "kind": "EMBEDDING_MODEL"}).encode() for i in range(7)]
    data = b"\r\n".join(
        [good[0], b"", good[1], b"\xff{not utf-8}", good[2], b"   ", good[3], b"{", good[4], good[5], good[6]]
    )  # no line break at the end
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(data)
    result = modelyard_cli(
        "import", str(path), "--account", "crlf", "--db", empty_db, "--jobs", jobs, "--batch-size", "3"
    )  # fmt: skip
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert re.findall(r"line (\d+): not valid JSON", said) == ["4", "8"]
    assert "Imported 7 new" in said and "2 lines rejected" in said
    assert sorted(m["name"] for m in _exported(empty_db, "crlf", tmp_path)) == [f"m{i}" for i in range(7)]


def test_import_from_stdin(empty_db: str, tmp_path: Path) -> None:
    lines = [json.dumps({"modelId": f"s{i}", "kind": "EMBEDDING_MODEL"}) for i in range(5)] + ["[]"]
    result = modelyard_cli(
        "import", "-", "--account", "stdin", "--db", empty_db, stdin="\n".join(lines) + "\n"
    )
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert "line 6: each line must be a JSON object" in said and "Imported 5 new" in said
    assert len(_exported(empty_db, "stdin", tmp_path)) == 5
    missing = modelyard_cli("import", str(tmp_path / "nope.jsonl"), "--account", "stdin", "--db", empty_db)
    assert missing.returncode == 2 and "no such file" in missing.stderr
