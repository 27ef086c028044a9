"""Errors raised by the AIP toolkit. The API layer maps every one of them to INVALID_ARGUMENT."""

from __future__ import annotations


class AipError(Exception):
    """A request parameter that cannot be honoured.

    ``parameter`` names the request parameter (``filter``, ``orderBy``, ``readMask``, ``pageToken``,
    ``pageSize``, ``updateMask``), ``reason`` is an UPPER_SNAKE_CASE ``google.rpc.ErrorInfo`` reason, and
    ``column`` (1-based, in characters) points into the parameter's text where that makes sense.
    The message never repeats the parameter name: the API layer prefixes it.
    """

    def __init__(
        self,
        message: str,
        *,
        parameter: str,
        reason: str,
        column: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter
        self.reason = reason
        self.column = column
        self.metadata = dict(metadata or {})
        if column is not None:
            self.metadata.setdefault("column", str(column))

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"


class FilterError(AipError):
    """A filter that does not lex, parse or type-check."""

    def __init__(
        self,
        message: str,
        *,
        column: int | None = None,
        reason: str = "INVALID_FILTER",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, parameter="filter", reason=reason, column=column, metadata=metadata)
