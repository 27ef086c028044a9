"""The refusals of the model-file lifecycle, as google.rpc statuses (the API renders them)."""

from __future__ import annotations


class FileError(Exception):
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
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.field = field
        self.metadata = dict(metadata or {})


def invalid_file(path: str, problem: str, reason: str = "INVALID_MODEL_FILE") -> FileError:
    return FileError(
        "INVALID_ARGUMENT", f"{path}: {problem}", reason=reason, field=path, metadata={"file": path}
    )
