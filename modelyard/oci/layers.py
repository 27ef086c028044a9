"""The files a pushed manifest carries: raw file layers and tar layers (plain, gzip, zstd).

A layer is a **file** when it names one (``org.cncf.model.filepath``, else ``org.opencontainers.image.title``,
as ModelPack tools and ``oras push FILE`` write) and is not an archive; its blob becomes that file as is
(no copy: the same content-addressed blob). A layer is an **archive** when it is a ModelPack
or KitOps tar layer (``application/vnd.cncf.model.*.v1.tar[+gzip|+zstd]``,
``application/vnd.kitops.modelkit.*.v1.tar[+gzip]``), carries oras' ``io.deis.oras.content.unpack``
annotation (a directory pushed by ``oras push DIR``: the directory's own name is taken off the paths), or
is an untitled ``application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]``. (oras gives every *file* it
pushes the media type ``application/vnd.oci.image.layer.v1.tar``; with a title it is that file.)
Its regular files are unpacked, each hashed on the way and stored by content; links, devices and paths
that leave the model directory are refused.

A manifest is a model push when it has no ``subject`` and every layer is a file or an archive; anything
else (signatures, SBOMs, attestations) is kept as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from modelyard.files.errors import FileError
from modelyard.files.names import check_file_name
from modelyard.oci import modelpack

ORAS_UNPACK = "io.deis.oras.content.unpack"
#: Media type families whose ``.tar`` layers are always archives (ModelPack, KitOps).
_ARCHIVE_FAMILIES = ("application/vnd.cncf.model.", "application/vnd.kitops.")
_COPY_CHUNK = 1 << 20


class LayerError(Exception):
    """A model layer that cannot become files (the push is refused with MANIFEST_INVALID)."""


def _annotations(layer: dict[str, Any]) -> dict[str, str]:
    raw = layer.get("annotations")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def is_archive(layer: dict[str, Any]) -> bool:
    media = str(layer.get("mediaType", ""))
    notes = _annotations(layer)
    if notes.get(ORAS_UNPACK) == "true":
        return True
    tar = ".tar" in media or media.endswith("tar")
    if media.startswith(_ARCHIVE_FAMILIES):
        return tar
    # oras labels every file it pushes application/vnd.oci.image.layer.v1.tar: a title makes it a file
    return tar and not (notes.get(modelpack.TITLE) or notes.get(modelpack.FILEPATH))


def file_path(layer: dict[str, Any]) -> str | None:
    notes = _annotations(layer)
    return notes.get(modelpack.FILEPATH) or notes.get(modelpack.TITLE)


def is_model_push(manifest: dict[str, Any]) -> bool:
    layers = manifest.get("layers")
    if manifest.get("subject") is not None or not isinstance(layers, list) or not layers:
        return False
    return all(isinstance(x, dict) and (is_archive(x) or file_path(x)) for x in layers)


def _clean(name: str, prefix: str = "") -> str | None:
    """A member name as a model file path (None for the archive's root entries)."""
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    if prefix and (name == prefix or name.startswith(prefix + "/")):
        name = name[len(prefix) + 1 :]
    name = name.strip("/")
    if not name or name == ".":
        return None
    return name


def _check(path: str) -> None:
    try:
        check_file_name(path)
    except FileError as e:
        raise LayerError(e.message) from None


def _decompressed(stream: BinaryIO, media_type: str) -> BinaryIO:
    head = stream.read(4)
    rest = cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream), _COPY_CHUNK))
    if media_type.endswith("zstd") or head == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(rest)  # type: ignore[return-value]
    return rest


class _Prefixed(io.RawIOBase):
    """A stream with ``head`` (already read off it) put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.head:
            n = min(len(view), len(self.head))
            view[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.stream.read(len(view))
        view[: len(data)] = data
        return len(data)


def unpack(
    stream: BinaryIO,
    layer: dict[str, Any],
    staging: Path,
    store: Callable[[Path, str, int], None],
) -> Iterator[tuple[str, str, int]]:
    """The files of an archive layer as ``(path, sha256, size)``, each stored by ``store(temp, sha,
    size)`` (which moves or copies the temporary file) as it is unpacked."""
    notes = _annotations(layer)
    prefix = notes.get(modelpack.TITLE, "") if notes.get(ORAS_UNPACK) == "true" else ""
    source = _decompressed(stream, str(layer.get("mediaType", "")))
    try:
        archive = tarfile.open(fileobj=source, mode="r|*")  # noqa: SIM115 - closed below
    except tarfile.TarError as e:
        raise LayerError(f"layer {layer.get('digest')}: not a tar archive ({e})") from None
    with archive:
        try:
            for member in archive:
                if member.isdir():
                    continue
                path = _clean(member.name, prefix)
                if path is None:
                    continue
                if not member.isfile():
                    raise LayerError(
                        f"layer {layer.get('digest')}: {member.name} is a link or a special file; "
                        "only regular files are kept"
                    )
                _check(path)
                extracted = archive.extractfile(member)
                assert extracted is not None
                temp = staging / f"{secrets.token_hex(16)}.unpack"
                try:
                    sha, size = _copy_hashed(extracted, temp)
                    store(temp, sha, size)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        temp.unlink()
                yield path, sha, size
        except (tarfile.TarError, EOFError, OSError) as e:
            raise LayerError(f"layer {layer.get('digest')}: a broken archive ({e})") from None


def _copy_hashed(source: IO[bytes], target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(target, "xb") as out:
        while chunk := source.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def raw_file(layer: dict[str, Any]) -> tuple[str, str, int]:
    """``(path, sha256, size)`` of a file layer."""
    path = file_path(layer)
    assert path is not None
    path = _clean(path) or ""
    _check(path)
    digest = str(layer.get("digest", ""))
    return path, digest.removeprefix("sha256:"), int(layer.get("size", 0))
