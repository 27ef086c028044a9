"""The syntax tree of an AIP-160 filter, as the parser builds it (before type checking).

Every node keeps the 1-based character ``column`` where it starts (for restrictions and logical operators:
the column of the operator) so that the checker can point at the offending token.

Literal nodes:

* :class:`Text`: an unquoted TEXT token (``foo``, ``true``, ``*``, ``projects/p1``): a field name on the
  left of a comparator, a literal on the right, a search term when bare.
* :class:`String`: a quoted STRING (after unescaping). ``quoted`` is False for a TEXT turned into a string
  after ``:`` (``m:foo`` is ``(: m "foo")``).
* :class:`Int` / :class:`Float`: numbers, with their source ``text`` (``007``, ``0x1F``, ``-30``).
* :class:`Member`: a dotted chain ``a.b."c d".1`` of at least two parts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    column: int


@dataclass(frozen=True, slots=True)
class String:
    value: str
    column: int
    quoted: bool = True


@dataclass(frozen=True, slots=True)
class Int:
    value: int
    text: str
    column: int


@dataclass(frozen=True, slots=True)
class Float:
    value: float
    text: str
    column: int


class PartKind(enum.Enum):
    TEXT = "text"
    STRING = "string"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a member chain: the root value or a field after a ``.``."""

    text: str
    kind: PartKind
    column: int


@dataclass(frozen=True, slots=True)
class Member:
    """``a.b.c``: ``parts[0]`` is the root (TEXT or STRING); ``source`` is the chain as written."""

    parts: tuple[Part, ...]
    source: str
    column: int


@dataclass(frozen=True, slots=True)
class Call:
    """``name(args)``; ``name`` may be qualified (``math.mem``)."""

    name: str
    args: tuple[Expr, ...]
    column: int


class Comparator(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    HAS = ":"


@dataclass(frozen=True, slots=True)
class Restriction:
    """``lhs op rhs``; ``column`` is the comparator's column."""

    lhs: Expr
    op: Comparator
    rhs: Expr
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr
    column: int


@dataclass(frozen=True, slots=True)
class And:
    """Explicit ``AND`` (at least two operands)."""

    operands: tuple[Expr, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]
    column: int


@dataclass(frozen=True, slots=True)
class Fuzzy:
    """A sequence ``a b c`` (implicit AND)."""

    operands: tuple[Expr, ...]
    column: int


Expr = Text | String | Int | Float | Member | Call | Restriction | Not | And | Or | Fuzzy
