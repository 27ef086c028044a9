"""Helpers of the model-file tests (``tests/files/``): the S3 server handle, the server handle with its
storage, tiny checkpoints as {name: bytes}, and uploads to signed URLs."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fireworks import Fireworks

from modelyard.store.repository import Store
from tests.support.accounts import Account
from tests.support.hf_fixtures import make_peft, make_qwen2

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "modelyard-test",
    "AWS_SECRET_ACCESS_KEY": "modelyard-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    endpoint: str
    server: Any

    def env(self) -> dict[str, str]:
        return {**AWS_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        bucket = f"modelyard-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket


@dataclass
class FilesServer:
    base_url: str
    db_url: str
    storage_url: str
    storage_kind: str
    store: Store
    process: subprocess.Popen[str]
    env: dict[str, str]
    s3: S3Server | None = None
    clients: list[Any] = field(default_factory=list)

    def new_account(self, prefix: str = "files") -> Account:
        account = f"{prefix}-{secrets.token_hex(4)}"
        key = self.store.create_api_key(account, "test")
        client = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        self.clients.append(client)
        return Account(account, key, client)

    def sdk(self, account: Account, **kwargs: Any) -> Fireworks:
        client = Fireworks(
            api_key=account.key, base_url=self.base_url, account_id=account.id, max_retries=0, **kwargs
        )
        self.clients.append(client)
        return client

    @property
    def root(self) -> Path:
        assert self.storage_url.startswith("file://")
        return Path(self.storage_url[len("file://") :])


def storage_for(kind: str, tmp_root: Path, s3: S3Server | None) -> tuple[str, dict[str, str]]:
    if kind == "file":
        return f"file://{tmp_root / ('blobs-' + secrets.token_hex(4))}", {}
    assert s3 is not None
    return f"s3://{s3.new_bucket()}/models", s3.env()


# -- checkpoints and uploads ---------------------------------------------------------------------------


def checkpoint_files(directory: Path) -> dict[str, bytes]:
    paths = sorted(p for p in directory.rglob("*") if p.is_file())
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in paths}


def qwen2_files(tmp_path: Path) -> tuple[dict[str, bytes], int]:
    ck = make_qwen2(tmp_path / f"qwen-{secrets.token_hex(3)}")
    return checkpoint_files(ck.path), ck.parameter_count


def lora_files(tmp_path: Path, **overrides: Any) -> dict[str, bytes]:
    ck = make_peft(tmp_path / f"lora-{secrets.token_hex(3)}", **overrides)
    return checkpoint_files(ck.path)


def sizes(files: dict[str, bytes]) -> dict[str, str]:
    return {name: str(len(data)) for name, data in files.items()}


def put_all(urls: dict[str, str], files: dict[str, bytes]) -> None:
    """PUT each file to its signed URL, as a client of the storage would."""
    with httpx.Client(timeout=60) as http:
        for name, data in files.items():
            headers = {"Content-Type": "application/octet-stream"}
            response = http.put(urls[name], content=data, headers=headers)
            assert response.status_code == 200, (name, response.status_code, response.text)


def upload(client: Fireworks, model_id: str, files: dict[str, bytes]) -> None:
    endpoint = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    assert endpoint.filename_to_signed_urls is not None
    put_all(endpoint.filename_to_signed_urls, files)


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
