"""The SHA-256 states of resumable uploads in progress, so each chunk is hashed as it arrives.

A resumable upload (the GCS protocol on ``file://`` storage) stores its chunks in a partial file, one
request each. Hashing a chunk while it is written needs the digest of the bytes before it; ``hashlib``
states cannot be saved to disk, so they are kept here, in this process, by partial file and offset.
A chunk that arrives at another replica, after a restart, or after its state was dropped (at most
:data:`LIMIT` uploads are remembered, the least recently used dropped first) finds none: its digest is
not kept, and the completed file is read once to hash it, as before this cache existed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

#: Uploads whose state is remembered (a SHA-256 state is about 200 bytes).
LIMIT = 1024


class HashStates:
    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._states: OrderedDict[Path, tuple[int, hashlib._Hash]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, partial: Path, offset: int) -> hashlib._Hash | None:
        """The digest of the first ``offset`` bytes of ``partial`` (a copy), if known."""
        if offset == 0:
            return hashlib.sha256()
        with self._lock:
            entry = self._states.get(partial)
            if entry is None or entry[0] != offset:
                return None
            self._states.move_to_end(partial)
            return entry[1].copy()

    def put(self, partial: Path, offset: int, digest: hashlib._Hash) -> None:
        """``digest`` covers the first ``offset`` bytes of ``partial``."""
        with self._lock:
            self._states[partial] = (offset, digest)
            self._states.move_to_end(partial)
            while len(self._states) > self._limit:
                self._states.popitem(last=False)

    def drop(self, partial: Path) -> None:
        with self._lock:
            self._states.pop(partial, None)
