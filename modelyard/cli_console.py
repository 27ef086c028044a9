"""The consoles of every ``modelyard`` command: on a terminal, rich's own (wrapped to its width); when
stdout or stderr is a pipe or a file, lines are never wrapped and tables never truncated (a script or a
log reads whole lines), whatever ``COLUMNS`` says."""

from __future__ import annotations

from typing import Any

from rich.console import Console

#: The width of a console that is not a terminal: wide enough that nothing is wrapped or truncated.
UNWRAPPED = 100_000


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich Console on stdout (or stderr): a terminal's width there, no wrapping elsewhere."""
    made = Console(stderr=stderr, **kwargs)
    if made.is_terminal or "width" in kwargs:
        return made
    return Console(
        stderr=stderr,
        width=UNWRAPPED,
        soft_wrap=True,
        **{k: v for k, v in kwargs.items() if k != "soft_wrap"},
    )
