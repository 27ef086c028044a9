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

Every error is a :class:`~modelyard.aip.errors.FilterError` with the column of the offending token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modelyard.aip import schema as s
from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, query, values
from modelyard.aip.filtering.lexer import quote
from modelyard.aip.timestamps import parse_rfc3339

REASON_INVALID = "INVALID_FILTER"
REASON_UNKNOWN_FIELD = "UNKNOWN_FILTER_FIELD"
REASON_INVALID_VALUE = "INVALID_FILTER_VALUE"

_KEYWORDS = ("AND", "OR", "NOT")
_FORBIDDEN_SEARCH_CHARS = ("\x00", "\x1f")
_LITERAL_FUNCTIONS = {"timestamp": s.Kind.TIMESTAMP, "duration": s.Kind.DURATION}


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


# -- errors ----------------------------------------------------------------------------------------------


def invalid(message: str, column: int) -> FilterError:
    return FilterError(message, column=column, reason=REASON_INVALID, metadata={"position": str(column)})


def invalid_value(message: str, column: int, field: str, value: str) -> FilterError:
    return FilterError(
        message, column=column, reason=REASON_INVALID_VALUE, metadata={"field": field, "value": value}
    )


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _q(text: str) -> str:
    return quote(_short(text))


# -- resolved field paths ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Path:
    """A field path on the left of a comparator, resolved against the schema."""

    ref: query.FieldRef  # ends with the repeated field when ``subpath`` is set
    type: s.TypeDecl  # the designated value's type (element type for repeated fields)
    field: s.FieldDecl | None  # the last field (None when the path ends with a map key)
    subpath: tuple[s.FieldDecl, ...] | None  # fields inside the elements of a repeated message
    text: str  # as written
    column: int

    @property
    def is_repeated(self) -> bool:
        return self.subpath is None and self.field is not None and self.field.repeated

    @property
    def is_map(self) -> bool:
        return (
            self.subpath is None
            and self.field is not None
            and not self.field.repeated
            and (self.field.kind is s.Kind.MAP)
        )

    @property
    def is_map_key(self) -> bool:
        return self.subpath is None and isinstance(self.ref.leaf, query.MapKey)

    @property
    def is_singular_scalar(self) -> bool:
        return self.subpath is None and not self.is_repeated and self.type.kind.is_scalar

    def describe(self) -> str:
        if self.is_map_key:
            return f"map value {_q(self.text)} ({self.type.describe()})"
        if self.field is not None and self.subpath is None:
            return f"{self.field.describe()} field {_q(self.text)}"
        return f"{self.type.describe()} field {_q(self.text)}"


def _parts(node: ast.Text | ast.Member) -> tuple[tuple[ast.Part, ...], str]:
    if isinstance(node, ast.Text):
        return (ast.Part(node.text, ast.PartKind.TEXT, node.column),), node.text
    return node.parts, node.source


def _source(node: ast.Expr) -> str:
    """The literal as the user wrote it (strings: their value)."""
    if isinstance(node, ast.Text):
        return node.text
    if isinstance(node, ast.String):
        return node.value
    if isinstance(node, (ast.Int, ast.Float)):
        return node.text
    if isinstance(node, ast.Member):
        return node.source
    if isinstance(node, ast.Call):
        return node.name + "(…)"
    return "(…)"


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


class _Checker:
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
        path: _Path | None = None
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
        text = _source(node)
        if not self.schema.global_search:
            if path is not None:
                raise invalid(
                    f"the {path.describe()} at column {node.column} is not a boolean; compare it with a "
                    f"value, e.g. {path.text} = …",
                    node.column,
                )
            message = (
                f"bare literal {_q(text)} at column {node.column}: global search is not supported; "
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
                f"{_q(_source(lhs))}",
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

    # -- comparisons ----------------------------------------------------------------------------------------

    def compare(self, path: _Path, op: query.Op, node: ast.Expr, op_column: int) -> query.Query:
        if path.is_repeated:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the repeated field {_q(path.text)}; '
                f"test for an element with {path.text}:value",
                op_column,
            )
        if path.is_map:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the map {_q(path.text)}; compare one '
                f"value with {path.text}.key {op.value} value, or test a key with {path.text}:key",
                op_column,
            )
        kind = path.type.kind
        if kind is s.Kind.MESSAGE:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the message {_q(path.text)}; compare '
                f"one of its fields, or test presence with {path.text}:*",
                op_column,
            )
        if isinstance(node, ast.Text) and node.text == "*":
            raise invalid(
                f'"*" at column {node.column} is only meaningful after ":" ({path.text}:* tests presence); '
                f'quote it for a wildcard match, e.g. {path.text} = "prefix*"',
                node.column,
            )
        if kind in (s.Kind.BOOL, s.Kind.ENUM) and op not in (query.Op.EQ, query.Op.NE):
            raise invalid(
                f'"{op.value}" at column {op_column} does not apply to the {path.describe()}; use = or !=',
                op_column,
            )
        value = self.value(node, path.type, path)
        if kind is s.Kind.STRING and isinstance(value, str) and op in (query.Op.EQ, query.Op.NE):
            wildcard = _wildcard(value, path, op, node)
            if wildcard is not None:
                return wildcard
        return query.Compare(path.ref, op, value)

    def value(self, node: ast.Expr, t: s.TypeDecl, path: _Path) -> query.Value:
        """Convert the literal ``node`` to a value of type ``t`` (the type of ``path``'s values)."""
        if isinstance(node, ast.String) and not node.quoted:
            node = ast.Text(node.value, node.column)  # ``x:true`` was written unquoted
        kind = t.kind
        shown = _source(node)
        column = getattr(node, "column", path.column)

        def bad(expected: str, hint: str = "") -> FilterError:
            message = f"invalid value {_q(shown)} at column {column} for the {path.describe()}; {expected}"
            if hint:
                message += f"; {hint}"
            return invalid_value(message, column, path.text, shown)

        if isinstance(node, ast.Call):
            call_kind, call_value = self.literal_call(node)
            if call_kind is not kind:
                raise bad(f"{node.name}() gives a {call_kind.value}, expected a {t.describe()}")
            return call_value
        if not isinstance(node, (ast.Text, ast.String, ast.Int, ast.Float, ast.Member)):
            raise bad("expected a value")
        if kind is s.Kind.STRING:
            return shown
        if kind.is_integer:
            if isinstance(node, ast.Int):
                low, high = s.INT32_RANGE if kind is s.Kind.INT32 else s.INT64_RANGE
                if not low <= node.value <= high:
                    raise bad(f"out of range for {kind.value} ({low} to {high})")
                return node.value
            if isinstance(node, ast.Float):
                raise bad("a float literal cannot be compared with an integer field; use an integer")
            if isinstance(node, ast.String):
                raise bad("expected an integer", "write numbers without quotes")
            raise bad("expected an integer")
        if kind in (s.Kind.FLOAT, s.Kind.DOUBLE):
            if isinstance(node, (ast.Int, ast.Float)):
                return float(node.value)
            if isinstance(node, ast.String):
                raise bad("expected a number", "write numbers without quotes")
            raise bad("expected a number")
        if kind is s.Kind.BOOL:
            if isinstance(node, ast.Text) and node.text in ("true", "false"):
                return node.text == "true"
            hint = "write it without quotes" if isinstance(node, ast.String) else ""
            raise bad("expected true or false (lower-case)", hint)
        if kind is s.Kind.ENUM:
            assert t.enum is not None
            if isinstance(node, (ast.Text, ast.String)):
                number = t.enum.number(node.text if isinstance(node, ast.Text) else node.value)
                if number is not None:
                    return query.EnumValue(t.enum.name_of(number) or "", number)
                suggestion = s.suggest(shown, t.enum.values)
                hint = f'did you mean "{suggestion}"?' if suggestion else ""
                raise bad(f"not a value of enum {t.enum.name} (names are case-sensitive)", hint)
            raise bad(f"expected the name of a value of enum {t.enum.name}; enums are compared by name")
        if kind is s.Kind.TIMESTAMP:
            if isinstance(node, ast.String):
                nanos = parse_rfc3339(node.value)
                if nanos is not None:
                    return query.Timestamp(nanos)
                hint = values.PLUS_HINT if values.looks_like_decoded_plus(node.value) else ""
                raise bad('expected an RFC 3339 timestamp with an offset, e.g. "2025-01-01T00:00:00Z"', hint)
            raise bad('expected a quoted RFC 3339 timestamp, e.g. "2025-01-01T00:00:00Z"')
        if kind is s.Kind.DURATION:
            if isinstance(node, (ast.String, ast.Text)):  # `ttl > 30s`: AIP-160's unquoted duration
                nanos = values.parse_duration(node.value if isinstance(node, ast.String) else node.text)
                if nanos is not None:
                    return query.Duration(nanos)
            raise bad('expected a duration in seconds with an "s" suffix, e.g. 30s or "1.5s"')
        raise bad(f"a {t.describe()} cannot be compared")

    def literal_call(self, node: ast.Call) -> tuple[s.Kind, query.Value]:
        """``timestamp("…")`` or ``duration("…")`` used as a value."""
        kind = _LITERAL_FUNCTIONS.get(node.name)
        if kind is None or self.schema.function(node.name) is None:
            if self.schema.function(node.name) is None:
                raise self.unknown_function(node)
            raise invalid(
                f"{node.name}() at column {node.column} cannot be used as a value; only timestamp() and "
                "duration() can",
                node.column,
            )
        if len(node.args) != 1 or not isinstance(node.args[0], ast.String):
            raise invalid(
                f'{node.name}() at column {node.column} takes one quoted string, e.g. {node.name}("'
                + ("2025-01-01T00:00:00Z" if kind is s.Kind.TIMESTAMP else "30s")
                + '")',
                node.column,
            )
        arg = node.args[0]
        if kind is s.Kind.TIMESTAMP:
            nanos = parse_rfc3339(arg.value)
            if nanos is None:
                hint = f"; {values.PLUS_HINT}" if values.looks_like_decoded_plus(arg.value) else ""
                raise invalid_value(
                    f"invalid timestamp {_q(arg.value)} at column {arg.column}; expected RFC 3339 with an "
                    f'offset, e.g. "2025-01-01T00:00:00Z"{hint}',
                    arg.column,
                    "timestamp()",
                    arg.value,
                )
            return kind, query.Timestamp(nanos)
        nanos = values.parse_duration(arg.value)
        if nanos is None:
            raise invalid_value(
                f'invalid duration {_q(arg.value)} at column {arg.column}; expected seconds with an "s" '
                'suffix, e.g. "30s" or "1.5s"',
                arg.column,
                "duration()",
                arg.value,
            )
        return kind, query.Duration(nanos)

    # -- ":" ------------------------------------------------------------------------------------------------

    def has(self, path: _Path, node: ast.Expr, restriction: ast.Restriction) -> query.Query:
        op_column = restriction.column
        if isinstance(node, ast.String) and node.value == "*":
            if path.subpath is not None:
                raise invalid(
                    f'":*" at column {op_column} cannot test a field inside the elements of a repeated '
                    f"field; test the repeated field itself, e.g. {path.ref.path}:*",
                    op_column,
                )
            return query.Presence(path.ref)
        if isinstance(node, ast.Call) or not isinstance(
            node, (ast.Text, ast.String, ast.Int, ast.Float, ast.Member)
        ):
            column = getattr(node, "column", op_column)
            raise invalid(f'the value after ":" at column {column} must be a literal', column)
        if path.subpath is not None:
            if not path.type.kind.is_scalar or (path.field is not None and path.field.repeated):
                raise invalid(
                    f"{_q(path.text)} at column {path.column} must end with a singular scalar field of the "
                    "elements",
                    path.column,
                )
            return query.HasElement(path.ref, path.subpath, self.value(node, path.type, path))
        if path.is_repeated:
            if path.type.kind is s.Kind.MESSAGE:
                raise invalid(
                    f'":" at column {op_column}: the elements of {_q(path.text)} are messages; test one of '
                    f"their fields, e.g. {path.text}.field:value, or presence with {path.text}:*",
                    op_column,
                )
            return query.HasElement(path.ref, (), self.value(node, path.type, path))
        if path.is_map:
            if isinstance(node, ast.Member):
                raise invalid(
                    f"the map key {_q(node.source)} at column {node.column} must be quoted", node.column
                )
            return query.HasKey(path.ref, _source(node))
        if path.is_map_key:
            return self.compare(path, query.Op.EQ, node, op_column)
        kind = path.type.kind
        if kind is s.Kind.STRING:
            return query.Contains(path.ref, _contains_text(_source(node), path, node))
        raise invalid(
            f'":" at column {op_column} on the {path.describe()} only tests presence: write {path.text}:*'
            + (f" or {path.text} = value" if kind.is_scalar else ""),
            op_column,
        )

    # -- functions ------------------------------------------------------------------------------------------

    def unknown_function(self, node: ast.Call) -> FilterError:
        message = f'unknown function "{_short(node.name)}" at column {node.column}'
        declared = [fn.name for fn in self.schema.functions]
        suggestion = s.suggest(node.name, declared) if declared else None
        if suggestion is not None:
            message += f'; did you mean "{suggestion}"?'
        elif not declared:
            message += "; this filter declares no functions"
        return invalid(message, node.column)

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
            raise bad(f"the string {_q(node.value)}")
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

    # -- field resolution -----------------------------------------------------------------------------------

    def resolve(self, node: ast.Text | ast.Member, *, has: bool) -> _Path:
        parts, text = _parts(node)
        message = self.schema.root
        segments: list[query.Segment] = []
        i = 0
        while True:
            part = parts[i]
            f = message.field(part.text)
            if f is None:
                raise self.unknown_field(part, message, parts[:i], text)
            segments.append(f)
            rest = parts[i + 1 :]
            if f.repeated:
                if not rest:
                    return _Path(query.FieldRef(tuple(segments)), f.type, f, None, text, node.column)
                nxt = rest[0]
                if nxt.kind is ast.PartKind.NUMBER:
                    raise invalid(
                        f"indexing the repeated field {_q(f.name)} at column {nxt.column} is not allowed; "
                        f"test its elements with {f.name}:value or {f.name}.field:value",
                        nxt.column,
                    )
                if f.kind is not s.Kind.MESSAGE or f.type.message is None:
                    raise invalid(
                        f"the elements of {_q(f.name)} ({f.describe()}) have no fields (column {nxt.column})",
                        nxt.column,
                    )
                if not has:
                    raise invalid(
                        f'"." at column {nxt.column - 1} cannot go through the repeated field {_q(f.name)} '
                        f'except on the left of ":", e.g. {text}:value',
                        nxt.column - 1,
                    )
                subpath = self.subpath(f.type.message, rest, parts[: i + 1], text)
                leaf = subpath[-1]
                return _Path(query.FieldRef(tuple(segments)), leaf.type, leaf, subpath, text, node.column)
            if f.kind is s.Kind.MAP:
                if not rest:
                    return _Path(query.FieldRef(tuple(segments)), f.type, f, None, text, node.column)
                if len(rest) > 1:
                    raise invalid(
                        f"the values of the map {_q(f.name)} have no fields (column {rest[1].column}); "
                        f'quote a key that contains ".", e.g. {f.name}."a.b"',
                        rest[1].column,
                    )
                assert f.type.map_value is not None
                segments.append(query.MapKey(rest[0].text))
                return _Path(query.FieldRef(tuple(segments)), f.type.map_value, None, None, text, node.column)
            if f.kind is s.Kind.MESSAGE and f.type.message is not None:
                if not rest:
                    return _Path(query.FieldRef(tuple(segments)), f.type, f, None, text, node.column)
                message = f.type.message
                i += 1
                continue
            if rest:
                raise invalid(
                    f'"." at column {rest[0].column - 1} cannot traverse into {_q(f.name)}, a '
                    f"{f.describe()} field",
                    rest[0].column - 1,
                )
            return _Path(query.FieldRef(tuple(segments)), f.type, f, None, text, node.column)

    def subpath(
        self,
        message: s.MessageDecl,
        parts: Sequence[ast.Part],
        before: Sequence[ast.Part],
        text: str,
    ) -> tuple[s.FieldDecl, ...]:
        """The fields ``parts`` inside the elements of a repeated message (singular messages only)."""
        fields: list[s.FieldDecl] = []
        for index, part in enumerate(parts):
            f = message.field(part.text)
            if f is None:
                raise self.unknown_field(part, message, [*before, *parts[:index]], text)
            fields.append(f)
            last = index == len(parts) - 1
            if f.repeated or f.kind is s.Kind.MAP:
                raise invalid(
                    f"{_q(text)} at column {part.column}: nested repeated fields and maps cannot be tested "
                    "inside the elements of a repeated field",
                    part.column,
                )
            if f.kind is s.Kind.MESSAGE and f.type.message is not None:
                if last:
                    break
                message = f.type.message
                continue
            if not last:
                raise invalid(
                    f'"." at column {parts[index + 1].column - 1} cannot traverse into {_q(f.name)}, a '
                    f"{f.describe()} field",
                    parts[index + 1].column - 1,
                )
        return tuple(fields)

    def unknown_field(
        self, part: ast.Part, message: s.MessageDecl, before: Sequence[ast.Part], text: str
    ) -> FilterError:
        name = part.text
        where = f" in {_q('.'.join(p.text for p in before))}" if before else ""
        msg = f"unknown field {_q(name)}{where} at column {part.column}"
        suggestion = message.suggest(name)
        if suggestion is not None:
            msg += f'; did you mean "{suggestion}"?'
        if "[" in name:
            msg += "; indexing a repeated field is not allowed"
        if "`" in name:
            msg += '; backticks are field-mask syntax: quote a map key with double quotes, e.g. labels."a b"'
        return FilterError(
            msg, column=part.column, reason=REASON_UNKNOWN_FIELD, metadata={"field": _short(text, 200)}
        )


def _compatible(field_kind: s.Kind, arg_kind: s.Kind) -> bool:
    if field_kind is arg_kind:
        return True
    if field_kind.is_integer and arg_kind.is_integer:
        return True
    return field_kind.is_number and arg_kind in (s.Kind.FLOAT, s.Kind.DOUBLE)


def _star_error(value: str, path: _Path, node: ast.Expr) -> FilterError:
    column = getattr(node, "column", path.column)
    return invalid_value(
        f'"*" in the middle of {_q(value)} at column {column}: a wildcard is allowed only at the start '
        'and/or end of a value, and a literal "*" cannot be matched',
        column,
        path.text,
        value,
    )


def _wildcard(value: str, path: _Path, op: query.Op, node: ast.Expr) -> query.Wildcard | None:
    """``"abc*"``, ``"*abc"``, ``"*abc*"``, ``"*"`` on a string field; None without ``*``."""
    if "*" not in value:
        return None
    negated = op is query.Op.NE
    if value == "*":
        return query.Wildcard(path.ref, query.WildcardKind.ANY, "", negated)
    lead, trail = value.startswith("*"), value.endswith("*")
    inner = value[1 if lead else 0 : len(value) - 1 if trail else len(value)]
    if "*" in inner:
        raise _star_error(value, path, node)
    if lead and trail:
        kind = query.WildcardKind.CONTAINS
    elif trail:
        kind = query.WildcardKind.PREFIX
    else:
        kind = query.WildcardKind.SUFFIX
    return query.Wildcard(path.ref, kind, inner, negated)


def _contains_text(value: str, path: _Path, node: ast.Expr) -> str:
    """The substring for ``field:"text"``; ``*`` at the ends is redundant and dropped."""
    inner = value.strip("*")
    if "*" in inner:
        raise _star_error(value, path, node)
    return inner
