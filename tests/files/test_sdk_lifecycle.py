"""The model-file lifecycle through the official ``fireworks-ai`` SDK (1.2.30, unchanged) against a real
``modelyard serve``, on SQLite and PostgreSQL, with file storage and S3 storage (moto's S3 server):
getUploadEndpoint -> PUT to the signed URLs -> validateUpload -> READY -> getDownloadEndpoint -> GET.
(decisions.md "Model files"; fireworks-models-api.md §1 and §7.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from fireworks import BadRequestError, NotFoundError, PermissionDeniedError

from tests.support.api import uid
from tests.support.files import FilesServer, lora_files, put_all, qwen2_files, sizes, upload
from tests.support.hf_fixtures import TOOLS_TEMPLATE, make_qwen2
from tests.support.paths import README

LORA_TARGETS = ["k_proj", "o_proj", "q_proj", "v_proj"]


def _create_base(client, model_id: str, **model) -> None:  # type: ignore[no-untyped-def]
    created = client.models.create(
        model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}, **model}
    )
    assert created.state == "UPLOADING"


def _create_adapter(client, model_id: str, base_model: str, r: int = 16) -> None:  # type: ignore[no-untyped-def]
    client.models.create(
        model_id=model_id,
        model={
            "kind": "HF_PEFT_ADDON",
            "peft_details": {"base_model": base_model, "r": r, "target_modules": LORA_TARGETS},
        },
    )


def test_base_model_lifecycle(files_server: FilesServer, tmp_path: Path) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, parameters = qwen2_files(tmp_path)
    model_id = uid("base")
    _create_base(client, model_id, display_name="Tiny Qwen")

    endpoint = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    urls = endpoint.filename_to_signed_urls
    assert urls is not None and set(urls) == set(files)
    if files_server.storage_kind == "s3":
        assert endpoint.filename_to_unsigned_uris is not None
        assert all(u.startswith("s3://") for u in endpoint.filename_to_unsigned_uris.values())
        assert all(not u.startswith(files_server.base_url) for u in urls.values())  # the store's own URLs
    else:
        assert all(u.startswith(files_server.base_url + "/v1/files/") for u in urls.values())
    put_all(urls, files)

    result = client.models.validate_upload(model_id)
    assert not result.warnings  # config, weights and tokenizer files are all there
    model = client.models.get(model_id)
    assert model.state == "READY"
    assert model.display_name == "Tiny Qwen"
    details = model.base_model_details
    assert details is not None
    assert details.parameter_count == str(parameters)
    assert details.checkpoint_format == "HUGGINGFACE"
    assert details.api_model_type == "qwen2"
    assert not details.moe
    raw = account.client.get(f"/v1/accounts/{account.id}/models/{model_id}").json()
    assert raw["baseModelDetails"]["huggingfaceFiles"] == sorted(files)
    assert model.context_length == 32768
    assert model.supports_tools is True  # TOOLS_TEMPLATE mentions tools
    assert "tools" in TOOLS_TEMPLATE
    assert not model.supports_image_input
    assert model.status is None

    download = client.models.get_download_endpoint(model_id)
    assert download.filename_to_signed_urls is not None
    assert set(download.filename_to_signed_urls) == set(files)
    with httpx.Client(timeout=60) as http:
        for name, url in download.filename_to_signed_urls.items():
            got = http.get(url)
            assert got.status_code == 200 and got.content == files[name], name
        url = download.filename_to_signed_urls["model.safetensors"]
        part = http.get(url, headers={"Range": "bytes=8-15"})
        assert part.status_code == 206
        assert part.content == files["model.safetensors"][8:16]
        head = http.head(url)
        assert head.status_code in (200, 403)  # S3 signs the method: a GET URL is no HEAD URL there
        if files_server.storage_kind == "file":
            assert head.headers["content-length"] == str(len(files["model.safetensors"]))


def test_lora_adapter_lifecycle(files_server: FilesServer, tmp_path: Path) -> None:
    owner = files_server.new_account()
    client = files_server.sdk(owner)
    base_id = uid("base")
    _create_base(client, base_id)
    base_files, _ = qwen2_files(tmp_path)
    upload(client, base_id, base_files)
    client.models.validate_upload(base_id)

    adapter_id = uid("lora")
    base_name = f"accounts/{owner.id}/models/{base_id}"
    _create_adapter(client, adapter_id, base_name)
    files = lora_files(tmp_path)
    upload(client, adapter_id, files)
    result = client.models.validate_upload(adapter_id, config_only=True)
    assert not result.warnings
    model = client.models.get(adapter_id)
    assert model.state == "READY"
    assert model.peft_details is not None
    assert model.peft_details.r == 16
    assert model.peft_details.base_model == base_name
    assert sorted(model.peft_details.target_modules or []) == LORA_TARGETS

    download = client.models.get_download_endpoint(adapter_id).filename_to_signed_urls
    assert download is not None
    assert httpx.get(download["adapter_config.json"], timeout=30).content == files["adapter_config.json"]


def test_adapter_rank_that_contradicts_the_model_is_refused(
    files_server: FilesServer, tmp_path: Path
) -> None:
    owner = files_server.new_account()
    client = files_server.sdk(owner)
    base_id = uid("base")
    _create_base(client, base_id)
    adapter_id = uid("lora")
    _create_adapter(client, adapter_id, f"accounts/{owner.id}/models/{base_id}", r=8)
    upload(client, adapter_id, lora_files(tmp_path))  # r=16 in adapter_config.json
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(adapter_id)
    assert "adapter_config.json" in info.value.message and "r is 16" in info.value.message
    assert client.models.get(adapter_id).state == "UPLOADING"


def test_adapter_whose_base_model_is_not_readable_is_refused(
    files_server: FilesServer, tmp_path: Path
) -> None:
    other = files_server.new_account()
    other_client = files_server.sdk(other)
    private_base = uid("base")
    _create_base(other_client, private_base)
    owner = files_server.new_account()
    client = files_server.sdk(owner)
    adapter_id = uid("lora")
    _create_adapter(client, adapter_id, f"accounts/{other.id}/models/{private_base}")
    upload(client, adapter_id, lora_files(tmp_path))
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(adapter_id)
    assert "peftDetails.baseModel" in info.value.message
    assert client.models.get(adapter_id).state == "UPLOADING"


def test_corrupt_safetensors_keeps_the_model_uploading(files_server: FilesServer, tmp_path: Path) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    weights = files["model.safetensors"]
    model_id = uid("bad")
    _create_base(client, model_id)
    # A header whose length points past the end of the file.
    files["model.safetensors"] = (10**6).to_bytes(8, "little") + weights[8:200]
    upload(client, model_id, files)
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(model_id)
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == 3
    assert "model.safetensors" in body["message"]
    model = client.models.get(model_id)
    assert model.state == "UPLOADING"
    assert model.status is not None and "model.safetensors" in (model.status.message or "")
    assert model.status.code == "INVALID_ARGUMENT"

    # Truncated tensor data: the header parses but the data is short.
    files["model.safetensors"] = weights[:-2]
    upload(client, model_id, files)
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(model_id)
    assert "model.safetensors" in info.value.message and "tensor data" in info.value.message

    # Fixed: the same model validates, and its status is cleared.
    files["model.safetensors"] = weights
    upload(client, model_id, files)
    client.models.validate_upload(model_id)
    model = client.models.get(model_id)
    assert model.state == "READY" and model.status is None


def test_a_new_file_list_replaces_the_old_one(files_server: FilesServer, tmp_path: Path) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("repl")
    _create_base(client, model_id)
    first = client.models.get_upload_endpoint(model_id, filename_to_size={"stale.bin": "3", **sizes(files)})
    assert first.filename_to_signed_urls is not None
    second = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    assert second.filename_to_signed_urls is not None
    if files_server.storage_kind == "file":  # the server refuses URLs of a replaced list
        stale = httpx.put(first.filename_to_signed_urls["config.json"], content=files["config.json"])
        assert stale.status_code == 400, stale.text
        assert stale.json()["details"][0]["reason"] == "UPLOAD_REPLACED"
    put_all(second.filename_to_signed_urls, files)
    client.models.validate_upload(model_id)  # stale.bin is no longer declared
    downloads = client.models.get_download_endpoint(model_id).filename_to_signed_urls
    assert downloads is not None and set(downloads) == set(files)
    # READY models take no new files.
    with pytest.raises(BadRequestError) as info:
        client.models.get_upload_endpoint(model_id, filename_to_size={"x.bin": "1"})
    assert "UPLOADING" in info.value.message


def test_validate_before_the_bytes_arrived(files_server: FilesServer, tmp_path: Path) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    model_id = uid("early")
    _create_base(client, model_id)
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(model_id)
    assert info.value.body["details"][0]["reason"] == "NO_FILES_DECLARED"  # type: ignore[index]
    endpoint = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    assert endpoint.filename_to_signed_urls is not None
    put_all(
        {"config.json": endpoint.filename_to_signed_urls["config.json"]},
        {"config.json": files["config.json"]},
    )
    with pytest.raises(BadRequestError) as info:
        client.models.validate_upload(model_id)
    body = info.value.body
    assert body["code"] == 9  # type: ignore[index]  # FAILED_PRECONDITION
    missing = body["details"][0]["metadata"]["missing"].split(",")  # type: ignore[index]
    assert "model.safetensors" in missing and "config.json" not in missing
    assert "model.safetensors" in body["message"]  # type: ignore[index]
    with pytest.raises(BadRequestError) as info:
        client.models.get_download_endpoint(model_id)
    assert info.value.body["code"] == 9 and "UPLOADING" in info.value.message  # type: ignore[index]


def test_access_rules(files_server: FilesServer, tmp_path: Path) -> None:
    owner, stranger = files_server.new_account(), files_server.new_account()
    client, other = files_server.sdk(owner), files_server.sdk(stranger)
    files, _ = qwen2_files(tmp_path)
    private_id, public_id = uid("priv"), uid("pub")
    _create_base(client, private_id)
    _create_base(client, public_id, public=True)
    for model_id in (private_id, public_id):
        upload(client, model_id, files)
        client.models.validate_upload(model_id)

    # Someone else's private model does not exist for them; a public one is downloadable with any key.
    with pytest.raises(NotFoundError):
        other.models.get_download_endpoint(private_id, account_id=owner.id)
    urls = other.models.get_download_endpoint(public_id, account_id=owner.id).filename_to_signed_urls
    assert urls is not None
    assert httpx.get(urls["config.json"], timeout=30).content == files["config.json"]
    # Writes elsewhere are refused.
    with pytest.raises(PermissionDeniedError):
        other.models.get_upload_endpoint(public_id, account_id=owner.id, filename_to_size={"a.json": "2"})
    with pytest.raises(PermissionDeniedError):
        other.models.validate_upload(public_id, account_id=owner.id)
    with pytest.raises(NotFoundError):
        client.models.get_download_endpoint(uid("missing"))


def test_deleting_models_deletes_their_files(files_server: FilesServer, tmp_path: Path) -> None:
    account = files_server.new_account()
    client = files_server.sdk(account)
    files, _ = qwen2_files(tmp_path)
    first, second = uid("dup"), uid("dup")
    for model_id in (first, second):
        _create_base(client, model_id)
        upload(client, model_id, files)
        client.models.validate_upload(model_id)
    urls = client.models.get_download_endpoint(first).filename_to_signed_urls
    assert urls is not None
    kept = client.models.get_download_endpoint(second).filename_to_signed_urls
    assert kept is not None

    client.models.delete(first)
    if files_server.storage_kind == "file":  # modelyard checks that a revision still holds the file
        assert httpx.get(urls["config.json"], timeout=30).status_code in (403, 404)
    # On S3 a presigned URL of the first model names the blob the second model still holds (identical
    # files are kept once); it stops working with the blob, below.
    # The second model's identical files are still there (on file storage they are the same blobs).
    assert httpx.get(kept["config.json"], timeout=30).content == files["config.json"]
    if files_server.storage_kind == "file":
        blobs = [p for p in (files_server.root / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) >= len(files)
    client.models.delete(second)
    gone = (403, 404)
    if files_server.storage_kind == "s3":
        # The blob goes with the last revision holding it (other tests' models may hold the same bytes).
        config_sha = hashlib.sha256(files["config.json"]).hexdigest()
        gone = (200,) if files_server.store.revisions.referenced(config_sha) else gone
    assert httpx.get(kept["config.json"], timeout=30).status_code in gone
    assert httpx.get(urls["config.json"], timeout=30).status_code in gone
    assert not _stored_under(files_server, account.id)


def _stored_under(server: FilesServer, account_id: str) -> list[str]:
    """Whatever the storage still holds for an account's models."""
    if server.storage_kind == "s3":
        assert server.s3 is not None
        bucket, _, prefix = server.storage_url[len("s3://") :].partition("/")
        listing = server.s3.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/accounts/{account_id}/")
        return [o["Key"] for o in listing.get("Contents", [])]
    rows = server.store.engine.connect()
    try:
        from sqlalchemy import select

        from modelyard.store.tables import model_files

        found = rows.execute(select(model_files.c.path).where(model_files.c.account_id == account_id)).all()
    finally:
        rows.close()
    return [r[0] for r in found]


def test_prepare_is_unimplemented_and_not_retried(files_server: FilesServer) -> None:
    account = files_server.new_account()
    model_id = uid("prep")
    _create_base(files_server.sdk(account), model_id)
    seen: list[int] = []
    client = files_server.sdk(
        account,
        http_client=httpx.Client(event_hooks={"response": [lambda r: seen.append(r.status_code)]}),
    )
    client = client.with_options(max_retries=3)
    with pytest.raises(Exception) as info:
        client.models.prepare(model_id, precision="FP8")
    assert getattr(info.value, "status_code", None) == 501
    assert seen == [501]  # x-should-retry: false, so no retries
    response = account.client.post(f"/v1/accounts/{account.id}/models/{model_id}:prepare", json={})
    assert response.headers["x-should-retry"] == "false"
    assert response.json()["code"] == 12


def test_the_readme_upload_example_runs(
    file_storage_server: FilesServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's SDK flow ("Uploading and downloading models"), run as written against a real server."""
    import re

    readme = README.read_text()
    section = readme.split("## Uploading and downloading models", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    account = file_storage_server.new_account()
    make_qwen2(tmp_path / "Qwen2.5-0.5B-Instruct")
    monkeypatch.chdir(tmp_path)
    source = code.group(1).replace('"http://127.0.0.1:8765"', repr(file_storage_server.base_url))
    source = source.replace('account_id="demo"', f"account_id={account.id!r}")
    namespace: dict[str, object] = {"KEY": account.key, "print": lambda *a, **k: None}
    exec(compile(source, "README.md", "exec"), namespace)
    model = namespace["model"]
    assert getattr(model, "state", None) == "READY"
