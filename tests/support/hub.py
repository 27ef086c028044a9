"""Helpers of the Hub door tests (``tests/hub/``): models uploaded through the Fireworks flow, a tiny
tokenizer made with the ``tokenizers`` library, and ``huggingface_hub`` run as users run it (a
subprocess with ``HF_ENDPOINT`` and ``HF_TOKEN``, since huggingface_hub reads them at import)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi

from tests.support.api import uid
from tests.support.files import FilesServer, checkpoint_files, put_all, sizes
from tests.support.hf_fixtures import make_qwen2

CARD = """---
license: apache-2.0
tags:
  - text-generation
  - tiny
base_model: Qwen/Qwen2.5-0.5B
pipeline_tag: text-generation
library_name: transformers
---
# A tiny model

Made for the tests.
"""


@dataclass
class HubModel:
    server: FilesServer
    account: str
    key: str
    model_id: str
    files: dict[str, bytes]

    @property
    def repo(self) -> str:
        return f"{self.account}/{self.model_id}"

    @property
    def endpoint(self) -> str:
        return f"{self.server.base_url}/hf"

    def api(self, *, token: str | bool | None = None) -> HfApi:
        """A client of the Hub door (``token=False``: anonymous; default: the owner's key)."""
        return HfApi(endpoint=self.endpoint, token=self.key if token is None else token)

    def env(self, home: Path, *, token: bool = True) -> dict[str, str]:
        """The environment of a user of huggingface_hub against this registry."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(
            {"HF_ENDPOINT": self.endpoint, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
             "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        )  # fmt: skip
        if token:
            env["HF_TOKEN"] = self.key
        return env


def tiny_tokenizer(directory: Path) -> dict[str, bytes]:
    """``tokenizer.json`` and ``tokenizer_config.json`` of a word-level tokenizer (tokenizers library)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3, "tiny": 4, "model": 5}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "pad_token": "[PAD]"}
    return {
        "tokenizer.json": (directory / "tokenizer.json").read_bytes(),
        "tokenizer_config.json": json.dumps(config).encode(),
    }


def checkpoint(tmp_path: Path, *, card: bool = True) -> dict[str, bytes]:
    """A tiny Qwen2 checkpoint with a working tokenizer and, by default, a model card."""
    directory = tmp_path / f"ck-{secrets.token_hex(3)}"
    files = checkpoint_files(make_qwen2(directory).path)
    for name in ("vocab.json", "merges.txt"):
        files.pop(name, None)
    files.update(tiny_tokenizer(directory / "tok"))
    if card:
        files["README.md"] = CARD.encode()
    return files


def hub_model(
    server: FilesServer,
    tmp_path: Path,
    *,
    public: bool = False,
    files: dict[str, bytes] | None = None,
    kind: str = "HF_BASE_MODEL",
) -> HubModel:
    """A READY model (a base model by default) of a new account, uploaded and validated through the
    Fireworks flow."""
    account = server.new_account("hub")
    client = server.sdk(account)
    files = files if files is not None else checkpoint(tmp_path)
    model_id = uid("tiny")
    details = {"base_model_details": {}} if kind == "HF_BASE_MODEL" else {}
    client.models.create(model_id=model_id, model={"kind": kind, "public": public, **details})
    endpoint = client.models.get_upload_endpoint(model_id, filename_to_size=sizes(files))
    assert endpoint.filename_to_signed_urls is not None
    put_all(endpoint.filename_to_signed_urls, files)
    client.models.validate_upload(model_id)
    return HubModel(server, account.id, account.key, model_id, files)


def run_python(code: str, env: dict[str, str], cwd: Path) -> Any:
    """Run ``code`` in a new interpreter with ``env``; it prints one JSON value, returned here."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
