"""OCI door benchmark: pulling and pushing a model with skopeo against modelyard's own transfers.

    .venv/bin/python bench/bench_oci.py [--size-mib 1024] [--runs 3] [--dir DIR]

``modelyard serve`` runs on SQLite with ``file://`` storage. The model is ``config.json`` and one
safetensors file of ``--size-mib`` (random F16 bytes), uploaded once with ``modelyard models upload``.
Per run:

* pull: ``modelyard models download`` of the model, then ``skopeo copy docker://HOST/bench/m:latest
  dir:OUT`` of the same model (the OCI door, ModelPack manifest, blobs sent with sendfile);
* push: ``skopeo copy dir:OUT docker://HOST/bench-push/pushed-N:latest`` (blob upload, SHA-256 check,
  placement, validation and a commit of the model's files; another account, so that skopeo cannot mount
  the blobs instead of sending them), against a local fsync'd copy of the same files;
* manifest GET latency: 300 ``GET /v2/bench/m/manifests/latest`` on one keep-alive connection (p50, p99).

Wall times include each command's start-up. Results go to ``bench/results/oci.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_upload_cli import CONFIG, reference_copy, write_shard  # noqa: E402
from modelyard.store.engine import make_engine  # noqa: E402
from modelyard.store.repository import Store  # noqa: E402
from tests.support.server import start_server, stop_server  # noqa: E402

MIB = 1 << 20


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=3600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="modelyard-bench-oci-", dir=args.dir))
    proc = None
    try:
        model_dir = base / "model"
        model_dir.mkdir()
        (model_dir / "config.json").write_text(json.dumps(CONFIG))
        write_shard(model_dir / "model.safetensors", args.size_mib)
        total = sum(p.stat().st_size for p in model_dir.iterdir())
        db = f"sqlite:///{base / 'bench.db'}"
        store = Store(make_engine(db))
        store.upgrade()
        key = store.create_api_key("bench", "bench")
        # Pushes go to another account: skopeo would otherwise mount the blobs it knows from bench/m (a
        # cross-repository mount sends no bytes); bench-push cannot read bench/m, so every byte is sent.
        push_key = store.create_api_key("bench-push", "bench")
        store.dispose()
        proc, url = start_server(
            db, "--storage", f"file://{base / 'storage'}", env={"MODELYARD_GC_INTERVAL": "0"}
        )
        host = url.removeprefix("http://")
        env = {
            **os.environ,
            "MODELYARD_BASE_URL": url,
            "MODELYARD_API_KEY": key,
            "MODELYARD_ACCOUNT": "bench",
            "XDG_STATE_HOME": str(base / "state"),
            "MODELYARD_CONFIG": str(base / "profiles.toml"),
        }
        cli = [sys.executable, "-m", "modelyard.cli"]
        subprocess.run(
            [*cli, "models", "upload", "m", str(model_dir)], check=True, capture_output=True, env=env
        )
        skopeo = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
        creds = f"bench:{key}"
        times: dict[str, list[float]] = {"download": [], "skopeo pull": [], "skopeo push": [], "copy": []}
        for run in range(args.runs):
            out = base / f"dl-{run}"
            times["download"].append(timed([*cli, "models", "download", "m", str(out)], env))
            shutil.rmtree(out)
            pulled = base / f"pulled-{run}"
            ref = f"docker://{host}/bench/m:latest"
            times["skopeo pull"].append(timed([*skopeo, "--src-creds", creds, ref, f"dir:{pulled}"]))
            dest = f"docker://{host}/bench-push/pushed-{run}:latest"
            push_creds = f"bench:{push_key}"
            times["skopeo push"].append(timed([*skopeo, "--dest-creds", push_creds, f"dir:{pulled}", dest]))
            shutil.rmtree(pulled)
            copy_dir = base / f"copy-{run}"
            times["copy"].append(reference_copy(model_dir, copy_dir))
            shutil.rmtree(copy_dir)
        latencies = []
        with httpx.Client(base_url=url, auth=("bench", key)) as http:
            for _ in range(300):
                start = time.perf_counter()
                http.get("/v2/bench/m/manifests/latest").raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)
        latencies.sort()
        mb = total / 1e6
        results: dict[str, Any] = {
            "size_mib": args.size_mib,
            "runs": args.runs,
            "seconds": {k: statistics.median(v) for k, v in times.items()},
            "mb_per_s": {k: mb / statistics.median(v) for k, v in times.items()},
            "manifest_get_ms": {
                "p50": latencies[len(latencies) // 2],
                "p99": latencies[int(len(latencies) * 0.99)],
            },
        }
        rates = results["mb_per_s"]
        results["pull_vs_download"] = rates["skopeo pull"] / rates["download"]
        results["push_vs_copy"] = rates["skopeo push"] / rates["copy"]
        print(json.dumps(results, indent=2))
        out_file = ROOT / "bench" / "results" / "oci.json"
        out_file.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
