"""Every error the filter pipeline raises, built in one place: syntax errors (lexer, parser), type errors
(checker), and the documented limits (:mod:`.limits`).

Each builder returns a :class:`~modelyard.aip.errors.FilterError` with a ``google.rpc.ErrorInfo`` reason
and, where it makes sense, the 1-based column of the offending token. Messages quote user text with
:func:`quote` (as a JSON string literal, so control characters stay visible) and shorten long text.
"""

from __future__ import annotations

from modelyard.aip.errors import FilterError

REASON_INVALID = "INVALID_FILTER"
REASON_UNKNOWN_FIELD = "UNKNOWN_FILTER_FIELD"
REASON_INVALID_VALUE = "INVALID_FILTER_VALUE"
REASON_TOO_LONG = "FILTER_TOO_LONG"
REASON_TOO_COMPLEX = "FILTER_TOO_COMPLEX"


def quote(text: str) -> str:
    """``text`` as a JSON string literal, the way the S-expression notation prints strings."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def short(text: str, limit: int = 60) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str) -> str:
    """``text`` shortened and quoted, for messages."""
    return quote(short(text))


def invalid(message: str, column: int, **metadata: str) -> FilterError:
    """A syntax or type error at ``column`` (reason ``INVALID_FILTER``)."""
    return FilterError(
        message, column=column, reason=REASON_INVALID, metadata={"position": str(column), **metadata}
    )


def invalid_value(message: str, column: int, field: str, value: str) -> FilterError:
    """A literal that is not a value of the field's type (reason ``INVALID_FILTER_VALUE``)."""
    return FilterError(
        message, column=column, reason=REASON_INVALID_VALUE, metadata={"field": field, "value": value}
    )


def unknown_field(message: str, column: int, path: str) -> FilterError:
    """A field path naming no declared field (reason ``UNKNOWN_FILTER_FIELD``)."""
    return FilterError(
        message, column=column, reason=REASON_UNKNOWN_FIELD, metadata={"field": short(path, 200)}
    )


def too_long(size: int, limit: int, *, exact: bool) -> FilterError:
    amount = f"{size} bytes" if exact else f"more than {limit} bytes"
    return FilterError(
        f"too long ({amount}); at most {limit} bytes ({limit // 1024} KiB) of UTF-8 are allowed",
        reason=REASON_TOO_LONG,
        metadata={"limit": str(limit)},
    )


def too_deep(column: int, limit: int) -> FilterError:
    return FilterError(
        f"nesting too deep at column {column}; at most {limit} levels of parentheses and function "
        "calls are allowed",
        column=column,
        reason=REASON_TOO_COMPLEX,
        metadata={"limit": str(limit)},
    )


def too_many_terms(column: int, limit: int) -> FilterError:
    return FilterError(
        f"too many terms at column {column}; at most {limit} restrictions or search terms are allowed",
        column=column,
        reason=REASON_TOO_COMPLEX,
        metadata={"limit": str(limit)},
    )
