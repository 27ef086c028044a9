"""S3 multipart uploads from the client's side (the server's verbs: :mod:`modelyard.files.multipart`).

A file goes in parts of the size the server chose at ``:startMultipartUpload``; part URLs come in batches
from ``:getUploadPartUrls``, whose answer also lists the parts the store already holds, so a run after an
interruption (the upload id is kept in :class:`~modelyard.client.upload_state.UploadState`) sends only
the others; ``:completeMultipartUpload`` ends it. An upload that is gone (completed, aborted, or its file
list declared again) starts afresh once. Parts are retried like any transfer; an expired part URL is
asked for again.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from modelyard.client.http import ApiError, ModelyardClient
from modelyard.client.transfer import (
    Progress,
    RetryPolicy,
    TransferError,
    UrlRefused,
    check_answer,
    check_url,
)
from modelyard.client.upload_state import LocalFile, UploadState

#: Part URLs asked for at a time (they are valid an hour; a batch of 64 MiB parts is 2 GiB).
PART_BATCH = 32


@dataclass
class PartSender:
    api: ModelyardClient
    account: str
    model_id: str
    state: UploadState
    retry: RetryPolicy
    chunk_size: int
    progress: Progress
    body: Callable[[LocalFile, int, int], Iterator[bytes]]
    stop: threading.Event

    def send(self, http: httpx.Client, f: LocalFile) -> None:
        """Send ``f`` in parts: continue the multipart upload an earlier run started, else a new one."""
        api, retry = self.api, self.retry
        saved = self.state.multipart(f)
        for fresh in (False, True):
            if saved is None or fresh:
                answer = retry.call_api(
                    lambda: api.start_multipart_upload(self.account, self.model_id, f.name, self.chunk_size)
                )
                upload_id, part_size = str(answer.get("uploadId", "")), _int(answer.get("partSize"))
                if not upload_id or part_size <= 0:
                    raise TransferError(
                        f"{f.name}: the server's answer to startMultipartUpload lacks uploadId"
                    )
                self.state.set_multipart(f, upload_id, part_size)
            else:
                upload_id, part_size = saved
            try:
                self._send_parts(http, f, upload_id, part_size)
            except _Complete:  # an earlier run completed it and stopped before noting so
                return
            except ApiError as e:
                if e.code != "NOT_FOUND" or fresh:
                    raise
                continue  # the upload is gone (aborted, or the file list was declared again): start afresh
            complete = functools.partial(
                api.complete_multipart_upload, self.account, self.model_id, f.name, upload_id, part_size
            )
            retry.call_api(complete)
            return

    def _send_parts(self, http: httpx.Client, f: LocalFile, upload_id: str, part_size: int) -> None:
        count = max(1, -(-f.size // part_size))
        numbers = list(range(1, count + 1))

        def length(n: int) -> int:
            return max(0, min(part_size, f.size - (n - 1) * part_size))

        def ask(batch: list[int]) -> tuple[dict[str, str], dict[int, int]]:
            answer = self.retry.call_api(
                lambda: self.api.get_upload_part_urls(
                    self.account, self.model_id, f.name, upload_id, part_size, batch
                )
            )
            if answer.get("complete") is True:
                raise _Complete
            urls = answer.get("partUrls") if isinstance(answer.get("partUrls"), dict) else {}
            held_raw = answer.get("partsHeld") if isinstance(answer.get("partsHeld"), dict) else {}
            held = {int(k): _int(v) for k, v in (held_raw or {}).items() if str(k).isdigit()}
            return {str(k): str(v) for k, v in (urls or {}).items()}, held

        urls, held = ask(numbers[:PART_BATCH])
        todo = [n for n in numbers if held.get(n) != length(n)]
        done = f.size - sum(length(n) for n in todo)
        self.progress.start(f.name, f.size, done)
        for i, n in enumerate(todo):
            if self.stop.is_set():
                raise TransferError(f"{f.name}: stopped")
            if str(n) not in urls:
                urls, _ = ask(todo[i : i + PART_BATCH])
            url = check_url(f"{f.name} part {n}", urls.get(str(n)))
            start = (n - 1) * part_size

            def attempt(k: int, url: str = url, start: int = start, n: int = n, done: int = done) -> None:
                if k > 1:
                    self.progress.rewind(f.name, done)
                response = http.put(
                    url,
                    content=self.body(f, start, start + length(n)),
                    headers={"Content-Length": str(length(n))},
                )
                check_answer(response, f"{f.name}: part {n} refused")

            try:
                self.retry.run(attempt)
            except UrlRefused:  # expired: new URLs for the rest
                urls, _ = ask(todo[i : i + PART_BATCH])
                again = check_url(f"{f.name} part {n}", urls.get(str(n)))
                self.retry.run(functools.partial(attempt, url=again))
            done += length(n)


class _Complete(Exception):
    """The multipart upload was completed already."""


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


__all__ = ["PART_BATCH", "PartSender"]
