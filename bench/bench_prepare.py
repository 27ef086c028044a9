"""Prepared precisions: the conversion kernels' throughput, then a whole conversion of a generated
checkpoint against a plain read-and-write copy of the same files, with peak memory.

    .venv/bin/python bench/bench_prepare.py [--rows 4096] [--cols 4096] [--checkpoint-mib 256] [--shards 2]

1. kernels, one thread: FP8 block-128 quantisation of a BF16 weight (``kernels.Fp8Quantizer``), and the
   BF16 -> FP16, float32 -> BF16 and FP16 -> BF16 casts (``kernels.Caster``), in M parameters/s (best of
   five). Targets (issue 22): FP8 >= 150 M/s per core, BF16/FP16 >= 400 M/s per core.
2. a whole conversion: a Llama-style BF16 checkpoint of ``--checkpoint-mib`` in ``--shards`` shards is
   written to a temporary folder, copied once (read + write + fsync, the reference), and converted to FP8
   and to FP16 (``convert.convert_directory``: headers planned first, tensors streamed, two threads),
   each output fsync'd. Prints parameters/s, source bytes/s, the ratio to the copy, and the process's
   peak RSS growth against the largest tensor (``ru_maxrss``).

3. the whole job through the storage layer (``--job``): the same checkpoint stored as blobs of a file
   storage and committed as ``main`` of a model (SQLite), then the ``prepare`` job run by a ``Worker``
   (read by range from storage, convert, hash, write new blobs, commit the ``fp8`` branch, update the
   model), against a plain copy of the same blobs through the same storage (read, hash, write, fsync,
   rename: ``blobs.open_sink``), with the process's peak RSS growth.

Results go to stdout and ``bench/results/prepare.json``. Run it small on a shared machine: the defaults
take a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

from modelyard.prepare import kernels
from modelyard.prepare.convert import convert_directory
from modelyard.prepare.precisions import Precision


def best_rate(fn: Any, elements: int, repeat: int = 5) -> float:
    fn()
    best = min(_timed(fn) for _ in range(repeat))
    return elements / best / 1e6


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_kernels(rows: int, cols: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    f32 = (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)
    bf16 = f32.astype(ml_dtypes.bfloat16)
    f16 = f32.astype(np.float16)
    n = rows * cols
    quantizer = kernels.Fp8Quantizer()
    q = np.empty((rows, cols), dtype=kernels.FP8)
    scales = np.empty(kernels.scale_shape(rows, cols), dtype=np.float32)
    caster = kernels.Caster()
    out16 = np.empty((rows, cols), dtype=np.float16)
    outbf = np.empty((rows, cols), dtype=kernels.BF16)
    results = {
        "fp8_block128_from_bf16_mps": best_rate(lambda: quantizer.quantize(bf16, q, scales), n),
        "fp8_ml_dtypes_cast_only_mps": best_rate(lambda: f32.astype(kernels.FP8), n, repeat=2),
        "fp16_from_bf16_mps": best_rate(lambda: caster.cast(bf16, kernels.FP16, out16), n),
        "bf16_from_f32_mps": best_rate(lambda: caster.cast(f32, kernels.BF16, outbf), n),
        "bf16_from_fp16_mps": best_rate(lambda: caster.cast(f16, kernels.BF16, outbf), n),
    }
    return results


def make_checkpoint(folder: Path, total_mib: int, shards: int) -> int:
    """A Llama-style BF16 checkpoint of about ``total_mib`` MiB; returns its largest tensor's bytes."""
    hidden, inter = 2048, 5632
    per_layer = (4 * hidden * hidden + 3 * hidden * inter) * 2
    layers = max(1, total_mib * 1024 * 1024 // per_layer)
    rng = np.random.default_rng(1)
    tensors: dict[str, np.ndarray] = {}
    shapes = {
        "self_attn.q_proj.weight": (hidden, hidden),
        "self_attn.k_proj.weight": (hidden, hidden),
        "self_attn.v_proj.weight": (hidden, hidden),
        "self_attn.o_proj.weight": (hidden, hidden),
        "mlp.gate_proj.weight": (inter, hidden),
        "mlp.up_proj.weight": (inter, hidden),
        "mlp.down_proj.weight": (hidden, inter),
        "input_layernorm.weight": (hidden,),
    }
    base = (rng.standard_normal(inter * hidden, dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16)
    for layer in range(layers):
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            tensors[f"model.layers.{layer}.{name}"] = base[:size].reshape(shape)
    names = sorted(tensors)
    per_shard = -(-len(names) // shards)
    weight_map = {}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[i * per_shard : (i + 1) * per_shard]}
        save_file(part, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    (folder / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "torch_dtype": "bfloat16"})
    )
    return inter * hidden * 2


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def plain_copy(source: Path, target: Path) -> None:
    target.mkdir()
    for path in source.iterdir():
        with open(path, "rb") as src, open(target / path.name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    fsync_tree(target)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_job(total_mib: int, shards: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        root = Path(tmp)
        source = root / "source"
        source.mkdir()
        largest = make_checkpoint(source, total_mib, shards)
        source_bytes = sum(p.stat().st_size for p in source.iterdir())
        results["source_mib"] = round(source_bytes / 2**20, 1)
        results["largest_tensor_mib"] = round(largest / 2**20, 1)
        copy_s = _timed(lambda: plain_copy(source, root / "copy"))
        results["plain_copy_mb_s"] = round(source_bytes / copy_s / 1e6, 1)
        for precision in (Precision.FP8, Precision.FP16):
            target = root / precision.branch
            before = rss_mib()

            def run(target: Path = target, precision: Precision = precision) -> None:
                plan = convert_directory(source, target, precision)
                fsync_tree(target)
                results[f"{precision.branch}_parameters"] = plan.parameters

            seconds = _timed(run)
            params = results[f"{precision.branch}_parameters"]
            results[f"{precision.branch}_mparams_s"] = round(params / seconds / 1e6, 1)
            results[f"{precision.branch}_source_mb_s"] = round(source_bytes / seconds / 1e6, 1)
            results[f"{precision.branch}_vs_copy"] = round(copy_s / seconds, 2)
            results[f"{precision.branch}_peak_rss_growth_mib"] = round(rss_mib() - before, 1)
    results["peak_rss_mib"] = round(rss_mib(), 1)
    return results


def bench_storage_job(total_mib: int, shards: int) -> dict[str, Any]:
    from modelyard.prepare import blobs
    from modelyard.prepare.jobs import handlers
    from modelyard.prepare.service import PrepareService
    from modelyard.prepare.worker import Worker
    from modelyard.storage.local import LocalStorage
    from modelyard.store.engine import make_engine
    from modelyard.store.repository import Store

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-prepare-job-") as tmp:
        root = Path(tmp)
        source = root / "source"
        source.mkdir()
        make_checkpoint(source, total_mib, shards)
        store = Store(make_engine(f"sqlite:///{root / 'db.sqlite'}"))
        store.upgrade()
        storage = LocalStorage(root / "storage")

        def put(path: Path) -> tuple[str, int]:
            sink = blobs.open_sink(store, storage)
            with open(path, "rb") as f:
                while chunk := f.read(8 << 20):
                    sink.write(memoryview(chunk))
            return sink.finish()

        store.create_model("bench", "m", {"kind": "HF_BASE_MODEL", "state": "READY"})
        changes = {p.name: put(p) for p in sorted(source.iterdir())}
        store.revisions.commit(
            "bench", "m", changes=changes, author="modelyard", message="bench", allow_create_branch=True
        )
        source_bytes = sum(size for _, size in changes.values())

        def copy_through_storage() -> None:
            for sha256, _ in changes.values():
                put(storage.blob_path(sha256))

        os.sync()
        copy_s = _timed(copy_through_storage)
        PrepareService(store).request("bench", "bench", "m", {"precision": "FP8"})
        worker = Worker(store, handlers(store, storage))
        before = rss_mib()
        os.sync()
        job_s = _timed(worker.run_once)
        model = store.get_model("accounts/bench/models/m")
        assert model is not None and model[0].get("supportedPrecisions") == ["FP8"], model
        params = sum(
            int(np.prod(info["shape"])) for p in source.glob("*.safetensors") for info in _header(p).values()
        )
        results["job_source_mib"] = round(source_bytes / 2**20, 1)
        results["job_copy_through_storage_mb_s"] = round(source_bytes / copy_s / 1e6, 1)
        results["job_fp8_mparams_s"] = round(params / job_s / 1e6, 1)
        results["job_fp8_source_mb_s"] = round(source_bytes / job_s / 1e6, 1)
        results["job_fp8_vs_copy"] = round(copy_s / job_s, 2)
        results["job_peak_rss_growth_mib"] = round(rss_mib() - before, 1)
        store.dispose()
    return results


def _header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header: dict[str, Any] = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return header


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--checkpoint-mib", type=int, default=256)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--skip-job", action="store_true", help="kernels only")
    parser.add_argument("--job", action="store_true", help="also the job through file storage and a commit")
    args = parser.parse_args()
    results: dict[str, Any] = {"kernels": bench_kernels(args.rows, args.cols)}
    for name, value in results["kernels"].items():
        print(f"{name:32s} {value:8.1f} M params/s")
    if not args.skip_job:
        results["job"] = bench_job(args.checkpoint_mib, args.shards)
        for name, value in results["job"].items():
            print(f"{name:32s} {value}")
    if args.job:
        results["storage_job"] = bench_storage_job(args.checkpoint_mib, args.shards)
        for name, value in results["storage_job"].items():
            print(f"{name:32s} {value}")
    out = Path(__file__).parent / "results" / "prepare.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
