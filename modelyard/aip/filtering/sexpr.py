"""Print a syntax tree in the S-expression notation of aip.md §1.6 (the conformance file's ``tree``).

* TEXT prints as is; STRING as a JSON string (control characters other than ``\\n\\r\\t`` as ``\\u00XX``);
  ints in decimal; floats with Python's ``repr`` (``1000.0``, ``0.001``, ``-2.4``).
* A member chain prints dotted; a part after a ``.`` that is not a plain word prints quoted
  (``labels."John Smith"``).
* ``(op lhs rhs)`` for restrictions, ``(f a b)`` / ``(time.now)`` for calls, ``(NOT x)``, and flattened
  ``(AND …)``, ``(OR …)``, ``(FUZZY …)`` chains. ``<empty>`` for no filter.
"""

from __future__ import annotations

import re

from modelyard.aip.filtering import ast
from modelyard.aip.filtering.errors import quote

_WORD_RE = re.compile(r"\w+")


def to_sexpr(expr: ast.Expr | None) -> str:
    if expr is None:
        return "<empty>"
    out: list[str] = []
    _emit(expr, out)
    return "".join(out)


def _emit(node: ast.Expr, out: list[str]) -> None:
    if isinstance(node, ast.Text):
        out.append(node.text)
    elif isinstance(node, ast.String):
        out.append(quote(node.value))
    elif isinstance(node, ast.Int):
        out.append(str(node.value))
    elif isinstance(node, ast.Float):
        out.append(repr(node.value))
    elif isinstance(node, ast.Member):
        out.append(_member(node))
    elif isinstance(node, ast.Call):
        out.append("(" + node.name)
        for arg in node.args:
            out.append(" ")
            _emit(arg, out)
        out.append(")")
    elif isinstance(node, ast.Restriction):
        out.append(f"({node.op.value} ")
        _emit(node.lhs, out)
        out.append(" ")
        _emit(node.rhs, out)
        out.append(")")
    elif isinstance(node, ast.Not):
        out.append("(NOT ")
        _emit(node.operand, out)
        out.append(")")
    else:
        name = "AND" if isinstance(node, ast.And) else "OR" if isinstance(node, ast.Or) else "FUZZY"
        out.append("(" + name)
        for operand in _flatten(node):
            out.append(" ")
            _emit(operand, out)
        out.append(")")


def _flatten(node: ast.And | ast.Or | ast.Fuzzy) -> list[ast.Expr]:
    """The operands of a chain, with nested chains of the same operator spliced in."""
    result: list[ast.Expr] = []
    stack: list[ast.Expr] = list(reversed(node.operands))
    while stack:
        item = stack.pop()
        if type(item) is type(node):
            assert isinstance(item, (ast.And, ast.Or, ast.Fuzzy))
            stack.extend(reversed(item.operands))
        else:
            result.append(item)
    return result


def _member(node: ast.Member) -> str:
    root, *rest = node.parts
    pieces = [quote(root.text) if root.kind is ast.PartKind.STRING else root.text]
    for part in rest:
        pieces.append(part.text if _WORD_RE.fullmatch(part.text) else quote(part.text))
    return ".".join(pieces)
