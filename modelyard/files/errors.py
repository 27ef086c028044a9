"""The refusals of the model-file lifecycle: :class:`~modelyard.errors.RegistryError` (a google.rpc code
name, message, reason, field, metadata) under the name the file code raises; each door renders it."""

from __future__ import annotations

from modelyard.errors import RegistryError


class FileError(RegistryError):
    """``status`` is a google.rpc code name (``INVALID_ARGUMENT``, ``FAILED_PRECONDITION``, ...);
    ``field`` names the request field or file at fault; ``reason`` is the ErrorInfo reason."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        reason: str,
        field: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, reason=reason, field=field, metadata=metadata)


def invalid_file(path: str, problem: str, reason: str = "INVALID_MODEL_FILE") -> FileError:
    return FileError(
        "INVALID_ARGUMENT", f"{path}: {problem}", reason=reason, field=path, metadata={"file": path}
    )
