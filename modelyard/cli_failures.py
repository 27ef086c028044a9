"""One-line failures for the server-side commands (``serve``, ``keys``, ``import``, ``export``).

An expected problem (an unsupported or unreachable database, a missing folder, a busy port) is printed
as one ``error: ...`` line on stderr naming the problem and the fix, and the command exits with status 2
(a bad URL, path or flag: fix the command line) or 1 (the database or the system refused). Never a
traceback: those are for bugs.
"""

from __future__ import annotations

import errno
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# sqlalchemy is imported inside the functions: the API client commands never load the database stack.

#: The database backends modelyard runs on (``sqlalchemy`` backend names).
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_FORMS = "use sqlite:///PATH/FILE.db or postgresql://USER@HOST:PORT/DATABASE"


class CommandFailure(Exception):
    """An expected failure of a command: ``message`` is the whole line after ``error:``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr; returns the ``typer.Exit`` to raise."""
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


@contextmanager
def one_line_failures() -> Iterator[None]:
    """Turn :class:`CommandFailure` and a database that goes away mid-command into one error line."""
    from sqlalchemy.exc import DBAPIError

    from modelyard.store.errors import Unavailable

    try:
        yield
    except CommandFailure as e:
        raise fail(e.message, e.code) from None
    except Unavailable as e:
        raise fail(f"the database does not answer: {_first_line(e.__cause__ or e)}", 1) from None
    except DBAPIError as e:
        raise fail(f"the database failed: {_first_line(e.orig)}", 1) from None


def shown_url(url: str) -> str:
    """``url`` without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return (
            make_url(url)
            .render_as_string(hide_password=True)
            .replace("postgresql+psycopg://", "postgresql://", 1)
        )
    except ArgumentError:
        return url


def check_database_url(url: str) -> URL:
    """The parsed ``url``, or a CommandFailure (exit 2) when modelyard cannot use it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CommandFailure(
            f"{url!r} is not a database URL: {_URL_FORMS} (--db or MODELYARD_DB)", 2
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise CommandFailure(
            f"unsupported database {parsed.get_backend_name()!r} in {shown_url(url)}: {_URL_FORMS} "
            "(--db or MODELYARD_DB)",
            2,
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise CommandFailure(
                f"cannot create the SQLite database {parsed.database}: the folder {folder} does not exist "
                f"(create it with 'mkdir -p {folder}' or pass another --db)",
                2,
            )
    return parsed


def database_failure(exc: BaseException, url: str) -> CommandFailure | None:
    """The one-line failure for ``exc``, raised while opening ``url``; ``None`` if it is not expected."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError

    from modelyard.store.errors import Unavailable

    if isinstance(exc, Unavailable) and exc.__cause__ is not None:
        exc = exc.__cause__
    shown = shown_url(url)
    if isinstance(exc, NoSuchModuleError | ModuleNotFoundError):
        return CommandFailure(f"unsupported database URL {shown}: {_URL_FORMS} (--db or MODELYARD_DB)", 2)
    if not isinstance(exc, DBAPIError):
        return None
    text = _first_line(exc.orig)
    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if match := re.search(r'database "([^"]+)" does not exist', text):
        name = match.group(1)
        user = f" -U {parsed.username}" if parsed.username else ""
        return CommandFailure(
            f"database {name!r} does not exist on the PostgreSQL server at {where}: create it once with "
            f"'createdb -h {parsed.host or 'localhost'} -p {parsed.port or 5432}{user} {name}'",
            1,
        )
    if "Connection refused" in text:
        return CommandFailure(
            f"cannot connect to PostgreSQL at {where}: connection refused (is the server running? "
            "check --db or MODELYARD_DB)",
            1,
        )
    if parsed.get_backend_name() == "sqlite":
        return CommandFailure(f"cannot open the SQLite database {parsed.database}: {text}", 1)
    return CommandFailure(f"cannot use the database {shown}: {text} (check --db or MODELYARD_DB)", 1)


def output_file_failure(path: Path) -> CommandFailure | None:
    """Why ``path`` cannot be written as an output file (checked before any work), or ``None``."""
    folder = path.expanduser().parent
    if not folder.is_dir():
        return CommandFailure(
            f"cannot write {path}: the folder {folder} does not exist (create it with 'mkdir -p {folder}')",
            2,
        )
    if path.is_dir():
        return CommandFailure(f"cannot write {path}: it is a folder (give a file name)", 2)
    return None


def port_failure(exc: OSError, host: str, port: int) -> CommandFailure:
    """The one-line failure for a listening socket that could not be bound."""
    if exc.errno == errno.EADDRINUSE:
        return CommandFailure(
            f"port {port} on {host} is already in use (another server?): stop it, or pass --port N "
            "(--port 0 picks a free port)",
            1,
        )
    if exc.errno == errno.EACCES:
        return CommandFailure(f"not allowed to listen on port {port}: use a port above 1023 (--port N)", 1)
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return CommandFailure(f"cannot listen on {host}: not an address of this machine (--host)", 2)
    return CommandFailure(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    text = text.removeprefix("connection failed: ")
    text = re.sub(r"^connection to server at [^:]*?failed: (FATAL: +)?", "", text)
    return text.splitlines()[0].strip() if text else type(exc).__name__
