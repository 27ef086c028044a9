"""Model-file benchmark: a 1 GiB file through signed URLs on file storage, and header-only validation.

    .venv/bin/python bench/bench_files.py [--size-mib 1024] [--runs 3] [--tensors 1000]

In one run, on one file system (a temporary directory, or ``--dir``):

1. the reference: a local copy of the file, fsync'd (``shutil.copyfileobj`` with 1 MiB buffers + fsync),
   the speed an upload or download is compared with, twice per run (before the uploads and before the
   downloads: the disk's write speed swings 4x from one minute to the next). The ratios are given against
   the median copy and against the fastest copy of all runs (``*_vs_best_copy``, the strictest);
2. upload: ``modelyard serve`` (SQLite, ``file://`` storage in the same directory), getUploadEndpoint,
   then one streaming PUT of the file to its signed URL (httpx, 1 MiB chunks, Content-Length set); the
   server hashes, writes and fsyncs the bytes and renames them into place before it answers;
   The same file is also PUT by a minimal HTTP/1.1 client that sends it with ``sendfile(2)`` (the
   cheapest client there is: curl spends 0.4-0.5 s of CPU per GiB, on the same two cores as the server);
3. download: getDownloadEndpoint, then a GET written to a local file and fsync'd, twice: with the
   transfer client (curl by default; it receives 100 KiB and writes 8 KiB at a time, about 125,000
   ``write`` calls and 1.4-2.7 s of its own CPU per GiB, so on a 2-core machine it, not the server, sets
   the pace), and with a minimal HTTP/1.1 client that moves the body from the socket to the file with
   ``splice(2)`` (no copy through user space: the cheapest a client can be, which shows how fast the
   server sends). The server sends a whole file with ``sendfile(2)`` (``modelyard/serving/pathsend.py``). The
   first GET of each run reads a blob just written with ``O_DIRECT`` (not in the page cache);
4. the server's resident memory (VmRSS, sampled every 20 ms) before and during the transfers;
5. validation: a base model whose ``model.safetensors`` holds ``--tensors`` tensors, uploaded, then the
   time of ``:validateUpload`` through the SDK (headers are read, tensor data never).

Each transfer runs ``--runs`` times; the best and the median are printed, and everything goes to
``bench/results/files.json``. The server and the client share the machine's cores.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelyard.store.engine import make_engine  # noqa: E402
from modelyard.store.migrate import upgrade  # noqa: E402
from modelyard.store.repository import Store  # noqa: E402
from tests.support.server import start_server, stop_server  # noqa: E402

MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_cpu() -> float:
    """CPU time of this process and its finished children (curl)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            f.write(block[:n] if n < len(block) else block)
            written += n
        f.flush()
        os.fsync(f.fileno())


def local_copy(src: Path, dst: Path) -> float:
    start = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout, MIB)
        fout.flush()
        os.fsync(fout.fileno())
    elapsed = time.perf_counter() - start
    dst.unlink()
    return elapsed


def file_chunks(path: Path) -> Any:
    with open(path, "rb") as f:
        while block := f.read(MIB):
            yield block


def put(http: httpx.Client, url: str, source: Path, size: int, client: str) -> int:
    if client == "curl":
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(source),
             "-H", "Content-Type: application/octet-stream", url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return int(out.stdout)
    response = http.put(
        url,
        content=file_chunks(source),
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    )
    return response.status_code


def get(http: httpx.Client, url: str, target: Path, client: str) -> None:
    """Download to ``target`` and fsync it."""
    if client == "curl":
        subprocess.run(["curl", "-sS", "-f", "-o", str(target), url], check=True)
    else:
        with http.stream("GET", url) as r, open(target, "wb") as out:
            assert r.status_code == 200
            for block in r.iter_raw(MIB):
                out.write(block)
    with open(target, "rb+") as f:
        os.fsync(f.fileno())


def _response_head(sock: socket.socket) -> tuple[str, list[str], bytes]:
    """Read a response's status line and headers; returns them and the body bytes read with them."""
    head = b""
    while b"\r\n\r\n" not in head:
        more = sock.recv(4096)
        if not more:
            raise RuntimeError("the connection closed inside the response headers")
        head += more
    head, _, body_start = head.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, lines, body_start


def put_sendfile(url: str, source: Path, size: int) -> int:
    """PUT ``source`` to ``url`` with ``sendfile(2)`` (file to socket in the kernel); returns the status."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port)) as sock, open(source, "rb") as f:
        sock.sendall(
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {size}\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n".encode()
        )
        sent = 0
        while sent < size:
            n = os.sendfile(sock.fileno(), f.fileno(), sent, size - sent)
            if not n:
                raise RuntimeError(f"{source} ended after {sent} bytes")
            sent += n
        status, _, _ = _response_head(sock)
        return int(status.split()[1])


def get_spliced(url: str, target: Path) -> None:
    """GET ``url`` into ``target`` (fsync'd): the body goes socket -> pipe -> file with ``splice(2)``."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        status, lines, body_start = _response_head(sock)
        if status.split()[1] != "200":
            raise RuntimeError(status)
        length = int(next(h.split(":", 1)[1] for h in lines if h.lower().startswith("content-length:")))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        pipe_out, pipe_in = os.pipe()
        try:
            fcntl.fcntl(pipe_in, 1031, MIB)  # F_SETPIPE_SZ: 1 MiB per splice
            os.write(fd, body_start)
            remaining = length - len(body_start)
            while remaining:
                moved = os.splice(sock.fileno(), pipe_in, min(remaining, MIB))
                if not moved:
                    raise RuntimeError(f"the body ended {remaining} bytes early")
                left = moved
                while left:
                    left -= os.splice(pipe_out, fd, left)
                remaining -= moved
            os.fsync(fd)
        finally:
            for descriptor in (pipe_out, pipe_in, fd):
                os.close(descriptor)


def mib_s(size: int, seconds: float) -> float:
    return size / MIB / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tensors", type=int, default=1000)
    parser.add_argument(
        "--client",
        choices=("curl", "httpx"),
        default="curl" if shutil.which("curl") else "httpx",
        help="the HTTP client of the transfers (default: curl when installed; its CPU is not the server's)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    from fireworks import Fireworks

    with tempfile.TemporaryDirectory(prefix="modelyard-bench-files-", dir=args.dir) as tmp_dir:
        tmp = Path(tmp_dir)
        source = tmp / "weights.bin"
        print(f"writing a {args.size_mib} MiB random file in {tmp} ...", flush=True)
        make_file(source, size)
        db = f"sqlite:///{tmp / 'bench.db'}"
        store = Store(make_engine(db))
        upgrade(store.engine)
        key = store.create_api_key("bench")
        proc, base = start_server(
            db, "--storage", f"file://{tmp / 'storage'}", env={"MODELYARD_GC_INTERVAL": "0"}
        )
        results: dict[str, Any] = {
            "size_bytes": size,
            "runs": args.runs,
            "cpus": os.cpu_count(),
            "client": args.client,
        }
        try:
            client = Fireworks(api_key=key, base_url=base, account_id="bench", max_retries=0, timeout=600)
            copies: list[float] = []
            uploads: list[float] = []
            downloads: list[float] = []
            spliced: list[float] = []
            sendfile_uploads: list[float] = []
            cpu: dict[str, list[float]] = {
                "upload": [],
                "download": [],
                "client_upload": [],
                "client_download": [],
            }
            rss_before = rss_kib(proc.pid)
            rss_peak = 0
            with httpx.Client(timeout=600) as http:
                for run in range(args.runs):
                    copies.append(local_copy(source, tmp / "copy.bin"))
                    model_id = f"big-{run}"
                    client.models.create(model_id=model_id, model={"kind": "CUSTOM_MODEL"})
                    urls = client.models.get_upload_endpoint(
                        model_id, filename_to_size={"weights.bin": str(size)}
                    ).filename_to_signed_urls
                    assert urls is not None
                    with RssSampler(proc.pid) as sampler:
                        cpu0, client0 = cpu_seconds(proc.pid), client_cpu()
                        start = time.perf_counter()
                        status = put(http, urls["weights.bin"], source, size, args.client)
                        uploads.append(time.perf_counter() - start)
                        cpu["upload"].append(cpu_seconds(proc.pid) - cpu0)
                        cpu["client_upload"].append(client_cpu() - client0)
                    assert status == 200, status
                    rss_peak = max(rss_peak, sampler.peak)
                    client.models.create(model_id=f"{model_id}-sendfile", model={"kind": "CUSTOM_MODEL"})
                    sf_urls = client.models.get_upload_endpoint(
                        f"{model_id}-sendfile", filename_to_size={"weights.bin": str(size)}
                    ).filename_to_signed_urls
                    assert sf_urls is not None
                    with RssSampler(proc.pid) as sampler:
                        start = time.perf_counter()
                        status = put_sendfile(sf_urls["weights.bin"], source, size)
                        sendfile_uploads.append(time.perf_counter() - start)
                    assert status == 200, status
                    rss_peak = max(rss_peak, sampler.peak)
                    client.models.delete(f"{model_id}-sendfile")  # the blob stays: big-N holds it too
                    client.models.validate_upload(model_id)
                    get_urls = client.models.get_download_endpoint(model_id).filename_to_signed_urls
                    assert get_urls is not None
                    copies.append(local_copy(source, tmp / "copy.bin"))  # the second copy of the run
                    target = tmp / "downloaded.bin"
                    with RssSampler(proc.pid) as sampler:
                        cpu0, client0 = cpu_seconds(proc.pid), client_cpu()
                        start = time.perf_counter()
                        get(http, get_urls["weights.bin"], target, args.client)
                        downloads.append(time.perf_counter() - start)
                        cpu["download"].append(cpu_seconds(proc.pid) - cpu0)
                        cpu["client_download"].append(client_cpu() - client0)
                    rss_peak = max(rss_peak, sampler.peak)
                    assert target.stat().st_size == size
                    target.unlink()
                    with RssSampler(proc.pid) as sampler:
                        start = time.perf_counter()
                        get_spliced(get_urls["weights.bin"], target)
                        spliced.append(time.perf_counter() - start)
                    rss_peak = max(rss_peak, sampler.peak)
                    assert target.stat().st_size == size
                    target.unlink()
                    client.models.delete(model_id)  # frees the blob (the next run stores it again)
                    print(
                        f"run {run + 1}: copies {mib_s(size, copies[-2]):.0f} / "
                        f"{mib_s(size, copies[-1]):.0f} MiB/s, "
                        f"upload {mib_s(size, uploads[-1]):.0f} MiB/s, "
                        f"upload (sendfile client) {mib_s(size, sendfile_uploads[-1]):.0f} MiB/s, "
                        f"download {mib_s(size, downloads[-1]):.0f} MiB/s, "
                        f"download (splice client) {mib_s(size, spliced[-1]):.0f} MiB/s; CPU s: server up "
                        f"{cpu['upload'][-1]:.2f} down {cpu['download'][-1]:.2f}, client up "
                        f"{cpu['client_upload'][-1]:.2f} down {cpu['client_download'][-1]:.2f}",
                        flush=True,
                    )
            for name, times in (
                ("local_copy", copies),
                ("upload", uploads),
                ("upload_sendfile_client", sendfile_uploads),
                ("download", downloads),
                ("download_splice_client", spliced),
            ):
                results[name] = {
                    "best_mib_s": round(mib_s(size, min(times)), 1),
                    "median_mib_s": round(mib_s(size, statistics.median(times)), 1),
                    "seconds": [round(t, 3) for t in times],
                }
            results["cpu_seconds_median"] = {k: round(statistics.median(v), 2) for k, v in cpu.items()}
            copy_median, copy_best = statistics.median(copies), min(copies)
            for name, times in (
                ("upload", uploads),
                ("upload_sendfile_client", sendfile_uploads),
                ("download", downloads),
                ("download_splice_client", spliced),
            ):
                # Against the median copy, and against the fastest copy of the set (the strictest).
                results[f"{name}_vs_copy"] = round(copy_median / statistics.median(times), 3)
                results[f"{name}_vs_best_copy"] = round(copy_best / statistics.median(times), 3)
            results["server_rss_mib"] = {
                "before": round(rss_before / 1024, 1),
                "peak_during_transfers": round(rss_peak / 1024, 1),
                "growth": round((rss_peak - rss_before) / 1024, 1),
            }

            # Validation of a checkpoint of many tensors: headers only.
            ck = tmp / "many"
            ck.mkdir()
            (ck / "config.json").write_text(
                json.dumps({"model_type": "llama", "max_position_embeddings": 4096})
            )
            tensors = {
                f"model.layers.{i}.weight": np.zeros((4, 4), dtype=np.float16) for i in range(args.tensors)
            }
            save_file(tensors, str(ck / "model.safetensors"))
            files = {p.name: p.read_bytes() for p in ck.iterdir()}
            client.models.create(
                model_id="many-tensors", model={"kind": "HF_BASE_MODEL", "base_model_details": {}}
            )
            urls = client.models.get_upload_endpoint(
                "many-tensors", filename_to_size={n: str(len(b)) for n, b in files.items()}
            ).filename_to_signed_urls
            assert urls is not None
            for name, data in files.items():
                assert httpx.put(urls[name], content=data).status_code == 200
            start = time.perf_counter()
            client.models.validate_upload("many-tensors", config_only=True)
            validate_seconds = time.perf_counter() - start
            model = client.models.get("many-tensors")
            assert model.base_model_details is not None
            assert model.base_model_details.parameter_count == str(16 * args.tensors)
            results["validate"] = {
                "tensors": args.tensors,
                "header_bytes": int.from_bytes(files["model.safetensors"][:8], "little"),
                "seconds": round(validate_seconds, 4),
            }
            client.close()
        finally:
            stop_server(proc)
            store.engine.dispose()

    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results" / "files.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
