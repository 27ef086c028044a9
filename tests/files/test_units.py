"""The parts of the model-file lifecycle below the HTTP layer: file names and sizes, URL signing, the
storage URL, file storage's blobs, and the safetensors checks of validation (real files, no mocks)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from modelyard.files.errors import FileError
from modelyard.files.names import check_file_name, parse_file_sizes
from modelyard.files.validate import Flags, check_safetensors, validate_base_model
from modelyard.storage import default_storage_url, open_storage
from modelyard.storage.base import FileRef
from modelyard.storage.local import LocalReader, LocalStorage
from modelyard.storage.s3 import S3Storage
from modelyard.storage.signing import SignatureError, SignedRequest, UrlSigner


@pytest.mark.parametrize(
    "name", ["config.json", "a/b/c.safetensors", "model-00001-of-00002.safetensors", "x" * 1024, ".hidden"]
)
def test_good_file_names(name: str) -> None:
    check_file_name(name)


def test_sizes_are_int64() -> None:
    assert parse_file_sizes({"a": "0", "b": 12, "c": str(2**63 - 1)}) == {"a": 0, "b": 12, "c": 2**63 - 1}
    with pytest.raises(FileError) as info:
        parse_file_sizes({"a": str(2**63)})
    assert info.value.reason == "INVALID_FILE_SIZE" and "'a'" in info.value.message


def test_signed_urls() -> None:
    signer = UrlSigner(b"k" * 32)
    expires = int(time.time()) + 60
    url = signer.sign("http://h:1/", SignedRequest("PUT", "acct", "m", "dir/w.bin", "u1", 5, expires))
    assert url.startswith("http://h:1/v1/files/accounts/acct/models/m/dir/w.bin?")
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    assert signer.verify("PUT", "acct", "m", "dir/w.bin", query).size == 5
    for method, model, path, changes in (
        ("GET", "m", "dir/w.bin", {}),
        ("PUT", "m2", "dir/w.bin", {}),
        ("PUT", "m", "dir/x.bin", {}),
        ("PUT", "m", "dir/w.bin", {"size": "6"}),
        ("PUT", "m", "dir/w.bin", {"upload": "u2"}),
        ("PUT", "m", "dir/w.bin", {"expires": str(expires + 1)}),
    ):
        with pytest.raises(SignatureError) as info:
            signer.verify(method, "acct", model, path, {**query, **changes})
        assert info.value.reason == "INVALID_SIGNATURE"
    with pytest.raises(SignatureError):
        UrlSigner(b"other-secret-of-32-bytes-0000000").verify("PUT", "acct", "m", "dir/w.bin", query)
    with pytest.raises(SignatureError):
        signer.verify("PUT", "acct", "m", "dir/w.bin", {"upload": "u1"})


def test_storage_urls(tmp_path: Path) -> None:
    assert default_storage_url(f"sqlite:///{tmp_path}/modelyard.db") == f"file://{tmp_path}/blobs"
    assert default_storage_url(f"sqlite:///{tmp_path}/other.db") == f"file://{tmp_path}/other-blobs"
    assert default_storage_url("postgresql+psycopg://u@h/db").endswith("/blobs")
    local = open_storage(f"file://{tmp_path}/store")
    assert isinstance(local, LocalStorage) and (tmp_path / "store" / "blobs" / "sha256").is_dir()
    remote = open_storage("s3://bucket/some/prefix")
    assert isinstance(remote, S3Storage) and remote.prefix == "some/prefix/"
    ref = FileRef("a", "m", "d/w.bin", 3, "u")
    assert remote.key(ref) == "some/prefix/accounts/a/models/m/u/d/w.bin"
    for bad in ("file://host/x", "file:relative", "s3:///nobucket", "gs://bucket"):
        with pytest.raises(ValueError):
            open_storage(bad)


def test_blobs_are_stored_once_by_content(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "s")
    data = [b"ab" * 1000, b"", b"c" * 70_000]
    shas = []

    async def put() -> str:
        temp = storage.begin_put()
        for chunk in data:
            await temp.write(chunk)
        sha = await temp.finish()
        storage.place(temp.path, sha)
        return sha

    for _ in range(2):
        shas.append(asyncio.run(put()))
    expected = hashlib.sha256(b"".join(data)).hexdigest()
    assert shas == [expected, expected]
    assert [b.sha256 for b in storage.list_blobs()] == [expected]
    assert storage.blob_path(expected).read_bytes() == b"".join(data)
    assert list(storage.tmp.iterdir()) == []
    assert storage.delete_blob(expected) == 72_000
    assert storage.delete_blob(expected) == 0


def _safetensors(path: Path, n: int = 3) -> Path:
    save_file({f"t{i}": np.zeros((2, 3), dtype=np.float32) for i in range(n)}, str(path))
    return path


def _reader(path: Path) -> LocalReader:
    return LocalReader(path, path.stat().st_size)


def _rewrite_header(path: Path, change: dict[str, object]) -> Path:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.update(change)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + length :])
    return path


def test_safetensors_checks(tmp_path: Path) -> None:
    good = _safetensors(tmp_path / "good.safetensors")
    assert check_safetensors("good.safetensors", _reader(good)) == 18
    cases = {
        "dtype": ({"t0": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 24]}}, "need 12"),
        "unknown dtype": ({"t0": {"dtype": "Q4", "shape": [2, 3], "data_offsets": [0, 24]}}, "unknown dtype"),
        "offsets": ({"t0": {"dtype": "F32", "shape": [2, 3], "data_offsets": [24, 0]}}, "data_offsets"),
        "shape": ({"t0": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 24]}}, "no valid shape"),
    }
    for name, (change, message) in cases.items():
        path = _rewrite_header(_safetensors(tmp_path / f"{name}.safetensors"), change)
        with pytest.raises(FileError) as info:
            check_safetensors("w.safetensors", _reader(path))
        assert message in info.value.message, name
        assert info.value.message.startswith("w.safetensors: ")
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(good.read_bytes() + b"\0")
    with pytest.raises(FileError, match="holds 73"):
        check_safetensors("w.safetensors", _reader(padded))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x05\0\0\0\0\0\0\0{nope")
    with pytest.raises(FileError, match="not valid JSON"):
        check_safetensors("w.safetensors", _reader(garbage))


def test_base_model_validation_from_stored_files(tmp_path: Path) -> None:
    weights = _safetensors(tmp_path / "model.safetensors", n=4)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "llama", "max_position_embeddings": 8192, "num_experts": 8}))
    readers = {p.name: (lambda p=p: _reader(p)) for p in (weights, config)}
    outcome = validate_base_model({"baseModelDetails": {"worldSize": 2, "moe": False}}, readers, Flags())
    assert outcome.updates["baseModelDetails"] == {
        "worldSize": 2,
        "moe": True,
        "checkpointFormat": "HUGGINGFACE",
        "huggingfaceFiles": ["config.json", "model.safetensors"],
        "parameterCount": "24",
        "modelType": "llama",
    }
    assert outcome.updates["contextLength"] == 8192
    assert outcome.warnings == ["no tokenizer files (tokenizer.json, tokenizer.model, tokenizer_config.json, "
                                "vocab.json) were uploaded"]  # fmt: skip
    assert validate_base_model({}, readers, Flags(config_only=True)).warnings == []
    no_config = {"model.safetensors": readers["model.safetensors"]}
    with pytest.raises(FileError, match=r"config\.json: missing"):
        validate_base_model({}, no_config, Flags())
    assert validate_base_model({}, no_config, Flags(skip_hf_config_validation=True)).updates


def test_the_access_log_cuts_url_signatures() -> None:
    from modelyard.api.accesslog import redact_query

    signature = "ab" * 32
    logged = redact_query(f"upload=u1&size=5&expires=9&signature={signature}".encode())
    assert signature not in logged and logged.endswith("signature=abababab...")


def test_file_settings_from_the_environment() -> None:
    from modelyard.settings import Settings

    settings = Settings.from_env(
        {
            "MODELYARD_STORAGE": "s3://b/p",
            "MODELYARD_GC_INTERVAL": "30",
            "MODELYARD_PUBLIC_URL": "https://r.x/",
        }
    )
    assert (settings.storage_url, settings.gc_interval, settings.public_url) == (
        "s3://b/p",
        30.0,
        "https://r.x",
    )
    assert Settings.from_env({"MODELYARD_GC_INTERVAL": "soon"}).gc_interval == 600.0
    assert (
        Settings.from_env({"MODELYARD_STORAGE": "s3://b"}, storage_url="file:///x").storage_url == "file:///x"
    )


def test_signed_urls_use_the_public_url(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modelyard.api.app import create_app
    from modelyard.settings import Settings
    from modelyard.store.engine import make_engine
    from modelyard.store.repository import Store

    store = Store(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    settings = Settings(public_url="https://registry.example.com", gc_interval=0)
    app = create_app(store, settings=settings, storage=LocalStorage(tmp_path / "files"))
    key = store.create_api_key("acct")
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}
        created = client.post(
            "/v1/accounts/acct/models", headers=auth, json={"modelId": "m", "model": {"kind": "CUSTOM_MODEL"}}
        )
        assert created.status_code == 200, created.text
        urls = client.post(
            "/v1/accounts/acct/models/m:getUploadEndpoint",
            headers=auth,
            json={"filenameToSize": {"a.bin": "1"}},
        ).json()["filenameToSignedUrls"]
    assert urls["a.bin"].startswith("https://registry.example.com/v1/files/accounts/acct/models/m/a.bin?")
    store.engine.dispose()


def test_the_file_store_reports_an_unreachable_database_as_unavailable() -> None:
    from modelyard.store.engine import make_engine
    from modelyard.store.errors import Unavailable
    from modelyard.store.files import FileStore

    engine = make_engine("postgresql://postgres@127.0.0.1:1/nothing")  # a refused connection
    files = FileStore(engine)
    with pytest.raises(Unavailable):
        files.files("acct", "m")
    with pytest.raises(Unavailable):
        files.declare("acct", "m", {"a": 1}, "u", 0, lambda model: None)
    engine.dispose()
