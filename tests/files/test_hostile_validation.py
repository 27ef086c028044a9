"""``:validateUpload`` of files a hostile contributor wrote (issue 25, items 14, 15, 16, 18, 26): each is
uploaded to a real ``modelyard serve`` (file storage, both databases) and validated; every refusal is a
400 naming the file, never a 500, and a check never holds the server's event loop.

What was slow is driven at a size where the old code would not finish within the client's timeout (a
1 MiB template of ``{{`` was quadratic: hours); no test asserts a duration.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.files.validate import MAX_HEADER_BYTES, MAX_TEMPLATE_BYTES
from modelyard.importers.safetensors import MAX_SAFETENSORS_HEADER
from tests.support.accounts import Account
from tests.support.api import uid
from tests.support.files import FilesServer, lora_files, put_all, qwen2_files, sizes
from tests.support.server import child_pids


def _create(account: Account, model: dict[str, Any]) -> str:
    model_id = uid("hostile")
    created = account.client.post(
        f"/v1/accounts/{account.id}/models", json={"modelId": model_id, "model": model}
    )
    assert created.status_code == 200, created.text
    return model_id


def _validate(account: Account, model: dict[str, Any], files: dict[str, bytes]) -> httpx.Response:
    """Create a model, upload ``files`` to it and validate them."""
    model_id = _create(account, model)
    base = f"/v1/accounts/{account.id}/models/{model_id}"
    endpoint = account.client.post(base + ":getUploadEndpoint", json={"filenameToSize": sizes(files)})
    assert endpoint.status_code == 200, endpoint.text
    put_all(endpoint.json()["filenameToSignedUrls"], files)
    return account.client.get(base + ":validateUpload")


BASE = {"kind": "HF_BASE_MODEL", "baseModelDetails": {}}


def _refused(response: httpx.Response, file: str, reason: str, *phrases: str) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3, body
    assert body["details"][0]["reason"] == reason, body
    assert body["message"].startswith(f"{file}: "), body["message"]
    for phrase in phrases:
        assert phrase in body["message"], body["message"]
    assert len(body["message"]) < 2000
    return str(body["message"])


def _safetensors(header: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def _tensor_file(tensors: dict[str, Any], data_length: int) -> bytes:
    return _safetensors(json.dumps(tensors).encode(), b"\0" * data_length)


@pytest.fixture()
def account(file_storage_server: FilesServer) -> Account:
    return file_storage_server.new_account("hostile")


@pytest.fixture()
def qwen(tmp_path: Path) -> dict[str, bytes]:
    files, _ = qwen2_files(tmp_path)
    return files


# -- item 14: linear checks --------------------------------------------------------------------------


def test_a_template_of_openers_is_scanned_in_linear_time(account: Account, qwen: dict[str, bytes]) -> None:
    """1 MiB of ``{{`` (the quadratic regex took 8 s for 39 KiB) validates; a byte more is refused."""
    openers = b"{{" * (MAX_TEMPLATE_BYTES // 2)
    response = _validate(account, BASE, {**qwen, "chat_template.jinja": openers})
    assert response.status_code == 200, response.text
    model = account.client.get(response.request.url.path.removesuffix(":validateUpload")).json()
    assert model["state"] == "READY"
    assert not model.get("supportsTools")  # no block is ever closed: no code, no tools
    tools = b"{{" * 1000 + b"{% if tools %}{% endif %}"
    response = _validate(account, BASE, {**qwen, "chat_template.jinja": tools})
    assert response.status_code == 200, response.text
    assert account.client.get(response.request.url.path.removesuffix(":validateUpload")).json()[
        "supportsTools"
    ]
    too_big = _validate(account, BASE, {**qwen, "chat_template.jinja": openers + b"{"})
    _refused(too_big, "chat_template.jinja", "FILE_TOO_LARGE", f"{MAX_TEMPLATE_BYTES:,}-byte limit")


def test_a_template_in_a_json_file_is_capped_too(account: Account, qwen: dict[str, bytes]) -> None:
    config = {"chat_template": "{{ tools }}" + "x" * MAX_TEMPLATE_BYTES}
    files = {**qwen, "tokenizer_config.json": json.dumps(config).encode()}
    response = _validate(account, BASE, files)
    _refused(response, "tokenizer_config.json", "FILE_TOO_LARGE", "chat template")


def test_shapes_of_huge_integers_are_refused(account: Account, qwen: dict[str, bytes]) -> None:
    """4,299-digit dimensions took 6.7 s of big-integer products, then a 500 formatting the message."""
    huge = "9" * 4299
    header = f'{{"w":{{"dtype":"F32","shape":[{huge},{huge},{huge}],"data_offsets":[0,4]}}}}'.encode()
    files = {**qwen, "model.safetensors": _safetensors(header, b"\0" * 4)}
    _refused(_validate(account, BASE, files), "model.safetensors", "INVALID_SAFETENSORS", "no valid shape")
    # dimensions each in range whose product is not
    big = str(2**40)
    header = f'{{"w":{{"dtype":"F32","shape":[{big},{big}],"data_offsets":[0,4]}}}}'.encode()
    files = {**qwen, "model.safetensors": _safetensors(header, b"\0" * 4)}
    _refused(_validate(account, BASE, files), "model.safetensors", "INVALID_SAFETENSORS", "2**63 elements")


def test_huge_integers_in_a_config_are_refused(account: Account, qwen: dict[str, bytes]) -> None:
    config = json.loads(qwen["config.json"])
    raw = json.dumps(config)[:-1] + ', "max_position_embeddings": ' + "7" * 4299 + "}"
    response = _validate(account, BASE, {**qwen, "config.json": raw.encode()})
    _refused(response, "config.json", "INVALID_JSON_FILE", "an integer of 4,299 digits")


def _hold_child(pid: int) -> list[int]:
    """The ``spawn``ed checking process(es) of server ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for child in child_pids(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def test_other_requests_are_served_while_a_check_runs(
    file_storage_server: FilesServer, account: Account, qwen: dict[str, bytes]
) -> None:
    """The checks run in a child process: with it stopped (SIGSTOP) in the middle of a validation, the
    server still answers other requests; the validation completes once the child goes on."""
    first = _validate(account, BASE, qwen)  # starts the checking process
    assert first.status_code == 200, first.text
    checkers = _hold_child(file_storage_server.process.pid)
    assert len(checkers) == 1, checkers
    huge = "9" * 4299
    header = f'{{"w":{{"dtype":"F32","shape":[{huge}],"data_offsets":[0,4]}}}}'.encode()
    files = {**qwen, "model.safetensors": _safetensors(header, b"\0" * 4)}
    model_id = _create(account, BASE)
    base = f"/v1/accounts/{account.id}/models/{model_id}"
    endpoint = account.client.post(base + ":getUploadEndpoint", json={"filenameToSize": sizes(files)})
    put_all(endpoint.json()["filenameToSignedUrls"], files)
    result: list[httpx.Response] = []
    os.kill(checkers[0], signal.SIGSTOP)
    try:
        validation = threading.Thread(
            target=lambda: result.append(account.client.get(base + ":validateUpload"))
        )
        validation.start()
        other = httpx.get(file_storage_server.base_url + "/healthz", timeout=30)
        assert other.status_code == 200
        listing = account.client.get(f"/v1/accounts/{account.id}/models", params={"pageSize": 1})
        assert listing.status_code == 200, listing.text
        assert result == [] and validation.is_alive()  # the validation still waits for its check
    finally:
        os.kill(checkers[0], signal.SIGCONT)
    validation.join(timeout=60)
    assert result and result[0].status_code == 400, result
    _refused(result[0], "model.safetensors", "INVALID_SAFETENSORS", "no valid shape")


# -- item 15: memory bombs -----------------------------------------------------------------------------


def test_a_header_of_empty_arrays_is_refused_before_it_is_built(
    account: Account, qwen: dict[str, bytes]
) -> None:
    """A header of ``[],`` (64 MiB of it took the server to 1.8 GB) is refused by its count of arrays."""
    bomb = b'{"w":[' + b"[]," * (4 * 1024 * 1024) + b"[]]}"
    files = {**qwen, "model.safetensors": _safetensors(bomb)}
    _refused(
        _validate(account, BASE, files), "model.safetensors", "INVALID_SAFETENSORS", "arrays and objects"
    )


def test_a_header_over_the_cap_is_not_read(account: Account, qwen: dict[str, bytes]) -> None:
    for length in (MAX_HEADER_BYTES + 1, MAX_SAFETENSORS_HEADER):
        files = {**qwen, "model.safetensors": struct.pack("<Q", length) + b"{}"}
        response = _validate(account, BASE, files)
        _refused(response, "model.safetensors", "INVALID_SAFETENSORS", f"limit {MAX_HEADER_BYTES} bytes")


def test_json_files_over_the_cap_are_not_read(account: Account, qwen: dict[str, bytes]) -> None:
    from modelyard.files.validate import MAX_JSON_BYTES

    config = qwen["config.json"][:-1] + b"," + b'"pad": "' + b"x" * MAX_JSON_BYTES + b'"}'
    response = _validate(account, BASE, {**qwen, "config.json": config})
    _refused(response, "config.json", "FILE_TOO_LARGE", f"{MAX_JSON_BYTES:,}-byte limit")


# -- item 16: nested JSON in every kind of file --------------------------------------------------------


def _nested(depth: int = 5000) -> bytes:
    """An object with an array nested ``depth`` deep, padded so that it is not a flood of arrays."""
    return b'{"deep": ' + b"[" * depth + b"]" * depth + b', "pad": "' + b"p" * (depth * 6) + b'"}'


def test_nested_json_is_a_400_naming_the_file(
    account: Account, qwen: dict[str, bytes], tmp_path: Path
) -> None:
    cases = {
        "config.json": {**qwen, "config.json": _nested()},
        "tokenizer_config.json": {**qwen, "tokenizer_config.json": _nested()},
        "chat_template.json": {
            **{k: v for k, v in qwen.items() if k != "tokenizer_config.json"},
            "chat_template.json": _nested(),
        },
        "model.safetensors.index.json": {**qwen, "model.safetensors.index.json": _nested()},
    }
    for file, files in cases.items():
        response = _validate(account, BASE, files)
        _refused(response, file, "INVALID_JSON_FILE", "nests arrays and objects too deeply")
    weights = {**qwen, "model.safetensors": _safetensors(_nested())}
    response = _validate(account, BASE, weights)
    _refused(response, "model.safetensors", "INVALID_SAFETENSORS", "nests arrays and objects too deeply")
    base_id = _create(account, BASE)
    adapter = {
        "kind": "HF_PEFT_ADDON",
        "peftDetails": {
            "baseModel": f"accounts/{account.id}/models/{base_id}",
            "r": 8,
            "targetModules": ["q"],
        },
    }
    files = {**lora_files(tmp_path), "adapter_config.json": _nested()}
    response = _validate(account, adapter, files)
    _refused(response, "adapter_config.json", "INVALID_JSON_FILE", "nests arrays and objects too deeply")


# -- item 18: what validation fills is held to the Model's limits ---------------------------------------


@pytest.mark.parametrize(
    ("model_type", "phrase"), [("x" * 5000, "fewer than 4096 characters"), ("llama\x00", "NUL character")]
)
def test_config_values_past_the_model_limits_are_refused(
    account: Account, qwen: dict[str, bytes], model_type: str, phrase: str
) -> None:
    config = {**json.loads(qwen["config.json"]), "model_type": model_type}
    model_id_response = _validate(account, BASE, {**qwen, "config.json": json.dumps(config).encode()})
    message = _refused(model_id_response, "config.json", "INVALID_MODEL_FILE", "modelType", phrase)
    assert "x" * 100 not in message
    model = account.client.get(model_id_response.request.url.path.removesuffix(":validateUpload")).json()
    assert model["state"] == "UPLOADING"
    assert "modelType" not in model.get("baseModelDetails", {})


# -- item 26: what the reference loader refuses ---------------------------------------------------------


def test_overlapping_tensors_and_bad_metadata_are_refused(account: Account, qwen: dict[str, bytes]) -> None:
    f32 = {"dtype": "F32", "shape": [2]}
    cases = {
        "overlaps": (
            {"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [4, 12]}},
            12,
            "overlaps tensor 'a'",
        ),
        "the same bytes twice": (
            {"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [0, 8]}},
            8,
            "overlaps",
        ),
        "a gap": (
            {"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [12, 20]}},
            20,
            "bytes 8-12 of the tensor data belong to no tensor",
        ),
        "metadata list": ({"__metadata__": ["x"], "a": {**f32, "data_offsets": [0, 8]}}, 8, "__metadata__"),
        "metadata number": (
            {"__metadata__": {"k": 1}, "a": {**f32, "data_offsets": [0, 8]}},
            8,
            "__metadata__",
        ),
    }
    for name, (tensors, length, phrase) in cases.items():
        files = {**qwen, "model.safetensors": _tensor_file(tensors, length)}
        response = _validate(account, BASE, files)
        assert response.status_code == 400, (name, response.text)
        _refused(response, "model.safetensors", "INVALID_SAFETENSORS", phrase)
    good = {
        "__metadata__": {"format": "pt"},
        "a": {**f32, "data_offsets": [0, 8]},
        "b": {**f32, "data_offsets": [8, 16]},
    }
    response = _validate(account, BASE, {**qwen, "model.safetensors": _tensor_file(good, 16)})
    assert response.status_code == 200, response.text
