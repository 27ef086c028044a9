"""Downloading a model's files: ``:getDownloadEndpoint``, then one streamed GET per file, several at once.

Each file is written to ``NAME.part`` beside its final place and renamed when complete, so a file under
its own name is always whole. An interrupted download resumes: a ``.part`` file continues with
``Range: bytes=N-`` (a server that answers ``200`` instead of ``206`` gets the file from the start); a file
already present is checked by asking for its last byte (``Range: bytes=SIZE-1-SIZE-1``), whose
``Content-Range: bytes A-B/TOTAL`` says whether the file is that long, and whose headers carry the
file's digest: when there is one, the local file is hashed and compared, and a file that differs is
downloaded again (``repaired``), as ``hf download`` does. Only a file of the right size whose server sends
no digest at all is taken on its size.

A modelyard server names every file's size and SHA-256 in its ``:getDownloadEndpoint`` answer
(``filenameToSize``, ``filenameToSha256``: the digests of the revision being downloaded, whatever the
storage sends): then a present file is checked locally, against those, with no request, and every
received file is checked against that SHA-256. ``revision`` asks for a branch, a tag or a commit id
(``?revision=``, a modelyard extension; without it the server serves ``main``); ``include`` and
``exclude`` are glob patterns as ``hf download`` reads them (:func:`wanted`).

Sizes are checked against ``Content-Range`` / ``Content-Length``; a SHA-256 is checked when the server
sends one (``Repr-Digest: sha-256=:...:``, ``Digest: SHA-256=...``, ``x-amz-checksum-sha256``, or a strong
``ETag`` / ``x-modelyard-sha256`` of 64 hex digits, as modelyard's file storage names blobs), an MD5
from GCS's ``x-goog-hash``, and S3's ``ETag``: the MD5 of an object written by one PUT, or for a multipart
object (``ETag: "<md5>-<parts>"``) the MD5 of its parts' MD5s, checkable when the object names its part
size (``x-amz-meta-modelyard-part-size``, as modelyard's multipart uploads set it). S3 ETags of objects
encrypted with KMS or customer keys are not digests and are not used. Names from the server are checked
before anything is written: relative
paths of ``[A-Za-z0-9._-]`` segments, never ``..``, never outside the target directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from modelyard.client.http import ModelyardClient
from modelyard.client.transfer import (
    BLOCK,
    NullProgress,
    Progress,
    RetryPolicy,
    TransferError,
    Transient,
    check_answer,
    check_url,
    run_all,
    signed_url_client,
)
from modelyard.directio import DirectFile, SlabWriter

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+)$")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_S3_ETAG = re.compile(r"([0-9a-f]{32})(?:-(\d+))?")
PART_SUFFIX = ".part"
#: Bytes per slab of a file being received (two per file; O_DIRECT writes of 4 MiB ran at 1.3 GB/s here).
SLAB = 4 * 1024 * 1024


class NoFilesListed(TransferError):
    """The model has no files on this server: nothing to resume, so no resume hint."""


@dataclass(frozen=True)
class Digest:
    algorithm: str  # "sha256", "md5", or "md5-parts" (an S3 multipart ETag)
    value: bytes
    #: "md5-parts": the part size and count.
    part_size: int = 0
    parts: int = 0

    @property
    def streamed(self) -> str | None:
        """The hashlib algorithm computed while receiving, or None (checked by reading the file back)."""
        return None if self.algorithm == "md5-parts" else self.algorithm


@dataclass
class DownloadResult:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Files present locally whose digest differed from the server's: downloaded again.
    repaired: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    bytes_received: int = 0
    verified: list[str] = field(default_factory=list)


def wanted(name: str, include: list[str] | None, exclude: list[str] | None) -> bool:
    """Whether file ``name`` is downloaded: it matches one of ``include`` (when any is given) and none of
    ``exclude``, as ``hf download --include/--exclude`` decides it (``huggingface_hub``'s
    ``filter_repo_objects``: ``fnmatch`` globs over the whole path, ``*`` crosses ``/``, a pattern ending
    in ``/`` takes the folder)."""
    if not include and not exclude:
        return True
    # imported only when globs are given (a slow import); its public path, re-exported without __all__
    from huggingface_hub.utils import filter_repo_objects  # type: ignore[attr-defined]

    return any(True for _ in filter_repo_objects([name], allow_patterns=include, ignore_patterns=exclude))


def safe_target(root: Path, name: str) -> Path:
    """Where file ``name`` (from the server) goes under ``root``; refuses anything that could escape."""
    segments = name.split("/")
    if not name or not all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        raise TransferError(f"the server named a file {name[:80]!r}, which is not a safe relative path")
    return root.joinpath(*segments)


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except ValueError:
        return None


def digest_of(headers: httpx.Headers) -> Digest | None:
    """The whole file's SHA-256 (or GCS's MD5) when the answer carries one."""
    repr_digest = headers.get("Repr-Digest", "")
    m = re.search(r"sha-256=:([A-Za-z0-9+/=]+):", repr_digest)
    if m and (raw := _b64(m.group(1))) is not None and len(raw) == 32:
        return Digest("sha256", raw)
    m = re.search(r"(?i)sha-256=([A-Za-z0-9+/=]+)", headers.get("Digest", ""))
    if m and (raw := _b64(m.group(1))) is not None and len(raw) == 32:
        return Digest("sha256", raw)
    for value in (headers.get("x-modelyard-sha256", ""), headers.get("ETag", "").strip('"')):
        if _HEX64.fullmatch(value):  # modelyard's file storage: blobs are named by their SHA-256
            return Digest("sha256", bytes.fromhex(value))
    amz = headers.get("x-amz-checksum-sha256")
    if amz and (raw := _b64(amz)) is not None and len(raw) == 32:
        return Digest("sha256", raw)
    for part in headers.get_list("x-goog-hash", split_commas=True):
        key, _, value = part.strip().partition("=")
        if key.lower() == "md5" and (raw := _b64(value)) is not None and len(raw) == 16:
            return Digest("md5", raw)
    return _s3_etag(headers)


def _s3_etag(headers: httpx.Headers) -> Digest | None:
    """S3's ETag as a digest, where it is one (an answer of S3 or a store speaking its protocol)."""
    if not any(k.lower().startswith(("x-amz-", "x-amzn-")) for k in headers):
        return None
    if headers.get("x-amz-server-side-encryption", "").lower().startswith("aws:kms") or headers.get(
        "x-amz-server-side-encryption-customer-algorithm"
    ):
        return None
    m = _S3_ETAG.fullmatch(headers.get("ETag", "").strip().strip('"').lower())
    if not m:
        return None
    if m.group(2) is None:
        return Digest("md5", bytes.fromhex(m.group(1)))
    part_size = headers.get("x-amz-meta-modelyard-part-size", "")
    if not part_size.isdigit() or int(part_size) <= 0:
        return None
    return Digest("md5-parts", bytes.fromhex(m.group(1)), int(part_size), int(m.group(2)))


def local_digest(path: Path, digest: Digest) -> bytes:
    """The digest of a local file, computed the way ``digest`` was."""
    if digest.algorithm != "md5-parts":
        return _file_digest(path, digest.algorithm).digest()
    parts = hashlib.md5()
    count = 0
    with open(path, "rb") as f:
        while True:
            part = hashlib.md5()
            got = 0
            while got < digest.part_size:
                block = f.read(min(BLOCK, digest.part_size - got))
                if not block:
                    break
                part.update(block)
                got += len(block)
            if got == 0 and count > 0:
                break
            parts.update(part.digest())
            count += 1
            if got < digest.part_size:
                break
    return parts.digest() if count == digest.parts else b""


def _file_digest(path: Path, algorithm: str) -> hashlib._Hash:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm)


class _PartFile:
    """The ``.part`` file being received, through :class:`modelyard.directio.SlabWriter`: the blocks are
    copied into two page-aligned slabs; a full slab is hashed on one worker thread and written
    (``O_DIRECT`` where the file system takes it) on another while the other slab fills. ``hashlib`` and
    writes release the GIL, so receiving, hashing and writing overlap. Appending to a partial file hashes
    what it already holds first, so the digest always covers the whole file and the file is never read
    back to check it.

    Measured on 2 cores, 1 GiB (docs/benchmarks.md): SHA-256 0.6 s, page-cache writes 0.3-2.9 s; one
    thread hashing and writing 64 KiB blocks capped one download near 400 MB/s, and four at once spent
    3.3-5.3 s of CPU per GiB, much of it in the page cache and in threads taking turns at the GIL."""

    def __init__(self, path: Path, mode: str, algorithm: str | None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
        digest = hashlib.new(algorithm) if algorithm else None
        self._slabs = SlabWriter(DirectFile(path, flags), digest, slab_size=SLAB, slabs=2, name="download")
        if algorithm and mode == "ab":
            self._slabs.digest_first(lambda: _file_digest(path, algorithm))

    def write(self, blocks: list[bytes]) -> None:
        """Copy ``blocks`` into the slabs, waiting when both are busy."""
        for block in blocks:
            view = memoryview(block)
            while view:
                view, waits = self._slabs.fill(view)
                for future in waits:
                    future.result()

    def close(self) -> bytes | None:
        """Write what is left, fsync and close; returns the digest of the whole file (or None)."""
        try:
            for future in self._slabs.flush():
                future.result()
            self._slabs.file.fsync()
        finally:
            self.abort()
        digest = self._slabs.digest
        return digest.digest() if digest is not None else None

    def abort(self) -> None:
        """Stop after the slab being written (the part file stays, for a resume)."""
        self._slabs.shutdown()
        self._slabs.file.close()


class Downloader:
    def __init__(
        self,
        api: ModelyardClient,
        account: str,
        model_id: str,
        root: Path,
        *,
        jobs: int = 4,
        retry: RetryPolicy | None = None,
        progress: Progress | None = None,
        transport: httpx.BaseTransport | None = None,
        revision: str | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> None:
        self.api, self.account, self.model_id = api, account, model_id
        self.revision = revision
        self.include, self.exclude = include or [], exclude or []
        #: The revision's SHA-256 and size of each file, when the server names them.
        self._expected: dict[str, tuple[Digest, int | None]] = {}
        self.root = root
        self.jobs = max(1, jobs)
        self.retry = retry or RetryPolicy()
        self.progress: Progress = progress or NullProgress()
        self._transport = transport
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.result = DownloadResult()

    def run(self) -> DownloadResult:
        answer = self.retry.call_api(
            lambda: self.api.get_download_endpoint(self.account, self.model_id, revision=self.revision)
        )
        raw = answer.get("filenameToSignedUrls")
        urls = raw if isinstance(raw, dict) else {}
        listed = bool(urls)
        urls = {str(k): v for k, v in urls.items() if wanted(str(k), self.include, self.exclude)}
        name = f"accounts/{self.account}/models/{self.model_id}"
        if listed and not urls:
            raise NoFilesListed(
                f"no file of {name}"
                + (f" at revision {self.revision}" if self.revision else "")
                + " matches --include/--exclude"
            )
        if not urls:
            raise NoFilesListed(
                f"the server lists no files for {name}: it holds the model's description only (a model "
                "moved with 'modelyard export' and 'import' arrives without its files; see the README, "
                '"Moving a catalog")'
            )
        plan = [
            (str(name), safe_target(self.root, str(name)), check_url(str(name), url))
            for name, url in sorted(urls.items())
        ]
        sizes = answer.get("filenameToSize")  # modelyard's servers say it: the total is known up front
        sizes = sizes if isinstance(sizes, dict) else {}
        planned = {k: int(v) for k, v in sizes.items() if k in urls and str(v).isdigit()}
        if len(planned) == len(urls):
            self.progress_plan(planned)
        digests = answer.get("filenameToSha256")
        for file, hexdigest in (digests if isinstance(digests, dict) else {}).items():
            if file in urls and isinstance(hexdigest, str) and _HEX64.fullmatch(hexdigest):
                self._expected[file] = (Digest("sha256", bytes.fromhex(hexdigest)), planned.get(file))
        if self.root.exists() and not self.root.is_dir():
            raise TransferError(f"{self.root}: exists and is not a directory")
        with signed_url_client(self._transport, self.jobs) as http:
            run_all(self.jobs, lambda item: self._one(http, *item), plan, self._stop)
        for names in (self.result.downloaded, self.result.skipped, self.result.resumed, self.result.verified):
            names.sort()
        return self.result

    def progress_plan(self, sizes: dict[str, int]) -> None:
        """Tell the progress (when it takes a plan) every file's size before the first byte."""
        plan = getattr(self.progress, "plan", None)
        if callable(plan):
            plan(sizes)

    # -- one file --------------------------------------------------------------------------------------

    def _one(self, http: httpx.Client, name: str, target: Path, url: str) -> None:
        if self._stop.is_set():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + PART_SUFFIX)
        repaired = False
        expected, expected_size = self._expected.get(name, (None, None))
        if target.is_file() and not part.exists():
            have = target.stat().st_size
            known: Digest | None = expected
            if expected is not None and expected_size is not None:  # checked here, with no request
                complete = have == expected_size
            else:
                complete, known = self._complete_at(http, name, url, have)
            if complete and (known is None or local_digest(target, known) == known.value):
                self.progress.start(name, have, have)
                self.progress.finish(name, skipped=True)
                with self._lock:
                    self.result.skipped.append(name)
                    if known is not None:
                        self.result.verified.append(name)
                return
            # the right size and other bytes, or (the revision's size known) any other file: fetched again
            repaired = complete or expected is not None  # (the file stays until then)
        resumed_from = part.stat().st_size if part.is_file() else 0
        size, digest, computed = self.retry.run(
            lambda attempt: self._fetch(http, name, url, part, attempt == 1, expected)
        )
        have = part.stat().st_size
        if have != size:
            raise TransferError(f"{name}: received {have} bytes, expected {size}")
        verified = False
        if digest is not None:
            if computed is None:  # nothing was received, or a digest checked by reading the file
                computed = local_digest(part, digest)
            if computed != digest.value:
                part.unlink(missing_ok=True)
                raise TransferError(f"{name}: the {digest.algorithm} of the received bytes does not match")
            verified = True
        os.replace(part, target)
        with self._lock:
            self.result.downloaded.append(name)
            if resumed_from:
                self.result.resumed.append(name)
            if repaired:
                self.result.repaired.append(name)
            if verified:
                self.result.verified.append(name)
        self.progress.finish(name)

    def _complete_at(self, http: httpx.Client, name: str, url: str, have: int) -> tuple[bool, Digest | None]:
        """Whether the remote file is exactly ``have`` bytes long (so the local one may be complete), and
        the digest the server sends for it: asks for its last byte, whose ``Content-Range`` gives the
        total (S3 answers a range past the end with a 416 that carries no Content-Range, so that is not
        the question)."""
        headers = {"Range": f"bytes={have - 1}-{have - 1}"} if have else {}

        def attempt(_: int) -> tuple[bool, Digest | None]:
            with http.stream("GET", url, headers=headers) as response:
                if response.status_code == 206:
                    same = _total(response.headers.get("Content-Range", "")) == have
                    return same, digest_of(response.headers)
                if response.status_code == 200:
                    same = response.headers.get("Content-Length") == str(have)
                    return same, digest_of(response.headers)
                if response.status_code == 416:
                    return False, None
                check_answer(response, f"{name}: download refused")
                return False, None

        return self.retry.run(attempt)

    def _fetch(
        self, http: httpx.Client, name: str, url: str, part: Path, first: bool, expected: Digest | None
    ) -> tuple[int, Digest | None, bytes | None]:
        """GET the rest of ``name`` into ``part``; returns the file's size, the digest to check (the
        revision's ``expected`` one, else the one the server sent) and the digest of the part file (None
        when nothing was received)."""
        offset = part.stat().st_size if part.is_file() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with http.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 416 and offset:
                total = _total(response.headers.get("Content-Range", "")) or _actual_size(response)
                if total == offset:  # the part holds the whole file already
                    self._started(name, total, offset, first)
                    return total, expected or digest_of(response.headers), None
                part.unlink()  # longer than the file: start over
                raise Transient(f"{name}: the partial file did not match the server's; starting over")
            check_answer(response, f"{name}: download refused")
            if status == 206:
                m = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
                if not m or m.group(1) is None or int(m.group(1)) != offset:
                    raise TransferError(f"{name}: the server answered a range request with another range")
                size = int(m.group(3))
                mode = "ab"
            elif status == 200:
                length = response.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    raise TransferError(f"{name}: the server sent no Content-Length")
                size, offset, mode = int(length), 0, "wb"
            else:
                raise TransferError(f"{name}: unexpected answer {status} to a download")
            self._started(name, size, offset, first)
            digest = expected or digest_of(response.headers)
            out = _PartFile(part, mode, digest.streamed if digest is not None else None)
            try:
                batch: list[bytes] = []
                batched = 0
                for chunk in response.iter_raw():
                    if self._stop.is_set():
                        raise TransferError(f"{name}: stopped")
                    batch.append(chunk)
                    batched += len(chunk)
                    if batched >= BLOCK:
                        self._received(name, out, batch, batched)
                        batch, batched = [], 0
                if batch:
                    self._received(name, out, batch, batched)
            except BaseException:
                out.abort()
                raise
            return size, digest, out.close()

    def _received(self, name: str, out: _PartFile, batch: list[bytes], size: int) -> None:
        out.write(batch)
        self.progress.advance(name, size)
        with self._lock:
            self.result.bytes_received += size

    def _started(self, name: str, size: int, offset: int, first: bool) -> None:
        if first:
            self.progress.start(name, size, offset)
        else:
            self.progress.rewind(name, offset)


def _actual_size(response: httpx.Response) -> int | None:
    """S3's 416 names the object's size in its XML body (``<ActualObjectSize>``)."""
    m = re.search(r"<ActualObjectSize>(\d+)</ActualObjectSize>", response.read().decode("utf-8", "replace"))
    return int(m.group(1)) if m else None


def _total(content_range: str) -> int | None:
    m = _CONTENT_RANGE.fullmatch(content_range.strip())
    return int(m.group(3)) if m else None


__all__ = [
    "PART_SUFFIX",
    "Digest",
    "DownloadResult",
    "Downloader",
    "digest_of",
    "local_digest",
    "safe_target",
    "wanted",
]
