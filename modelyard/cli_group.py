"""The root ``modelyard`` command group: conventional help text and one-line failures for every command.

Typer's help shows each option's Python type in angle brackets (``--upsert <bool>``, ``--db <str>``) and
required arguments in braces (``{model}``). :class:`ModelyardGroup` rewrites the help metadata of every
command below it once, when the command tree is built: flags show no value, other options show their
value in the usual upper case (``--db TEXT``, ``--page-size INTEGER``, ``--output [table|json]``), and
arguments read ``MODEL`` (required) or ``[PATHS]...`` (optional).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperArgument, TyperGroup, TyperOption

from modelyard.cli_failures import one_line_failures

_TYPE_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}


class _Argument(TyperArgument):
    """A positional argument shown as ``NAME`` when required and ``[NAME]`` when optional."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says it


def value_name(annotation: Any) -> str:
    """The upper-case name shown for an option's value, from its annotation."""
    if get_origin(annotation) in (list, tuple):
        args = get_args(annotation)
        return value_name(args[0]) if args else "TEXT"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "[" + "|".join(str(member.value) for member in annotation) + "]"
    return _TYPE_NAMES.get(annotation, "VALUE")


def polish_help(command: Any) -> None:
    """Set conventional metavars on every parameter of ``command`` and of its subcommands (again on
    parameters added since: it may run more than once)."""
    for param in command.params:
        _polish(param)
    if not getattr(command, "_modelyard_help_polished", False):
        command._modelyard_help_polished = True
        help_option = command.get_help_option

        def polished_help_option(ctx: Any) -> Any:
            option = help_option(ctx)
            if option is not None:
                _polish(option)
            return option

        command.get_help_option = polished_help_option
    for sub in getattr(command, "commands", {}).values():
        polish_help(sub)


def _polish(param: Any) -> None:
    if param.metavar is not None:
        return
    if isinstance(param, TyperOption):
        param.metavar = "" if param.is_flag else value_name(param.type_descriptor.annotation)
    elif isinstance(param, TyperArgument):
        param.metavar = (param.name or "value").upper()
        param.__class__ = _Argument


class ModelyardGroup(TyperGroup):
    """The root group: polished help for the whole tree, and :func:`one_line_failures` around every
    command (an expected failure is one ``error:`` line and a non-zero exit status, not a traceback)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        polish_help(self)  # here: typer adds the completion options after building the group
        return super().main(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with one_line_failures():
            return super().invoke(ctx)
