"""Uploading a model directory: ``:getUploadEndpoint``, one PUT (or resumable session) per file, several
files at once, then ``:validateUpload``. Works against modelyard and Fireworks-compatible servers.

Per file, with plain signed URLs: one streamed PUT with ``Content-Type: application/octet-stream`` and
``X-Goog-Content-Length-Range: N,N`` (what a GCS signed URL for an upload of exactly N bytes signs), a
failed attempt starting the file over.

With ``enableResumableUpload`` (asked for when a file is at least :data:`RESUMABLE_THRESHOLD` bytes) the
Google Cloud Storage resumable protocol: a ``POST`` with ``x-goog-resumable: start`` opens a session
(``201`` with its URL in ``Location``); a server without that step takes the session on the signed URL
itself. Chunks go as ``PUT`` with ``Content-Range: bytes A-B/N``; ``308`` with ``Range: bytes=0-K`` says
what arrived; ``PUT`` with ``Content-Range: bytes */N`` and no body asks after an interruption. A signed
URL that answers neither way gets a plain PUT.

On S3 storage the server offers multipart uploads instead (``"multipartUpload"`` in the answer of
``:getUploadEndpoint``; :mod:`modelyard.files.multipart`): a file at least the resumable threshold (or
larger than the 5 GiB a single PUT takes) goes in parts of ``chunk_size`` (the server may raise it),
through presigned part URLs the server hands out in batches, and the server completes the upload; smaller
files get one plain PUT. The Google-style protocol is never tried against an S3 URL. A re-run continues
the same multipart upload: the server lists the parts the store holds and only the others are sent.

What survives an interruption is in :class:`~modelyard.client.upload_state.UploadState`: files already
complete are skipped, the signed URLs (while fresh) and resumable sessions are reused. The server stays
the authority: when ``:validateUpload`` says files are missing (FAILED_PRECONDITION), the files this run
skipped are sent again and the validation repeated once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from modelyard.client.http import ApiError, ModelyardClient
from modelyard.client.multipart import PartSender
from modelyard.client.transfer import (
    OCTET_STREAM,
    NullProgress,
    Progress,
    RetryPolicy,
    TransferError,
    UrlRefused,
    check_answer,
    check_url,
    read_range,
    run_all,
    signed_url_client,
)
from modelyard.client.upload_state import URL_REUSE_SECONDS, LocalFile, UploadState

#: Ask for resumable URLs (S3: multipart uploads) when some file is at least this large.
RESUMABLE_THRESHOLD = 64 << 20
#: A single PUT to S3 takes at most this much; larger files always go in parts where they are offered.
MAX_SINGLE_PUT = 5 << 30
#: Resumable chunks: a multiple of 256 KiB, as GCS requires of every chunk but the last.
CHUNK = 64 << 20
_QUANTUM = 256 << 10
MAX_FILES = 10_000
MAX_NAME_BYTES = 1024
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_RANGE = re.compile(r"bytes=0-(\d+)$")


class BadPath(TransferError):
    """The local directory cannot be uploaded as it is (a usage problem)."""


def scan_directory(root: Path) -> tuple[list[LocalFile], list[str]]:
    """The files under ``root`` to upload, sorted by name, and the entries left out.

    Names are relative paths with ``/``; each segment must be ``[A-Za-z0-9._-]``. Hidden entries (a
    segment starting with ``.``: ``.git``, ``.cache``, ``.gitattributes``) are left out. Symbolic links to
    files are followed (a Hugging Face cache snapshot is made of them); linked directories are not.
    """
    if not root.exists():
        raise BadPath(f"{root}: no such directory")
    if not root.is_dir():
        raise BadPath(f"{root}: not a directory (upload takes the model's directory)")
    found: list[LocalFile] = []
    hidden: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        for d in list(dirnames):
            if d.startswith(".") or (Path(dirpath) / d).is_symlink():
                dirnames.remove(d)  # linked directories are not walked either: they could loop
                hidden.append((rel_dir / d).as_posix() + "/")
        for fn in filenames:
            path = Path(dirpath) / fn
            name = (rel_dir / fn).as_posix()
            if fn.startswith("."):
                hidden.append(name)
                continue
            if not all(_SEGMENT.fullmatch(s) and s not in (".", "..") for s in name.split("/")):
                raise BadPath(f"{name}: file names may only use A-Z a-z 0-9 . _ - (and / between folders)")
            if len(name.encode()) > MAX_NAME_BYTES:
                raise BadPath(f"{name[:60]}...: the name is longer than {MAX_NAME_BYTES} bytes")
            try:
                st = path.stat()
            except OSError as e:
                raise BadPath(f"{name}: {e.strerror or e}") from None
            if not path.is_file():
                raise BadPath(f"{name}: not a regular file")
            found.append(LocalFile(name, path, st.st_size, st.st_mtime_ns))
        dirnames.sort()
    if not found:
        raise BadPath(f"{root}: no files to upload")
    if len(found) > MAX_FILES:
        raise BadPath(f"{root}: {len(found)} files; a model has at most {MAX_FILES}")
    return sorted(found, key=lambda f: f.name), sorted(hidden)


@dataclass
class UploadResult:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    resumable: bool = False
    validation: dict[str, Any] = field(default_factory=dict)


@dataclass
class UploadOptions:
    jobs: int = 4
    #: None: resumable when some file is at least RESUMABLE_THRESHOLD bytes.
    resumable: bool | None = None
    chunk_size: int = CHUNK
    #: Files at least this large make the upload resumable (S3: go in parts).
    threshold: int = RESUMABLE_THRESHOLD
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    validate: dict[str, bool] = field(default_factory=dict)


class _Urls:
    """The current signed URLs; declared again when too old or refused (one refresh at a time)."""

    def __init__(self, uploader: Uploader) -> None:
        self._up = uploader
        self._lock = threading.Lock()
        saved = uploader.state.reusable_urls(uploader.declared, uploader.resumable)
        if saved is not None and set(saved[0]) == set(uploader.declared):
            self._urls, self._at = saved[0], time.monotonic() - saved[1]  # as old as they are
            uploader.multipart = uploader.state.multipart_offered()
        else:
            self._urls, self._at = self._declare(), time.monotonic()

    def _declare(self) -> dict[str, str]:
        up = self._up
        answer = up.options.retry.call_api(
            lambda: up.api.get_upload_endpoint(
                up.account, up.model_id, up.declared, enable_resumable_upload=up.resumable
            )
        )
        raw = answer.get("filenameToSignedUrls")
        urls = raw if isinstance(raw, dict) else {}
        checked = {name: check_url(name, urls.get(name)) for name in up.declared}
        up.multipart = isinstance(answer.get("multipartUpload"), dict)
        up.state.set_urls(up.declared, up.resumable, checked, multipart=up.multipart)
        return checked

    def get(self, name: str) -> str:
        with self._lock:
            if time.monotonic() - self._at > URL_REUSE_SECONDS:
                self._urls, self._at = self._declare(), time.monotonic()
            return self._urls[name]

    def refresh(self, name: str, stale: str) -> str:
        with self._lock:
            if self._urls[name] == stale:
                self._urls, self._at = self._declare(), time.monotonic()
            return self._urls[name]


class Uploader:
    def __init__(
        self,
        api: ModelyardClient,
        account: str,
        model_id: str,
        files: list[LocalFile],
        state: UploadState,
        options: UploadOptions | None = None,
        progress: Progress | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api, self.account, self.model_id = api, account, model_id
        self.files = files
        self.state = state
        self.options = options or UploadOptions()
        if self.options.chunk_size < _QUANTUM or self.options.chunk_size % _QUANTUM:
            raise ValueError("chunk_size must be a positive multiple of 256 KiB")
        self.progress: Progress = progress or NullProgress()
        self.declared = {f.name: f.size for f in files}
        resumable = self.options.resumable
        threshold = self.options.threshold
        self.resumable = any(f.size >= threshold for f in files) if resumable is None else resumable
        #: Whether the server offered S3 multipart uploads (set when the URLs are declared).
        self.multipart = False
        self._transport = transport
        self._stop = threading.Event()
        self._sent = 0
        self._sent_lock = threading.Lock()

    # -- the whole upload --------------------------------------------------------------------------------

    def run(self) -> UploadResult:
        """Upload what is missing, validate; returns what happened (``validation``: the answer)."""
        result = UploadResult(resumable=self.resumable)
        urls = _Urls(self)
        pending = [f for f in self.files if not self.state.is_done(f)]
        skipped = [f for f in self.files if self.state.is_done(f)]
        for f in skipped:
            self.progress.start(f.name, f.size, f.size)
            self.progress.finish(f.name, skipped=True)
        result.skipped = [f.name for f in skipped]
        with signed_url_client(self._transport, self.options.jobs) as http:
            try:
                self._send_all(http, urls, pending)
            finally:
                self.state.flush()
            result.uploaded = [f.name for f in pending]
            try:
                result.validation = self._validate()
            except ApiError as e:
                if e.code != "FAILED_PRECONDITION" or not skipped:
                    raise
                # the server lost (or never kept) files an earlier run sent: send them again
                missing = _named_files(e, {f.name for f in skipped}) or {f.name for f in skipped}
                again = [f for f in skipped if f.name in missing]
                self.state.forget([f.name for f in again])
                try:
                    self._send_all(http, urls, again)
                finally:
                    self.state.flush()
                result.uploaded += [f.name for f in again]
                result.skipped = [n for n in result.skipped if n not in missing]
                result.validation = self._validate()
        result.bytes_sent = self._sent
        self.state.remove()
        return result

    def _validate(self) -> dict[str, Any]:
        return self.options.retry.call_api(
            lambda: self.api.validate_upload(self.account, self.model_id, **self.options.validate)
        )

    def _send_all(self, http: httpx.Client, urls: _Urls, files: list[LocalFile]) -> None:
        # large files first: the pool stays busy to the end
        order = sorted(files, key=lambda f: -f.size)
        run_all(self.options.jobs, lambda f: self._send_one(http, urls, f), order, self._stop)

    def _count(self, n: int) -> None:
        with self._sent_lock:
            self._sent += n

    # -- one file --------------------------------------------------------------------------------------

    def _send_one(self, http: httpx.Client, urls: _Urls, f: LocalFile) -> None:
        if self._stop.is_set():
            return
        self._check_unchanged(f)
        url = urls.get(f.name)
        try:
            self._send_with(http, f, url)
        except UrlRefused:
            # expired or superseded URLs: declare again and try once more
            self._send_with(http, f, urls.refresh(f.name, url))
        except TransferError:
            current = urls.get(f.name)
            if current == url:
                raise
            # new URLs were declared while this file was on its way (a server may drop the old list)
            self._send_with(http, f, current)
        self._check_unchanged(f)
        self.state.mark_done(f)
        self.progress.finish(f.name)

    def _send_with(self, http: httpx.Client, f: LocalFile, url: str) -> None:
        if self.multipart:
            if f.size > MAX_SINGLE_PUT or (self.resumable and f.size >= self.options.threshold):
                self._multipart(http, f)
                return
        elif self.resumable and self._resumable(http, f, url):
            return
        self._plain_put(http, f, url)

    def _check_unchanged(self, f: LocalFile) -> None:
        try:
            st = f.path.stat()
        except OSError as e:
            raise TransferError(f"{f.name}: {e.strerror or e}") from None
        if st.st_size != f.size or st.st_mtime_ns != f.mtime_ns:
            raise TransferError(f"{f.name}: the file changed while it was being uploaded; run again")

    def _body(self, f: LocalFile, start: int, end: int) -> Iterator[bytes]:
        for block in read_range(f.path, start, end, self.progress, f.name):
            if self._stop.is_set():
                raise TransferError(f"{f.name}: stopped")
            self._count(len(block))
            yield block

    def _plain_put(self, http: httpx.Client, f: LocalFile, url: str) -> None:
        headers = {
            "Content-Type": OCTET_STREAM,
            "Content-Length": str(f.size),
            "X-Goog-Content-Length-Range": f"{f.size},{f.size}",
        }

        def attempt(n: int) -> None:
            if n == 1:
                self.progress.start(f.name, f.size, 0)
            else:
                self.progress.rewind(f.name, 0)
            response = http.put(url, content=self._body(f, 0, f.size), headers=headers)
            check_answer(response, f"{f.name}: upload refused")

        self.options.retry.run(attempt)

    # -- S3 multipart uploads (modelyard.client.multipart) -------------------------------------------------

    def _multipart(self, http: httpx.Client, f: LocalFile) -> None:
        PartSender(
            self.api, self.account, self.model_id, self.state, self.options.retry,
            self.options.chunk_size, self.progress, self._body, self._stop,
        ).send(http, f)  # fmt: skip

    # -- the resumable protocol --------------------------------------------------------------------------

    def _query(self, http: httpx.Client, f: LocalFile, session: str) -> int | None:
        """How many bytes the session holds (``f.size`` when complete); None when it is unknown or
        gone (or the URL does not speak the protocol)."""

        def attempt(_: int) -> int | None:
            response = http.put(
                session, content=b"", headers={"Content-Range": f"bytes */{f.size}", "Content-Length": "0"}
            )
            if response.status_code == 308:
                return _received(response)
            if response.status_code in (200, 201):
                return f.size
            if response.status_code in (408, 429) or response.status_code >= 500:
                check_answer(response, f"{f.name}: resumable upload status")
            return None

        return self.options.retry.run(attempt)

    def _open_session(self, http: httpx.Client, f: LocalFile, url: str) -> tuple[str, int] | None:
        """A new session (its URL and the bytes it holds), or None when the URL takes plain PUTs only."""

        def attempt(_: int) -> httpx.Response:
            response = http.post(
                url, content=b"", headers={"x-goog-resumable": "start", "Content-Type": OCTET_STREAM}
            )
            if response.status_code in (408, 429) or response.status_code >= 500:
                check_answer(response, f"{f.name}: starting a resumable upload")
            return response

        response = self.options.retry.run(attempt)
        location = response.headers.get("Location")
        if response.status_code in (200, 201) and location:
            session = str(httpx.URL(url).join(location))
            if session != url:
                return session, 0  # a new session (GCS): empty
            # the session is the signed URL itself (modelyard): it may hold bytes of an earlier run
            return session, self._query(http, f, session) or 0
        # no session step: the signed URL itself may take Content-Range PUTs; ask it
        held = self._query(http, f, url)
        if held is None or (held == f.size and f.size > 0):
            return None  # not resumable (or an answer we cannot trust): a plain PUT rewrites it all
        return url, held

    def _resumable(self, http: httpx.Client, f: LocalFile, url: str) -> bool:
        """Send ``f`` through a resumable session; False when the URL does not offer one."""
        session = self.state.session(f)
        held = self._query(http, f, session) if session else None
        if session is None or held is None:
            opened = self._open_session(http, f, url)
            if opened is None:
                return False
            session, held = opened
            self.state.set_session(f, session)
        self.progress.start(f.name, f.size, held)
        chunk = self.options.chunk_size
        stalled = 0
        if f.size == 0 and held == 0:
            held = self._put_chunk(http, f, session, 0)
        while held < f.size:
            start = held

            def attempt(n: int, start: int = start) -> int:
                offset = start
                if n > 1:  # after a failure, ask what arrived
                    asked = self._query(http, f, session)
                    if asked is None:
                        raise TransferError(f"{f.name}: the resumable upload session is gone; run again")
                    offset = asked
                    self.progress.rewind(f.name, offset)
                if offset >= f.size:
                    return offset
                return self._put_chunk(http, f, session, offset, min(offset + chunk, f.size))

            held = self.options.retry.run(attempt)
            stalled = stalled + 1 if held <= start else 0
            if stalled >= 3:
                raise TransferError(f"{f.name}: the server keeps no bytes of the resumable upload at {start}")
        return True

    def _put_chunk(self, http: httpx.Client, f: LocalFile, session: str, start: int, end: int = 0) -> int:
        """PUT bytes ``start..end`` of the session; returns the bytes the server then holds."""
        content_range = f"bytes {start}-{end - 1}/{f.size}" if end > start else f"bytes */{f.size}"
        response = http.put(
            session,
            content=self._body(f, start, end) if end > start else b"",
            headers={
                "Content-Type": OCTET_STREAM,
                "Content-Length": str(end - start),
                "Content-Range": content_range,
            },
        )
        if response.status_code in (200, 201):
            return f.size
        if response.status_code == 308:
            held = _received(response)
            if held < end:
                self.progress.rewind(f.name, held)
            return held
        check_answer(response, f"{f.name}: upload refused")
        raise TransferError(f"{f.name}: unexpected answer {response.status_code} to a resumable upload chunk")


def _received(response: httpx.Response) -> int:
    """The bytes a ``308`` says the session holds (``Range: bytes=0-K`` -> K+1; none -> 0)."""
    m = _RANGE.match(response.headers.get("Range", "").strip())
    return int(m.group(1)) + 1 if m else 0


def _named_files(error: ApiError, candidates: set[str]) -> set[str]:
    """The files an error names (in its message or details, e.g. ErrorInfo ``metadata.missing``),
    among ``candidates``."""
    texts = [error.message, *_strings(error.details)]
    words = {w.strip(".;:'\"()[]") for t in texts for w in re.split(r"[,\s]+", t)}
    return candidates & words


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


__all__ = [
    "CHUNK",
    "MAX_SINGLE_PUT",
    "RESUMABLE_THRESHOLD",
    "BadPath",
    "UploadOptions",
    "UploadResult",
    "Uploader",
    "scan_directory",
]
