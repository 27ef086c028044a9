"""Moving model files to and from signed URLs: the parts uploads and downloads share.

Signed URLs (``filenameToSignedUrls`` of ``:getUploadEndpoint`` / ``:getDownloadEndpoint``) carry their
own authority: they may point at the modelyard server (file storage), at an S3-compatible store or at
Google Cloud Storage (Fireworks). They are called with a separate HTTP client that never carries the API
key. Bytes are streamed from and to disk in :data:`BLOCK` pieces, never whole files in memory.

Transient failures (connection errors, timeouts, 408, 429 and 5xx answers) are retried with exponential
backoff and jitter (:class:`RetryPolicy`, via tenacity); anything else is a :class:`TransferError`
whose message names the file and what the far end said.

Nothing here prints: progress goes to a :class:`Progress` the caller supplies (the CLI draws rich bars).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import httpcore
import httpx
import tenacity

from modelyard import __version__
from modelyard.client.http import ApiError

#: Bytes read from disk or the network at a time.
BLOCK = 1 << 20
#: Signed URLs time out on dead connections, not on slow large bodies.
TIMEOUT = httpx.Timeout(connect=15.0, read=300.0, write=300.0, pool=None)
OCTET_STREAM = "application/octet-stream"

T = TypeVar("T")


class TransferError(Exception):
    """A file could not be moved; the message is one line naming the file and the reason."""


class UrlRefused(TransferError):
    """The signed URL was refused (401/403): expired or superseded; new URLs may help."""


class Transient(Exception):
    """A failure worth another try (an answer of 408, 429 or 5xx)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all per request, waiting ``initial`` seconds doubling up to ``maximum``
    (plus up to ``initial`` of jitter) in between."""

    attempts: int = 6
    initial: float = 0.5
    maximum: float = 8.0

    def run(self, fn: Callable[[int], T]) -> T:
        """``fn(attempt)`` until it returns, retrying transient failures; the last failure is raised
        (a transport error or :class:`Transient` becomes a :class:`TransferError`)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.attempts)),
            wait=tenacity.wait_exponential(multiplier=self.initial, max=self.maximum)
            + tenacity.wait_random(0, self.initial),
            retry=tenacity.retry_if_exception_type((httpx.TransportError, Transient)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return fn(attempt.retry_state.attempt_number)
        except Transient as e:
            raise TransferError(f"{e.message} (gave up after {self.attempts} attempts)") from None
        except httpx.TransportError as e:
            why = describe_transport_error(e)
            raise TransferError(f"{why} (gave up after {self.attempts} attempts)") from None
        raise AssertionError("unreachable")  # pragma: no cover - tenacity either returns or raises

    def call_api(self, fn: Callable[[], T]) -> T:
        """An API call (``:getUploadEndpoint``, ``:validateUpload``, ``:getDownloadEndpoint``), tried
        again when the server was unreachable or answered 408, 429 or 5xx (but not 501)."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.attempts)),
            wait=tenacity.wait_exponential(multiplier=self.initial, max=self.maximum)
            + tenacity.wait_random(0, self.initial),
            retry=tenacity.retry_if_exception(_transient_api_error),
            reraise=True,
        )
        return retrying(fn)


def _transient_api_error(e: BaseException) -> bool:
    if not isinstance(e, ApiError):
        return False
    return e.status == 0 or e.status in (408, 429) or (e.status >= 500 and e.status != 501)


class Progress(Protocol):
    """Where the engines report what they do (called from worker threads)."""

    def start(self, name: str, size: int, done: int) -> None:
        """Work on ``name`` (``size`` bytes, ``done`` of them already in place) begins."""

    def advance(self, name: str, nbytes: int) -> None:
        """``nbytes`` more bytes of ``name`` moved."""

    def rewind(self, name: str, done: int) -> None:
        """A retry starts over: only ``done`` bytes of ``name`` count as moved."""

    def finish(self, name: str, *, skipped: bool = False) -> None:
        """``name`` is complete (``skipped``: nothing had to be moved)."""


class NullProgress:
    def start(self, name: str, size: int, done: int) -> None:
        pass

    def advance(self, name: str, nbytes: int) -> None:
        pass

    def rewind(self, name: str, done: int) -> None:
        pass

    def finish(self, name: str, *, skipped: bool = False) -> None:
        pass


def describe_transport_error(exc: httpx.TransportError) -> str:
    url = ""
    with contextlib.suppress(RuntimeError):  # no request attached
        url = f" ({_origin(exc.request.url)})"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out{url}"
    text = str(exc) or type(exc).__name__
    return f"{text}{url}"


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)


def answer_text(response: httpx.Response, limit: int = 200) -> str:
    """What the far end said in an error answer: a google.rpc message, an S3/GCS XML error, or text."""
    try:
        response.read()
        text = response.text
    except (httpx.HTTPError, UnicodeDecodeError):
        text = ""
    message = ""
    try:
        body = response.json() if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"]
    if not message and "<Error>" in text:
        code, msg = _XML_CODE.search(text), _XML_MESSAGE.search(text)
        message = ": ".join(m.group(1).strip() for m in (code, msg) if m)
    if not message:
        message = " ".join(text.split())
    if len(message) > limit:
        message = message[:limit] + "..."
    status = f"HTTP {response.status_code}"
    return f"{status}: {message}" if message else status


def check_answer(response: httpx.Response, what: str) -> None:
    """Raise for an error answer: :class:`Transient` (retried), :class:`UrlRefused` or TransferError."""
    status = response.status_code
    if status < 400:
        return
    text = f"{what}: {answer_text(response)}"
    if status in (408, 429) or status >= 500:
        raise Transient(text)
    if status in (401, 403):
        raise UrlRefused(text)
    raise TransferError(text)


def read_range(path: Path, start: int, end: int, progress: Progress, name: str) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` (exclusive) of a file, streamed, reporting progress as they go."""
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(BLOCK, left))
            if not block:
                raise TransferError(f"{name}: the file shrank while it was being sent")
            left -= len(block)
            yield block
            progress.advance(name, len(block))


#: Bytes httpcore asks the socket for per read (its default is 64 KiB). Measured receiving a 1 GiB download
#: with httpx on 2 cores: 64 KiB reads cost 0.8-1.4 s of CPU (h11's buffer handling, once per read),
#: 1 MiB reads 0.35-0.45 s, and the transfer went from 670-1,260 to 2,200-2,800 MiB/s.
READ_BYTES = 1 << 20


def _larger_reads() -> None:
    """Raise httpcore's per-read size of HTTP/1.1 connections (a class attribute) to READ_BYTES."""
    if getattr(httpcore.HTTP11Connection, "READ_NUM_BYTES", READ_BYTES) < READ_BYTES:
        httpcore.HTTP11Connection.READ_NUM_BYTES = READ_BYTES


def signed_url_client(transport: httpx.BaseTransport | None = None, jobs: int = 4) -> httpx.Client:
    """The HTTP client for signed URLs: no API key, no redirects followed, no compression, 1 MiB reads."""
    _larger_reads()
    return httpx.Client(
        headers={"User-Agent": f"modelyard-cli/{__version__}", "Accept-Encoding": "identity"},
        timeout=TIMEOUT,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max(jobs, 1) * 2, max_keepalive_connections=max(jobs, 1) * 2),
        transport=transport,
    )


def describe_os_error(e: OSError) -> str:
    """``path: No space left on device``."""
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


def _local_errors(work: Callable[[T], None], item: T) -> None:
    try:
        work(item)
    except OSError as e:  # the local disk: a file vanished, no space, no permission
        raise TransferError(describe_os_error(e)) from None


def run_all(jobs: int, work: Callable[[T], None], items: Iterable[T], stop: threading.Event) -> None:
    """``work(item)`` for every item on ``jobs`` threads. A failing item does not stop the others (what
    completes is kept for the next run); the first failure is raised at the end, saying how many more
    there were. An interruption (Ctrl-C) sets ``stop``, which the workers check between blocks."""
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="transfer")
    futures: list[Future[None]] = [pool.submit(_local_errors, work, item) for item in items]
    try:
        wait(futures)
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    failures = [e for e in (f.exception() for f in futures) if e is not None]
    if not failures:
        return
    first = failures[0]
    if len(failures) > 1 and isinstance(first, TransferError):
        raise TransferError(f"{first} (and {len(failures) - 1} more files failed)") from first
    raise first


def check_url(name: str, url: object) -> str:
    """A signed URL from the server must be an absolute http(s) URL."""
    if not isinstance(url, str) or not url:
        raise TransferError(f"the server gave no signed URL for {name}")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TransferError(f"the server's URL for {name} is not an http(s) URL: {url[:80]!r}")
    return url


__all__ = [
    "BLOCK",
    "OCTET_STREAM",
    "NullProgress",
    "Progress",
    "RetryPolicy",
    "TransferError",
    "Transient",
    "UrlRefused",
    "answer_text",
    "check_answer",
    "check_url",
    "describe_os_error",
    "describe_transport_error",
    "read_range",
    "run_all",
    "signed_url_client",
]
