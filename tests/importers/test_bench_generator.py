"""The benchmark data generator (``bench/catalog.py``): deterministic, streaming, sliceable, and its
lines are exactly what ``modelyard import`` stores (issue 24: a generator for 10M models)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from bench.catalog import check_canonical, generate, json_line, write_jsonl
from modelyard.store.engine import make_engine
from modelyard.store.repository import Store
from tests.support.cli import modelyard_cli

ROOT = Path(__file__).resolve().parents[2]


def _jsonl(*args: str) -> bytes:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "catalog.py"), "jsonl", *args],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout


def test_the_command_writes_the_same_catalog_every_time_and_any_slice_of_it(tmp_path: Path) -> None:
    whole = _jsonl("300")
    assert whole == _jsonl("300")
    lines = whole.splitlines()
    assert len(lines) == 300 and len(set(lines)) == 300
    assert _jsonl("120", "--start", "100").splitlines() == lines[100:220]
    out = tmp_path / "models.jsonl"
    _jsonl("300", "--out", str(out))
    assert out.read_bytes() == whole
    names = {orjson.loads(line)["name"] for line in lines}
    assert len(names) == 300  # unique ids across the catalog


def test_items_are_computed_one_at_a_time() -> None:
    """A catalog of a trillion models starts at once: nothing is built ahead of the item asked for."""
    first = next(generate(10**12, start=7, descriptions="demo"))
    assert first == next(generate(1, start=7, descriptions="demo"))


def test_demo_descriptions_change_only_the_description() -> None:
    check_canonical(300, descriptions="demo")
    for (short_id, short), (demo_id, demo) in zip(
        generate(300), generate(300, descriptions="demo"), strict=True
    ):
        assert short_id == demo_id
        assert {k: v for k, v in short.items() if k != "description"} == {
            k: v for k, v in demo.items() if k != "description"
        }
        assert 60 <= len(demo["description"]) <= 300, demo["description"]
        assert demo["description"] != short["description"]
        if "peftDetails" in demo and "LoRA rank" in demo["description"]:
            assert f"LoRA rank {demo['peftDetails']['r']} " in demo["description"]


class _Sink:
    def __init__(self) -> None:
        self.writes: list[int] = []
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.writes.append(len(data))
        self.data += data
        return len(data)


def test_write_jsonl_writes_in_bounded_chunks() -> None:
    sink = _Sink()
    written = write_jsonl(sink, 2_500, chunk=1000, descriptions="demo")  # type: ignore[arg-type]
    assert written == len(sink.data) and len(sink.writes) == 3
    expected = b"".join(json_line(i, r) + b"\n" for i, r in generate(2_500, descriptions="demo"))
    assert bytes(sink.data) == expected


def test_modelyard_import_stores_every_line_as_generated(tmp_path: Path) -> None:
    path = tmp_path / "models.jsonl"
    path.write_bytes(_jsonl("400"))
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    proc = modelyard_cli("import", str(path), "--account", "bench", "--db", url)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 400 new" in " ".join(proc.stderr.split())
    store = Store(make_engine(url))
    try:
        for model_id, resource in generate(400, descriptions="demo"):
            found = store.get_model(f"accounts/bench/models/{model_id}")
            assert found is not None, model_id
            got, public = found
            assert public == bool(resource.get("public"))
            assert got["description"] == resource["description"]
            assert got["displayName"] == resource["displayName"]
    finally:
        store.engine.dispose()
