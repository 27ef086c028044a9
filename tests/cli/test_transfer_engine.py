"""The upload and download engines (``modelyard.client.upload`` / ``download``) against a real HTTP server
that behaves like Fireworks with Google Cloud Storage signed URLs (``tests/support/fake_gcs.py``), with faults
injected: 503s, chunks half stored, downloads cut off, files the server lost, unsafe names.
The same engines against ``modelyard serve`` are in ``tests/files/test_cli_commands.py``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpcore
import pytest

from modelyard.client.download import Downloader, safe_target
from modelyard.client.http import ModelyardClient
from modelyard.client.transfer import READ_BYTES, RetryPolicy, TransferError, signed_url_client
from modelyard.client.upload import BadPath, Uploader, UploadOptions, UploadResult, scan_directory
from modelyard.client.upload_state import UploadState
from tests.support.fake_gcs import ACCOUNT, KEY, FakeFireworks, running

FAST = RetryPolicy(attempts=4, initial=0.01, maximum=0.05)
KIB = 1024


class Recorder:
    """A Progress that keeps the bytes each file counts as moved."""

    def __init__(self) -> None:
        self.moved: dict[str, int] = {}
        self.finished: dict[str, bool] = {}

    def start(self, name: str, size: int, done: int) -> None:
        self.moved[name] = done

    def advance(self, name: str, nbytes: int) -> None:
        self.moved[name] += nbytes

    def rewind(self, name: str, done: int) -> None:
        self.moved[name] = done

    def finish(self, name: str, *, skipped: bool = False) -> None:
        self.finished[name] = skipped


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFireworks]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    server = FakeFireworks()
    with running(server):
        yield server


def write_files(root: Path, sizes: dict[str, int], seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for name, size in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(size)
        path.write_bytes(data)
        out[name] = data
    return out


def make_uploader(
    fake: FakeFireworks, root: Path, model_id: str, **options: object
) -> tuple[Uploader, Recorder]:
    api = ModelyardClient(fake.base_url, KEY)
    if model_id not in fake.models:
        api.create_model(ACCOUNT, model_id, {"kind": "HF_BASE_MODEL"})
    model = api.get_model(ACCOUNT, model_id)
    files, _ = scan_directory(root)
    state = UploadState.open(fake.base_url, model["name"], model["createTime"], root)
    progress = Recorder()
    opts = UploadOptions(retry=options.pop("retry", FAST), **options)  # type: ignore[arg-type]
    return Uploader(api, ACCOUNT, model_id, files, state, opts, progress), progress


def stored(fake: FakeFireworks, model_id: str) -> dict[str, bytes]:
    return {name: data for (m, name), data in fake.objects.items() if m == model_id}


def test_plain_upload_sends_the_gcs_headers_never_the_key_and_retries_503(
    fake: FakeFireworks, tmp_path: Path
) -> None:
    root = tmp_path / "model"
    data = write_files(root, {"config.json": 100, "model.safetensors": 300 * KIB, "sub/dir/empty.bin": 0})
    write_files(root, {".gitattributes": 5, ".cache/huggingface/x.lock": 3}, seed=2)
    fake.faults.unavailable = 2
    up, progress = make_uploader(fake, root, "plain", resumable=False, jobs=3)
    fake.faults.api_unavailable = 2  # :getUploadEndpoint answers 503 twice
    result = up.run()

    assert stored(fake, "plain") == data  # hidden entries stayed home
    assert sorted(result.uploaded) == sorted(data) and result.skipped == []
    assert result.validation == {"warnings": ["tokenizer.json is missing"]}
    assert fake.models["plain"]["state"] == "READY"
    assert fake.resumable_requested == [False]
    puts = [s for s in fake.signed_requests() if s.method == "PUT"]
    assert len(puts) == 3 + 2  # two answered 503 and were sent again
    for seen in fake.signed_requests():
        assert "authorization" not in seen.headers and "x-api-key" not in seen.headers
    for seen in puts:
        size = len(data[seen.path.split("/", 3)[3]])
        assert seen.headers["content-type"] == "application/octet-stream"
        assert seen.headers["x-goog-content-length-range"] == f"{size},{size}"
    assert progress.moved == {name: len(b) for name, b in data.items()}
    assert not up.state.path.exists()  # validated: nothing left to remember


def test_resumable_upload_follows_location_and_recovers_a_half_stored_chunk(
    fake: FakeFireworks, tmp_path: Path
) -> None:
    root = tmp_path / "model"
    data = write_files(root, {"model.safetensors": 1536 * KIB + 7, "config.json": 10})
    fake.faults.half_chunks = 1
    fake.faults.unavailable = 1
    up, progress = make_uploader(fake, root, "resum", resumable=True, chunk_size=256 * KIB, jobs=2)
    result = up.run()

    assert stored(fake, "resum") == data
    assert result.resumable and fake.resumable_requested == [True]
    seen = fake.signed_requests()
    starts = [s for s in seen if s.method == "POST"]
    assert {s.path for s in starts} == {"/bucket/resum/model.safetensors", "/bucket/resum/config.json"}
    assert all(s.headers["x-goog-resumable"] == "start" for s in starts)
    chunks = [s for s in seen if s.method == "PUT"]
    assert all(s.path.startswith("/upload/") for s in chunks)
    # after the half-stored chunk the client asked what arrived, then went on from there
    assert any(s.headers["content-range"].startswith("bytes */") for s in chunks)
    assert progress.moved == {name: len(b) for name, b in data.items()}


def test_an_interrupted_upload_skips_complete_files_and_resumes_the_session(
    fake: FakeFireworks, tmp_path: Path
) -> None:
    root = tmp_path / "model"
    big = 1024 * KIB
    data = write_files(root, {"a.json": 50, "b.json": 60, "big.safetensors": big})
    fake.faults.session_limit = 512 * KIB  # the third chunk of big never gets through
    up, _ = make_uploader(fake, root, "again", resumable=True, chunk_size=256 * KIB, jobs=1)
    with pytest.raises(TransferError, match=r"big\.safetensors.*gave up after 4 attempts"):
        up.run()
    assert up.state.path.exists()
    assert fake.models["again"]["state"] == "UPLOADING"

    fake.faults.session_limit = None
    fake.seen.clear()
    up2, progress = make_uploader(fake, root, "again", resumable=True, chunk_size=256 * KIB, jobs=1)
    result = up2.run()
    assert stored(fake, "again") == data
    assert sorted(result.skipped) == ["a.json", "b.json"] and result.uploaded == ["big.safetensors"]
    assert result.bytes_sent == big - 512 * KIB  # only what the session lacked
    assert fake.resumable_requested == [True]  # the fresh signed URLs were reused, not declared again
    seen = fake.signed_requests()
    assert not any(s.path.endswith(("a.json", "b.json")) for s in seen)
    assert seen[0].method == "PUT" and seen[0].headers["content-range"] == f"bytes */{big}"
    assert progress.finished == {"a.json": True, "b.json": True, "big.safetensors": False}


def test_files_the_server_lost_are_sent_again_after_validation_names_them(
    fake: FakeFireworks, tmp_path: Path
) -> None:
    root = tmp_path / "model"
    data = write_files(root, {"a.json": 50, "b.json": 60})
    fake.faults.broken = {"b.json"}
    up, _ = make_uploader(fake, root, "lost", resumable=False)
    with pytest.raises(TransferError, match=r"b\.json: upload refused: HTTP 503: ServiceUnavailable"):
        up.run()
    del fake.objects[("lost", "a.json")]  # the server lost a.json although it took it
    fake.faults.broken = set()
    up2, _ = make_uploader(fake, root, "lost", resumable=False)
    result: UploadResult = up2.run()
    assert result.uploaded == ["b.json", "a.json"] and result.skipped == []
    assert stored(fake, "lost") == data and fake.models["lost"]["state"] == "READY"


def _ready_model(fake: FakeFireworks, model_id: str, files: dict[str, bytes]) -> None:
    fake.models[model_id] = {"name": f"accounts/{ACCOUNT}/models/{model_id}", "state": "READY"}
    fake.declared[model_id] = {name: len(b) for name, b in files.items()}
    fake.objects.update({(model_id, name): b for name, b in files.items()})


def test_download_resumes_cut_transfers_and_partial_files_and_checks_md5(
    fake: FakeFireworks, tmp_path: Path
) -> None:
    rng = random.Random(3)
    files = {"config.json": rng.randbytes(300), "w/model.safetensors": rng.randbytes(700 * KIB), "e": b""}
    _ready_model(fake, "dl", files)
    api = ModelyardClient(fake.base_url, KEY)
    dest = tmp_path / "out"
    fake.faults.cut_downloads = 1
    fake.faults.api_unavailable = 1
    result = Downloader(api, ACCOUNT, "dl", dest, jobs=2, retry=FAST).run()
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files
    assert result.downloaded == sorted(files) and result.verified == sorted(files)
    assert not any(s.headers.get("authorization") for s in fake.signed_requests())

    again = Downloader(api, ACCOUNT, "dl", dest, retry=FAST).run()
    assert again.skipped == sorted(files) and again.downloaded == [] and again.bytes_received == 0

    target = dest / "w/model.safetensors"
    target.unlink()
    part = target.with_name("model.safetensors.part")
    part.write_bytes(files["w/model.safetensors"][:1000])
    resumed = Downloader(api, ACCOUNT, "dl", dest, retry=FAST).run()
    assert resumed.resumed == ["w/model.safetensors"] and resumed.bytes_received == 700 * KIB - 1000
    assert target.read_bytes() == files["w/model.safetensors"] and not part.exists()

    target.unlink()
    part.write_bytes(b"\0" * 1000)  # a partial file that is not the server's bytes
    with pytest.raises(
        TransferError, match=r"w/model\.safetensors: the md5 of the received bytes does not match"
    ):
        Downloader(api, ACCOUNT, "dl", dest, retry=FAST).run()
    assert not part.exists() and not target.exists()


def test_download_refuses_names_that_leave_the_directory(fake: FakeFireworks, tmp_path: Path) -> None:
    _ready_model(fake, "evil", {"config.json": b"{}"})
    fake.faults.extra_download_names = ["../escaped.txt"]
    api = ModelyardClient(fake.base_url, KEY)
    with pytest.raises(TransferError, match=r"'\.\./escaped\.txt', which is not a safe relative path"):
        Downloader(api, ACCOUNT, "evil", tmp_path / "out").run()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out").exists()
    for bad in ("/etc/passwd", "a//b", "a/./b", "", "a\\b"):
        with pytest.raises(TransferError):
            safe_target(tmp_path, bad)


def test_scan_directory_rules(tmp_path: Path) -> None:
    with pytest.raises(BadPath, match="no such directory"):
        scan_directory(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadPath, match="no files to upload"):
        scan_directory(tmp_path / "empty")
    root = tmp_path / "m"
    write_files(root, {"config.json": 3, "weights/part-1.bin": 4})
    (tmp_path / "outside.bin").write_bytes(b"12345")
    (root / "linked.bin").symlink_to(tmp_path / "outside.bin")  # HF cache snapshots are symlinks
    (root / "loop").symlink_to(root)  # a linked folder is not walked
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    files, left_out = scan_directory(root)
    found = [(f.name, f.size) for f in files]
    assert found == [("config.json", 3), ("linked.bin", 5), ("weights/part-1.bin", 4)]
    assert left_out == [".git/", "loop/"]
    (root / "bad name.txt").write_bytes(b"x")
    with pytest.raises(BadPath, match=r"bad name\.txt: file names may only use"):
        scan_directory(root)


def test_signed_urls_older_than_45_minutes_are_asked_for_again(fake: FakeFireworks, tmp_path: Path) -> None:
    root = tmp_path / "model"
    data = write_files(root, {"a.json": 50, "b.json": 60})
    fake.faults.broken = {"b.json"}
    up, _ = make_uploader(fake, root, "old", resumable=False)
    with pytest.raises(TransferError):
        up.run()
    saved = json.loads(up.state.path.read_text())
    assert oct(up.state.path.stat().st_mode & 0o777) == "0o600"  # signed URLs are credentials for an hour
    saved["signedAt"] -= 46 * 60
    up.state.path.write_text(json.dumps(saved))
    fake.faults.broken = set()
    fake.seen.clear()
    up2, _ = make_uploader(fake, root, "old", resumable=False)
    result = up2.run()
    assert fake.resumable_requested == [False, False]  # declared again
    assert result.skipped == ["a.json"] and result.uploaded == ["b.json"]  # GCS kept a.json
    assert stored(fake, "old") == data
    assert [s.path for s in fake.signed_requests()] == ["/bucket/old/b.json"]


def test_the_signed_url_client_reads_a_mebibyte_at_a_time() -> None:
    """httpcore reads 64 KiB per socket read unless told otherwise; downloads cost half the CPU with 1 MiB."""
    signed_url_client().close()
    assert httpcore.HTTP11Connection.READ_NUM_BYTES == READ_BYTES == 1 << 20
