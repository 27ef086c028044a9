"""Every refusal of the file endpoints is a google.rpc error with the right code naming the file and the
problem, never a 500, and never leaves a stored partial file (real server, file storage, both databases)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from modelyard.storage.signing import SignedRequest, UrlSigner
from modelyard.store.tables import model_files
from tests.support.accounts import Account
from tests.support.api import uid
from tests.support.files import FilesServer


def _model(server: FilesServer, account: Account) -> str:
    model_id = uid("bad")
    created = account.client.post(
        f"/v1/accounts/{account.id}/models",
        json={"modelId": model_id, "model": {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}},
    )
    assert created.status_code == 200, created.text
    return model_id


def _upload_endpoint(account: Account, model_id: str, body: object) -> httpx.Response:
    return account.client.post(f"/v1/accounts/{account.id}/models/{model_id}:getUploadEndpoint", json=body)


def _error(response: httpx.Response, status: int, code: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../etc/passwd", "'..'"),
        ("a/../b.json", "'..'"),
        ("/abs.json", "leading '/'"),
        ("a//b.json", "segment ''"),
        ("./a.json", "segment '.'"),
        ("with space.json", "' '"),
        ("nul\x00.json", "'\\x00'"),
        ("café.json", "'é'"),
        ("a" * 1025, "1024 bytes"),
        ("", "empty"),
    ],
)
def test_bad_file_names(file_storage_server: FilesServer, name: str, problem: str) -> None:
    account = file_storage_server.new_account()
    model_id = _model(file_storage_server, account)
    body = _error(_upload_endpoint(account, model_id, {"filenameToSize": {name: "1"}}), 400, 3)
    assert body["message"].startswith("filenameToSize[")
    assert problem in body["message"]
    assert body["details"][0]["reason"] == "INVALID_FILE_NAME"
    assert body["details"][1]["fieldViolations"][0]["field"].startswith("filenameToSize[")


@pytest.mark.parametrize("size", ["abc", "-1", "9223372036854775808", "1.5", 1.5, True, None, "", " 1"])
def test_bad_sizes(file_storage_server: FilesServer, size: object) -> None:
    account = file_storage_server.new_account()
    model_id = _model(file_storage_server, account)
    body = _error(_upload_endpoint(account, model_id, {"filenameToSize": {"config.json": size}}), 400, 3)
    assert "config.json" in body["message"]
    assert body["details"][0]["reason"] == "INVALID_FILE_SIZE"


def test_bad_file_lists(file_storage_server: FilesServer) -> None:
    account = file_storage_server.new_account()
    model_id = _model(file_storage_server, account)
    too_many = {f"shard-{i:05d}.safetensors": "1" for i in range(10_001)}
    body = _error(_upload_endpoint(account, model_id, {"filenameToSize": too_many}), 400, 3)
    assert "10001 files" in body["message"] and "10000" in body["message"]
    assert (
        _error(_upload_endpoint(account, model_id, {}), 400, 3)["details"][0]["reason"] == "MISSING_FILE_LIST"
    )
    assert _error(_upload_endpoint(account, model_id, {"filenameToSize": {}}), 400, 3)
    assert _error(_upload_endpoint(account, model_id, {"filenameToSize": ["a"]}), 400, 3)
    body = _error(_upload_endpoint(account, model_id, {"filenameToSize": {"a": "1"}, "bogus": 1}), 400, 3)
    assert "bogus" in body["message"]
    raw = account.client.post(
        f"/v1/accounts/{account.id}/models/{model_id}:getUploadEndpoint", content=b"{not json"
    )
    _error(raw, 400, 3)
    missing = _upload_endpoint(account, uid("nope"), {"filenameToSize": {"a": "1"}})
    _error(missing, 404, 5)
    # Exactly 10,000 files are fine.
    ok = _upload_endpoint(account, model_id, {"filenameToSize": dict(list(too_many.items())[:10_000])})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["filenameToSignedUrls"]) == 10_000


@pytest.fixture()
def declared(file_storage_server: FilesServer) -> Iterator[tuple[Account, str, str]]:
    """An account, a model and the signed PUT URL of its 10-byte ``config.json``."""
    account = file_storage_server.new_account()
    model_id = _model(file_storage_server, account)
    response = _upload_endpoint(account, model_id, {"filenameToSize": {"config.json": "10"}})
    assert response.status_code == 200, response.text
    yield account, model_id, response.json()["filenameToSignedUrls"]["config.json"]


def _nothing_stored(server: FilesServer, account: Account, model_id: str) -> None:
    with server.store.engine.connect() as conn:
        rows = conn.execute(
            select(model_files.c.location, model_files.c.complete_time).where(
                model_files.c.account_id == account.id, model_files.c.model_id == model_id
            )
        ).all()
    assert rows and all(r.location is None and r.complete_time is None for r in rows)
    assert list((server.root / "tmp").iterdir()) == []


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


def test_tampered_and_expired_urls(
    file_storage_server: FilesServer, declared: tuple[Account, str, str]
) -> None:
    account, model_id, url = declared
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    for bad in (
        _with_query(url, signature=forged),
        _with_query(url, size="11"),
        url.replace("config", "conf1g"),
    ):
        body = _error(httpx.put(bad, content=b"x" * 10), 403, 7)
        assert body["details"][0]["reason"] == "INVALID_SIGNATURE"
    # A PUT URL is no download URL.
    _error(httpx.get(url), 403, 7)
    # Expired: signed with the server's own key (held in the database), an expiry in the past.
    signer = UrlSigner(file_storage_server.store.secret("file_url_key"))
    upload_id = parse_qs(urlsplit(url).query)["upload"][0]
    old = int(time.time()) - 5
    expired = signer.sign(
        file_storage_server.base_url,
        SignedRequest("PUT", account.id, model_id, "config.json", upload_id, 10, old),
    )
    body = _error(httpx.put(expired, content=b"x" * 10), 403, 7)
    assert body["details"][0]["reason"] == "SIGNED_URL_EXPIRED"
    assert "config.json" in body["message"] and "expired" in body["message"]
    _nothing_stored(file_storage_server, account, model_id)


def test_puts_of_the_wrong_length_keep_nothing(
    file_storage_server: FilesServer, declared: tuple[Account, str, str]
) -> None:
    account, model_id, url = declared
    for content in (b"x" * 9, b"x" * 11, b""):
        body = _error(httpx.put(url, content=content), 400, 3)
        assert "config.json" in body["message"] and "10 were declared" in body["message"]
        assert body["details"][0]["reason"] == "WRONG_LENGTH"

    def chunks(n: int) -> Iterator[bytes]:  # no Content-Length: the server counts
        for _ in range(n):
            yield b"xx"

    for n in (4, 6):
        body = _error(httpx.put(url, content=chunks(n)), 400, 3)
        assert body["details"][0]["reason"] == "WRONG_LENGTH"
    _nothing_stored(file_storage_server, account, model_id)
    # The right length is then accepted.
    assert httpx.put(url, content=chunks(5)).status_code == 200
    # A PUT after the model went away is refused too.
    assert account.client.delete(f"/v1/accounts/{account.id}/models/{model_id}").status_code == 200
    body = _error(httpx.put(url, content=b"x" * 10), 400, 9)
    assert body["details"][0]["reason"] == "UPLOAD_REPLACED"


def test_bad_validate_and_download_parameters(
    file_storage_server: FilesServer, declared: tuple[Account, str, str]
) -> None:
    account, model_id, _ = declared
    base = f"/v1/accounts/{account.id}/models/{model_id}"
    body = _error(account.client.get(base + ":validateUpload", params={"configOnly": "maybe"}), 400, 3)
    assert "configOnly" in body["message"]
    _error(account.client.get(f"/v1/accounts/{account.id}/models/Bad_Id:getDownloadEndpoint"), 400, 3)
    _error(httpx.get(file_storage_server.base_url + base + ":getDownloadEndpoint"), 401, 16)


def test_resumable_upload_on_file_storage(file_storage_server: FilesServer, tmp_path: Path) -> None:
    """The Google Cloud Storage resumable protocol: chunks with Content-Range, 308 + Range until done."""
    account = file_storage_server.new_account()
    model_id = _model(file_storage_server, account)
    data = bytes(range(256)) * 40  # 10,240 bytes
    response = _upload_endpoint(
        account, model_id, {"filenameToSize": {"w.bin": str(len(data))}, "enableResumableUpload": True}
    )
    url = response.json()["filenameToSignedUrls"]["w.bin"]
    start = httpx.post(url, headers={"x-goog-resumable": "start"})
    assert start.status_code == 201 and start.headers["location"] == url
    status = httpx.put(url, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.status_code == 308 and "range" not in status.headers
    first = httpx.put(url, content=data[:4096], headers={"Content-Range": f"bytes 0-4095/{len(data)}"})
    assert first.status_code == 308 and first.headers["range"] == "bytes=0-4095"
    # A chunk at the wrong offset is refused and changes nothing.
    wrong = httpx.put(url, content=data[:10], headers={"Content-Range": f"bytes 10-19/{len(data)}"})
    body = _error(wrong, 400, 9)
    assert body["details"][0]["metadata"]["persisted"] == "4096"
    # A chunk shorter than its range is cut off again.
    short = httpx.put(url, content=data[4096:5000], headers={"Content-Range": "bytes 4096-8191/*"})
    _error(short, 400, 3)
    status = httpx.put(url, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.status_code == 308 and status.headers["range"] == "bytes=0-4095"
    second = httpx.put(url, content=data[4096:8192], headers={"Content-Range": "bytes 4096-8191/*"})
    assert second.status_code == 308 and second.headers["range"] == "bytes=0-8191"
    last = httpx.put(url, content=data[8192:], headers={"Content-Range": f"bytes 8192-10239/{len(data)}"})
    assert last.status_code == 200, last.text
    done = httpx.put(url, headers={"Content-Range": f"bytes */{len(data)}"})
    assert done.status_code == 200
    _error(httpx.put(url, content=b"", headers={"Content-Range": "bytes 0-1/99"}), 400, 3)
    _error(httpx.put(url, content=b"", headers={"Content-Range": "pages 1"}), 400, 3)
    with file_storage_server.store.engine.connect() as conn:
        location = conn.execute(
            select(model_files.c.location).where(
                model_files.c.account_id == account.id, model_files.c.model_id == model_id
            )
        ).scalar_one()
    import hashlib

    assert location == "sha256:" + hashlib.sha256(data).hexdigest()
