"""CLI transfer benchmark: ``modelyard models upload`` of 8 x 128 MiB files, then ``models download``.

    .venv/bin/python bench/bench_upload_cli.py [--files 8] [--size-mib 128] [--runs 3] [--dir DIR]

``modelyard serve`` runs on SQLite with ``file://`` storage in a temporary directory (or ``--dir``). The
model directory holds ``config.json`` and ``--files`` safetensors shards of ``--size-mib`` each (one F16
tensor of random bytes, so validation reads real headers). Per run, each a fresh model:

* ``upload --jobs 4`` (plain PUTs, several files at once), ``upload --jobs 1`` (one file at a time), and
  ``upload --jobs 4 --resumable --chunk-size 64`` (the GCS resumable protocol, 64 MiB chunks);
* ``download --jobs 4`` of the model into an empty directory.

Printed per case: the wall time of the whole command (process start, create, every byte, validate, final
get) and MB/s over it, plus the transfer rate the CLI itself reports. The reference is a local fsync'd
copy of the same bytes (``shutil.copyfileobj`` + fsync), the ceiling of any upload or download on this disk.
The server, the CLI and the disk share the machine's cores. Results go to ``bench/results/upload_cli.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelyard.store.engine import make_engine  # noqa: E402
from modelyard.store.migrate import upgrade  # noqa: E402
from modelyard.store.repository import Store  # noqa: E402
from tests.support.server import start_server, stop_server  # noqa: E402

MIB = 1 << 20
CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "max_position_embeddings": 32768,
    "torch_dtype": "float16",
}


def write_shard(path: Path, size_mib: int) -> None:
    """A safetensors file holding one F16 tensor of ``size_mib`` MiB of random bytes, written in blocks."""
    nbytes = size_mib * MIB
    header = {"weight": {"dtype": "F16", "shape": [nbytes // 2], "data_offsets": [0, nbytes]}}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for _ in range(size_mib):
            f.write(os.urandom(MIB))


def reference_copy(src_dir: Path, dst_dir: Path) -> float:
    """Seconds to copy every file of ``src_dir`` into ``dst_dir`` and fsync each."""
    dst_dir.mkdir()
    start = time.perf_counter()
    for src in sorted(src_dir.iterdir()):
        with open(src, "rb") as i, open(dst_dir / src.name, "wb") as o:
            shutil.copyfileobj(i, o, MIB)
            o.flush()
            os.fsync(o.fileno())
    return time.perf_counter() - start


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Case:
    name: str
    seconds: list[float] = field(default_factory=list)
    cli_rates: list[float] = field(default_factory=list)
    cli_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)

    def report(self, total: int) -> dict[str, Any]:
        best, med = min(self.seconds), statistics.median(self.seconds)
        gib = total / (1 << 30)
        row = {
            **asdict(self),
            "best_mb_s": round(total / best / 1e6, 1),
            "median_mb_s": round(total / med / 1e6, 1),
        }
        own = ", ".join(f"{r:.0f}" for r in self.cli_rates) or "-"
        cpu = ""
        if self.cli_cpu:
            cpu = (
                f"; CPU s/GiB: CLI {statistics.median(self.cli_cpu) / gib:.2f}, "
                f"server {statistics.median(self.server_cpu) / gib:.2f}"
            )
        print(
            f"{self.name:<44} best {best:6.2f} s = {row['best_mb_s']:6.1f} MB/s   median {med:6.2f} s = "
            f"{row['median_mb_s']:6.1f} MB/s   (CLI's own rate: {own} MB/s{cpu})",
            flush=True,
        )
        return row


def run_cli(case: Case, env: dict[str, str], server_pid: int, *args: str) -> None:
    """One command: its wall time, the rate it reports, and the CPU of the CLI and of the server."""
    cli_before, server_before = children_cpu(), process_cpu(server_pid)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "modelyard.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    case.seconds.append(time.perf_counter() - start)
    case.cli_cpu.append(children_cpu() - cli_before)
    case.server_cpu.append(process_cpu(server_pid) - server_before)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    m = re.search(r"\(([\d.]+) [KMG]iB, ([\d.]+) MB/s", result.stdout + result.stderr)
    if m:
        case.cli_rates.append(float(m.group(2)))


UPLOADS = {
    "upload --jobs 4": ("--jobs", "4", "--no-resumable"),
    "upload --jobs 1": ("--jobs", "1", "--no-resumable"),
    "upload --jobs 4 --resumable --chunk-size 64": ("--jobs", "4", "--resumable", "--chunk-size", "64"),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the files, database and storage go")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="modelyard-bench-cli-", dir=args.dir))
    proc = None
    try:
        model_dir = base / "model"
        model_dir.mkdir()
        (model_dir / "config.json").write_text(json.dumps(CONFIG))
        for i in range(args.files):
            write_shard(model_dir / f"model-{i + 1:05d}-of-{args.files:05d}.safetensors", args.size_mib)
        total = sum(p.stat().st_size for p in model_dir.iterdir())
        print(f"{args.files} x {args.size_mib} MiB + config.json = {total / MIB:.0f} MiB in {base}")

        db = f"sqlite:///{base / 'bench.db'}"
        store = Store(make_engine(db))
        upgrade(store.engine)
        key = store.create_api_key("bench", "bench")
        store.engine.dispose()
        storage = f"file://{base / 'storage'}"
        proc, url = start_server(db, "--storage", storage, env={"MODELYARD_GC_INTERVAL": "0"})
        env = {
            **os.environ,
            "MODELYARD_BASE_URL": url,
            "MODELYARD_API_KEY": key,
            "MODELYARD_ACCOUNT": "bench",
            "XDG_STATE_HOME": str(base / "state"),
            "MODELYARD_CONFIG": str(base / "profiles.toml"),
        }
        cases = {name: Case(name) for name in [*UPLOADS, "download --jobs 4", "reference copy"]}
        n = 0
        for run in range(args.runs):
            for name, extra in UPLOADS.items():
                n += 1
                run_cli(cases[name], env, proc.pid, "models", "upload", f"m{n}", str(model_dir), *extra)
            out = base / f"download-{run}"
            run_cli(cases["download --jobs 4"], env, proc.pid, "models", "download", f"m{n}", str(out))
            shutil.rmtree(out)
            copy_dir = base / f"copy-{run}"
            cases["reference copy"].seconds.append(reference_copy(model_dir, copy_dir))
            shutil.rmtree(copy_dir)
        results = {
            "load_average_after": os.getloadavg(),
            "cpus": os.cpu_count(),
            "files": args.files,
            "size_mib": args.size_mib,
            "total_bytes": total,
            "runs": args.runs,
            "rows": [case.report(total) for case in cases.values()],
        }
        out_path = ROOT / "bench" / "results" / "upload_cli.json"
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {out_path.relative_to(ROOT)}")
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
