"""The files of pushed layers (``oci/layers.py``: tar, tar+gzip, tar+zstd, oras directories, refusals) and
the ModelPack manifest of a revision (``oci/modelpack.py``: media types, sizes, byte stability)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import zstandard

from modelyard.oci import layers, modelpack


def _tar(members: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return out.getvalue()


def _unpack(blob: bytes, layer: dict[str, object], tmp_path: Path) -> dict[str, bytes]:
    kept: dict[str, bytes] = {}
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)

    def keep(temp: Path, sha256: str, size: int) -> None:
        assert hashlib.sha256(temp.read_bytes()).hexdigest() == sha256 and temp.stat().st_size == size
        shutil.copy(temp, store / sha256)

    for path, sha256, _ in layers.unpack(io.BytesIO(blob), layer, tmp_path, keep):
        kept[path] = (store / sha256).read_bytes()
    return kept


FILES = {
    "config.json": b'{"model_type": "qwen2"}',
    "sub/tokenizer.json": b"{}",
    "model.safetensors": b"x" * 1000,
}


@pytest.mark.parametrize(
    ("media_type", "compress"),
    [
        ("application/vnd.cncf.model.weight.v1.tar", lambda b: b),
        ("application/vnd.oci.image.layer.v1.tar+gzip", gzip.compress),
        ("application/vnd.oci.image.layer.v1.tar+zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("application/vnd.kitops.modelkit.model.v1.tar+gzip", gzip.compress),
    ],
)
def test_archives_unpack_into_files(tmp_path: Path, media_type: str, compress: object) -> None:
    blob = compress(_tar({"./" + k: v for k, v in FILES.items()}))  # type: ignore[operator]
    layer = {"mediaType": media_type, "digest": "sha256:" + "0" * 64}
    assert layers.is_archive(layer)
    assert _unpack(blob, layer, tmp_path) == FILES


def test_oras_directory_loses_its_own_name(tmp_path: Path) -> None:
    blob = gzip.compress(_tar({f"model/{k}": v for k, v in FILES.items()}))
    layer = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": "sha256:" + "1" * 64,
        "annotations": {layers.ORAS_UNPACK: "true", modelpack.TITLE: "model"},
    }
    assert _unpack(blob, layer, tmp_path) == FILES


@pytest.mark.parametrize(
    ("members", "links", "problem"),
    [
        ({"../evil": b"x"}, None, ".."),
        ({"ok.json": b"{}"}, {"link": "/etc/passwd"}, "link"),
        ({"bad name!": b"x"}, None, "bad name"),
    ],
)
def test_archives_that_leave_the_model_are_refused(
    tmp_path: Path, members: dict[str, bytes], links: dict[str, str] | None, problem: str
) -> None:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "2" * 64}
    with pytest.raises(layers.LayerError, match=problem.split()[0]):
        _unpack(_tar(members, links=links), layer, tmp_path)


def test_not_an_archive(tmp_path: Path) -> None:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "3" * 64}
    with pytest.raises(layers.LayerError):
        _unpack(b"this is not a tar archive at all" * 40, layer, tmp_path)


def test_model_push_or_stored_artifact() -> None:
    raw = {
        "mediaType": modelpack.WEIGHT,
        "digest": "sha256:" + "4" * 64,
        "size": 1,
        "annotations": {modelpack.FILEPATH: "model.safetensors"},
    }
    signature = {
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": "sha256:" + "5" * 64,
        "size": 1,
        "annotations": {"dev.cosignproject.cosign/signature": "MEUC..."},
    }
    assert layers.is_model_push({"layers": [raw]})
    assert not layers.is_model_push({"layers": [raw], "subject": {"digest": "sha256:" + "6" * 64}})
    assert not layers.is_model_push({"layers": [signature]})
    assert not layers.is_model_push({"layers": []})
    assert layers.raw_file(raw) == ("model.safetensors", "4" * 64, 1)
    # oras labels plain files application/vnd.oci.image.layer.v1.tar: a title makes them files
    oras_file = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": "sha256:" + "7" * 64,
        "size": 1,
        "annotations": {modelpack.TITLE: "config.json"},
    }
    assert not layers.is_archive(oras_file) and layers.is_model_push({"layers": [oras_file]})
    modelpack_tar = {**raw, "mediaType": "application/vnd.cncf.model.weight.v1.tar"}
    assert layers.is_archive(modelpack_tar)


def test_modelpack_manifest_is_canonical_and_stable() -> None:
    files = [
        modelpack.File("model.safetensors", "a" * 64, 10),
        modelpack.File("README.md", "b" * 64, 3),
        modelpack.File("config.json", "c" * 64, 2),
        modelpack.File("tokenizer.json", "d" * 64, 2),
    ]
    revision = modelpack.Revision("f" * 40, "2026-12-07T22:00:00Z", files)
    model = {
        "displayName": "Tiny",
        "baseModelDetails": {"modelType": "qwen2", "parameterCount": "7615616512"},
        "supportsTools": True,
    }
    hf_config = {"torch_dtype": "bfloat16", "architectures": ["Qwen2ForCausalLM"]}
    (digest, manifest), (config_digest, config) = modelpack.build("acme", "tiny", model, revision, hf_config)
    shuffled = modelpack.Revision("f" * 40, "2026-12-07T22:00:00Z", list(reversed(files)))
    again = modelpack.build("acme", "tiny", dict(model), shuffled, hf_config)
    assert again == ((digest, manifest), (config_digest, config))
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert manifest == modelpack.canonical(json.loads(manifest))
    parsed = json.loads(manifest)
    assert [layer["annotations"][modelpack.FILEPATH] for layer in parsed["layers"]] == sorted(
        f.path for f in files
    )
    assert {layer["annotations"][modelpack.FILEPATH]: layer["mediaType"] for layer in parsed["layers"]} == {
        "README.md": modelpack.DOC,
        "config.json": modelpack.WEIGHT_CONFIG,
        "model.safetensors": modelpack.WEIGHT,
        "tokenizer.json": modelpack.WEIGHT_CONFIG,
    }
    assert parsed["config"] == {
        "mediaType": modelpack.CONFIG_MEDIA_TYPE,
        "digest": config_digest,
        "size": len(config),
    }
    document = json.loads(config)
    assert document["descriptor"]["family"] == "qwen2" and document["descriptor"]["revision"] == "f" * 40
    assert document["config"] == {
        "architecture": "transformer",
        "format": "safetensors",
        "paramSize": "7.6b",
        "precision": "bf16",
        "capabilities": {"inputTypes": ["text"], "toolUsage": True},
    }
    assert document["modelfs"]["diffIds"] == [layer["digest"] for layer in parsed["layers"]]


@pytest.mark.parametrize(
    ("count", "text"),
    [(8_030_261_248, "8b"), (494_032_768, "494m"), (1_500_000_000_000, "1.5t"), (999, "999")],
)
def test_param_size(count: int, text: str) -> None:
    assert modelpack.param_size(count) == text
