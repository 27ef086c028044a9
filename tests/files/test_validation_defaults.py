"""Issue 25 item 10: ``:validateUpload`` reads the default precision from the weights' dtypes
(``baseModelDetails.defaultPrecision``) and the sampling defaults from ``generation_config.json``
(``defaultSamplingParams``), as the demo catalog's models carry them; through a real server and its HTTP
API, with files of tiny real checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelyard.files.defaults import default_precision, sampling_defaults
from tests.support.api import uid
from tests.support.files import FilesServer, qwen2_files, upload
from tests.support.hf_files import write_safetensors

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _validated(server: FilesServer, files: dict[str, bytes]) -> tuple[dict[str, Any], list[str]]:
    account = server.new_account("defaults")
    client = server.sdk(account)
    model_id = uid("defaults")
    client.models.create(model_id=model_id, model={"kind": "HF_BASE_MODEL", "base_model_details": {}})
    upload(client, model_id, files)
    answer = account.client.get(f"{account.url()}/{model_id}:validateUpload")
    assert answer.status_code == 200, answer.text
    model = account.client.get(f"{account.url()}/{model_id}").json()
    assert model["state"] == "READY"
    return model, answer.json().get("warnings", [])


@sqlite_only
def test_precision_and_sampling_defaults_come_from_the_files(
    file_storage_server: FilesServer, tmp_path: Path
) -> None:
    files, _ = qwen2_files(tmp_path)  # float16 weights
    generation = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                  "repetition_penalty": 1.05, "bos_token_id": 1, "transformers_version": "4.45"}  # fmt: skip
    files["generation_config.json"] = json.dumps(generation).encode()
    model, warnings = _validated(file_storage_server, files)
    assert model["baseModelDetails"]["defaultPrecision"] == "FP16"
    assert model["defaultSamplingParams"] == {
        "temperature": 0.7, "top_p": 0.8, "top_k": 20.0, "repetition_penalty": 1.05,
    }  # fmt: skip
    assert not any("generation_config" in w for w in warnings)

    # greedy decoding: only the repetition penalty applies; float32 weights name no deployment precision
    files, parameters = qwen2_files(tmp_path)
    big = tmp_path / "f32.safetensors"
    assert write_safetensors(big, {"extra.weight": (4096, 256)}, dtype=np.float32) > 10 * parameters
    files["extra.safetensors"] = big.read_bytes()  # most parameters are float32 now
    files["generation_config.json"] = json.dumps({"do_sample": False, "temperature": 0.1,
                                                  "repetition_penalty": 1.1}).encode()  # fmt: skip
    model, _ = _validated(file_storage_server, files)
    assert "defaultPrecision" not in model["baseModelDetails"]
    assert model["defaultSamplingParams"] == {"repetition_penalty": 1.1}

    # an unusable generation_config.json is a warning, never a refusal
    files, _ = qwen2_files(tmp_path)
    files["generation_config.json"] = b'["not", "an", "object"]'
    model, warnings = _validated(file_storage_server, files)
    assert "defaultSamplingParams" not in model
    assert any("generation_config.json" in w for w in warnings), warnings


def test_the_rules_on_their_own() -> None:
    from collections import Counter

    assert default_precision(Counter({"BF16": 900, "F32": 100})) == "BF16"
    assert default_precision(Counter({"F8_E4M3": 600, "BF16": 500})) == "FP8"
    assert default_precision(Counter({"U8": 10})) is None
    warnings: list[str] = []
    assert sampling_defaults(
        {"temperature": "hot", "top_p": float("nan"), "top_k": True, "min_p": 0}, warnings
    ) == {"min_p": 0.0}
    assert len(warnings) == 3  # temperature, top_p, and top_k (a bool is no number either)
