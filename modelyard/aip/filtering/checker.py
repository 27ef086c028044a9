"""Checker: syntax tree + declared :class:`~modelyard.aip.schema.Schema` -> typed query objects
(:mod:`modelyard.aip.filtering.query`).

The rules are AIP-160 Profile A with modelyard's decisions (``shared/spec/decisions.md``):

* The field is always on the left; a TEXT (or number, or dotted chain) on the right is a literal.
* Field names in snake_case or lowerCamelCase; ``.`` walks singular messages and maps (the part after a
  map field is the key); ``.`` through a repeated field only on the left of ``:``.
* Values are converted by the field's type: strings (``*`` wildcards at the start/end with ``=``/``!=``),
  ints (range-checked), floats (ints widen), bools (``true``/``false`` only, ``=``/``!=`` only), enums by
  name (quoted or not, ``=``/``!=`` only), strict RFC 3339 timestamps, ``<number>s`` durations.
* ``:``: ``x:*`` is presence; on a repeated field, element membership; on a map, key presence; on a map
  value, equality; on a singular string, case-insensitive substring; otherwise an error.
* ``a = (b OR c)`` expands to ``a = b OR a = c``.
* A bare bool field is ``field = true``; other bare literals are global search when the schema allows it.

The checker is split by concern: :mod:`.paths` resolves field paths (with the shared walker of
:mod:`modelyard.aip.paths`), :mod:`.literals` converts values, :mod:`.operators` holds the comparator
rules; this module handles boolean structure, bare terms (global search) and function calls. Every error
is a :class:`~modelyard.aip.errors.FilterError` built by :mod:`.errors`, with the column of the offending
token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelyard.aip import schema as s
from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, query, values
from modelyard.aip.filtering.errors import invalid, quoted
from modelyard.aip.filtering.literals import source
from modelyard.aip.filtering.operators import OperatorRules
from modelyard.aip.filtering.paths import FieldPath, PathResolver
from modelyard.aip.timestamps import parse_rfc3339

_KEYWORDS = ("AND", "OR", "NOT")
_FORBIDDEN_SEARCH_CHARS = ("\x00", "\x1f")


def check(expr: ast.Expr | None, schema: s.Schema, text: str = "") -> query.CheckedFilter:
    """Type-check ``expr`` against ``schema``; raises FilterError."""
    if expr is None:
        return query.CheckedFilter(text, None)
    _check_lowercase_keywords(expr)
    return query.CheckedFilter(text, _Checker(schema).boolean(expr))


def _check_lowercase_keywords(expr: ast.Expr) -> None:
    """Reject ``a = 1 and b = 2`` first: a lower-case keyword used as a bare term explains whatever else
    looks wrong around it."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.And, ast.Or, ast.Fuzzy)):
            stack.extend(reversed(node.operands))
        elif isinstance(node, ast.Not):
            stack.append(node.operand)
        elif isinstance(node, ast.Text) and node.text.upper() in _KEYWORDS:
            raise _lowercase_keyword(node)


def _lowercase_keyword(node: ast.Text) -> FilterError:
    return invalid(
        f'"{node.text}" at column {node.column} is not an operator: keywords are upper-case; '
        f"use {node.text.upper()}",
        node.column,
    )


def _and(items: Sequence[query.Query]) -> query.Query:
    flat: list[query.Query] = []
    for item in items:
        if isinstance(item, query.And):
            flat.extend(item.operands)
        else:
            flat.append(item)
    return flat[0] if len(flat) == 1 else query.And(tuple(flat))


def _or(items: Sequence[query.Query]) -> query.Query:
    flat: list[query.Query] = []
    for item in items:
        if isinstance(item, query.Or):
            flat.extend(item.operands)
        else:
            flat.append(item)
    return flat[0] if len(flat) == 1 else query.Or(tuple(flat))


class _Checker(OperatorRules, PathResolver):
    def __init__(self, schema: s.Schema) -> None:
        self.schema = schema

    # -- boolean positions ------------------------------------------------------------------------------

    def boolean(self, node: ast.Expr) -> query.Query:
        if isinstance(node, (ast.And, ast.Fuzzy)):
            return _and([self.boolean(o) for o in node.operands])
        if isinstance(node, ast.Or):
            return _or([self.boolean(o) for o in node.operands])
        if isinstance(node, ast.Not):
            return query.Not(self.boolean(node.operand))
        if isinstance(node, ast.Restriction):
            return self.restriction(node)
        if isinstance(node, ast.Call):
            return self.call_term(node)
        return self.bare(node)

    def bare(self, node: ast.Text | ast.String | ast.Int | ast.Float | ast.Member) -> query.Query:
        """A bare literal: a bool field (``active``) or a global search term."""
        path: FieldPath | None = None
        if isinstance(node, ast.Text):
            word = node.text
            if word.upper() in _KEYWORDS:
                raise _lowercase_keyword(node)
            if word == "*":
                raise invalid(
                    f'a bare "*" at column {node.column} is not a search term; to test that a field is set, '
                    "write field:*",
                    node.column,
                )
        if isinstance(node, (ast.Text, ast.Member)):
            try:
                path = self.resolve(node, has=False)
            except FilterError:
                path = None
            if path is not None and path.is_singular_scalar and path.type.kind is s.Kind.BOOL:
                return query.Compare(path.ref, query.Op.EQ, True)
        text = source(node)
        if not self.schema.global_search:
            if path is not None:
                raise invalid(
                    f"the {path.describe()} at column {node.column} is not a boolean; compare it with a "
                    f"value, e.g. {path.text} = …",
                    node.column,
                )
            message = (
                f"bare literal {quoted(text)} at column {node.column}: global search is not supported; "
                'write a restriction such as name = "value"'
            )
            if isinstance(node, ast.Text):
                suggestion = self.schema.root.suggest(node.text)
                if suggestion is not None:
                    message += f'; did you mean the field "{suggestion}"?'
            raise invalid(message, node.column)
        if any(c in text for c in _FORBIDDEN_SEARCH_CHARS):
            raise invalid(
                f"search term at column {node.column} contains a forbidden control character", node.column
            )
        return query.Search(text)

    def restriction(self, node: ast.Restriction) -> query.Query:
        lhs = node.lhs
        op_text = node.op.value
        if isinstance(lhs, (ast.String, ast.Int, ast.Float)):
            raise invalid(
                f'the left side of "{op_text}" at column {lhs.column} must be a field, not the constant '
                f"{quoted(source(lhs))}",
                lhs.column,
            )
        if not isinstance(lhs, (ast.Text, ast.Member)):
            column = getattr(lhs, "column", node.column)
            raise invalid(
                f'the left side of "{op_text}" at column {column} must be a field; functions are allowed as '
                "boolean terms and as timestamp()/duration() values",
                column,
            )
        if node.op is ast.Comparator.HAS:
            path = self.resolve(lhs, has=True)
            return self.expand(node.rhs, lambda value: self.has(path, value, node))
        path = self.resolve(lhs, has=False)
        op = query.Op(op_text)
        return self.expand(node.rhs, lambda value: self.compare(path, op, value, node.column))

    def expand(self, rhs: ast.Expr, make: Callable[[ast.Expr], query.Query]) -> query.Query:
        """``a = (b OR c)`` -> ``a = b OR a = c`` (also AND and sequences inside the parentheses)."""
        if isinstance(rhs, (ast.And, ast.Fuzzy)):
            return _and([self.expand(o, make) for o in rhs.operands])
        if isinstance(rhs, ast.Or):
            return _or([self.expand(o, make) for o in rhs.operands])
        if isinstance(rhs, (ast.Not, ast.Restriction)):
            raise invalid(
                f"only values, combined with AND or OR, may appear in parentheses on the right-hand side "
                f"(column {rhs.column})",
                rhs.column,
            )
        return make(rhs)

    def call_term(self, node: ast.Call) -> query.Query:
        fn = self.schema.function(node.name)
        if fn is None and node.name in _KEYWORDS:
            # ``NOT(a)``, ``OR(a, b)``: the operators written as functions (an EBNF antipattern).
            if node.name == "NOT" and len(node.args) == 1:
                return query.Not(self.boolean(node.args[0]))
            if node.name != "NOT" and len(node.args) >= 2:
                items = [self.boolean(a) for a in node.args]
                return _and(items) if node.name == "AND" else _or(items)
            raise invalid(f"wrong number of operands for {node.name} at column {node.column}", node.column)
        if fn is None:
            raise self.unknown_function(node)
        if fn.result is not s.Kind.BOOL:
            raise invalid(
                f"{fn.name}() at column {node.column} returns a {fn.result.value}, not a boolean; use it "
                f"as a value, e.g. field > {fn.name}(…)",
                node.column,
            )
        if len(node.args) != len(fn.args):
            raise invalid(
                f"{fn.name}() at column {node.column} takes {len(fn.args)} argument"
                f"{'' if len(fn.args) == 1 else 's'}, got {len(node.args)}",
                node.column,
            )
        args = tuple(self.call_arg(fn, i, a) for i, a in enumerate(node.args))
        return query.Call(fn.name, args)

    def call_arg(self, fn: s.FunctionDecl, index: int, node: ast.Expr) -> query.FieldRef | query.Value:
        kind = fn.args[index]
        column = getattr(node, "column", 0)

        def bad(found: str) -> FilterError:
            return invalid(
                f"argument {index + 1} of {fn.name}() at column {column} must be a {kind.value}; "
                f"found {found}",
                column,
            )

        if isinstance(node, (ast.Text, ast.Member)):
            if kind is s.Kind.BOOL and isinstance(node, ast.Text) and node.text in ("true", "false"):
                return node.text == "true"
            path = self.resolve(node, has=False)
            if not path.is_singular_scalar:
                raise bad(f"the {path.describe()}")
            if not _compatible(path.type.kind, kind):
                raise bad(f"the {path.describe()}")
            return path.ref
        if isinstance(node, ast.String):
            if kind is s.Kind.STRING:
                return node.value
            if kind is s.Kind.TIMESTAMP:
                nanos = parse_rfc3339(node.value)
                if nanos is not None:
                    return query.Timestamp(nanos)
            if kind is s.Kind.DURATION:
                nanos = values.parse_duration(node.value)
                if nanos is not None:
                    return query.Duration(nanos)
            raise bad(f"the string {quoted(node.value)}")
        if isinstance(node, ast.Int):
            if kind.is_integer:
                low, high = s.INT32_RANGE if kind is s.Kind.INT32 else s.INT64_RANGE
                if low <= node.value <= high:
                    return node.value
            elif kind in (s.Kind.FLOAT, s.Kind.DOUBLE):
                return float(node.value)
            raise bad(f"the number {node.text}")
        if isinstance(node, ast.Float):
            if kind in (s.Kind.FLOAT, s.Kind.DOUBLE):
                return node.value
            raise bad(f"the number {node.text}")
        if isinstance(node, ast.Call):
            call_kind, value = self.literal_call(node)
            if call_kind is not kind:
                raise bad(f"{node.name}()")
            return value
        raise bad("an expression")


def _compatible(field_kind: s.Kind, arg_kind: s.Kind) -> bool:
    if field_kind is arg_kind:
        return True
    if field_kind.is_integer and arg_kind.is_integer:
        return True
    return field_kind.is_number and arg_kind in (s.Kind.FLOAT, s.Kind.DOUBLE)
