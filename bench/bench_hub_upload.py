"""Hub door upload benchmark: ``HfApi.upload_folder`` (``HF_HUB_DISABLE_XET=1``) of a folder of random
weights through ``/hf`` against a local fsync'd copy of the same bytes.

    .venv/bin/python bench/bench_hub_upload.py [--files 4] [--size-mib 256] [--runs 3] [--dir DIR]

``modelyard serve`` runs on SQLite with ``file://`` storage in a temporary directory (or ``--dir``). The
folder holds ``config.json`` and ``--files`` files of ``--size-mib`` random bytes (``.bin``: LFS, never
validated as safetensors). Per run, a fresh repository: the wall time of ``upload_folder`` (hashing
by the client, the LFS batch, the PUTs, hashed and fsync'd by the server, the commit) with the default
files over 64 MiB sent multipart in 16 MiB parts, and with a threshold above the file size (basic
single PUTs). The reference is ``shutil.copyfileobj`` + fsync of the same bytes. Results go
to ``bench/results/hub_upload.json``. The issue's target: upload at >= 50% of the copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"

from modelyard.store.engine import make_engine  # noqa: E402
from modelyard.store.repository import Store  # noqa: E402
from tests.support.server import start_server, stop_server  # noqa: E402


def _copy(folder: Path, target: Path) -> float:
    target.mkdir()
    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        with open(path, "rb") as src, open(target / path.name, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-", dir=args.dir))
    folder = work / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bench"}')
    for n in range(args.files):
        with open(folder / f"weights-{n}.bin", "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
    total = sum(p.stat().st_size for p in folder.iterdir()) / (1 << 20)
    results: dict[str, list[float]] = {"copy": [], "upload_multipart": [], "upload_basic": []}
    for case, threshold in (("upload_multipart", 64 << 20), ("upload_basic", (args.size_mib + 1) << 20)):
        db = f"sqlite:///{work / (case + '.db')}"
        store = Store(make_engine(db))
        store.upgrade()
        proc, base = start_server(
            db, "--storage", f"file://{work / (case + '-blobs')}",
            env={"MODELYARD_GC_INTERVAL": "0", "MODELYARD_ACCESS_LOG": "0",
                 "MODELYARD_HF_MULTIPART_THRESHOLD": str(threshold), "MODELYARD_HF_PART_SIZE": str(16 << 20)},
        )  # fmt: skip
        try:
            from huggingface_hub import HfApi

            api = HfApi(endpoint=base + "/hf", token=store.create_api_key("bench", "bench"))
            for run in range(args.runs):
                repo = f"bench/{case.replace('_', '-')}-{run}"
                api.create_repo(repo)
                # Fresh bytes per run: nothing is deduplicated against an earlier run.
                for path in folder.glob("*.bin"):
                    with open(path, "r+b") as f:
                        f.write(os.urandom(64))
                start = time.perf_counter()
                api.upload_folder(repo_id=repo, folder_path=folder)
                results[case].append(time.perf_counter() - start)
                results["copy"].append(_copy(folder, work / f"copy-{case}-{run}"))
                shutil.rmtree(work / f"copy-{case}-{run}")
        finally:
            stop_server(proc)
            store.dispose()
    copy = statistics.median(results["copy"])
    report = {"files": args.files, "size_mib": args.size_mib, "total_mib": total, "runs": args.runs}
    for case, times in results.items():
        median = statistics.median(times)
        report[case] = {"seconds": times, "median_mib_s": total / median, "vs_copy": copy / median}
        print(f"{case:18s} {total / median:8.1f} MiB/s   {copy / median:5.2f} of the copy   ({times})")
    out = ROOT / "bench" / "results" / "hub_upload.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
