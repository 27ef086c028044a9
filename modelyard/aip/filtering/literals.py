"""Filter literals: the value on the right of a restriction converted to the field's type (strings,
range-checked ints, floats, ``true``/``false``, enum names, strict RFC 3339 timestamps, ``<number>s``
durations, ``timestamp()``/``duration()`` calls), and ``*`` wildcards in strings.
"""

from __future__ import annotations

from modelyard.aip import schema as s
from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, query, values
from modelyard.aip.filtering.errors import invalid, invalid_value, quoted, short
from modelyard.aip.filtering.paths import FieldPath
from modelyard.aip.timestamps import parse_rfc3339

_LITERAL_FUNCTIONS = {"timestamp": s.Kind.TIMESTAMP, "duration": s.Kind.DURATION}


def source(node: ast.Expr) -> str:
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


class LiteralConverter:
    """Converts literals to typed values for ``schema`` (a part of the checker)."""

    schema: s.Schema

    def value(self, node: ast.Expr, t: s.TypeDecl, path: FieldPath) -> query.Value:
        """Convert the literal ``node`` to a value of type ``t`` (the type of ``path``'s values)."""
        if isinstance(node, ast.String) and not node.quoted:
            node = ast.Text(node.value, node.column)  # ``x:true`` was written unquoted
        kind = t.kind
        shown = source(node)
        column = getattr(node, "column", path.column)

        def bad(expected: str, hint: str = "") -> FilterError:
            message = f"invalid value {quoted(shown)} at column {column} for the {path.describe()}"
            message += f"; {expected}"
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
                    f"invalid timestamp {quoted(arg.value)} at column {arg.column}; expected RFC 3339 with "
                    f'an offset, e.g. "2025-01-01T00:00:00Z"{hint}',
                    arg.column,
                    "timestamp()",
                    arg.value,
                )
            return kind, query.Timestamp(nanos)
        nanos = values.parse_duration(arg.value)
        if nanos is None:
            raise invalid_value(
                f'invalid duration {quoted(arg.value)} at column {arg.column}; expected seconds with an "s" '
                'suffix, e.g. "30s" or "1.5s"',
                arg.column,
                "duration()",
                arg.value,
            )
        return kind, query.Duration(nanos)

    def unknown_function(self, node: ast.Call) -> FilterError:
        message = f'unknown function "{short(node.name)}" at column {node.column}'
        declared = [fn.name for fn in self.schema.functions]
        suggestion = s.suggest(node.name, declared) if declared else None
        if suggestion is not None:
            message += f'; did you mean "{suggestion}"?'
        elif not declared:
            message += "; this filter declares no functions"
        return invalid(message, node.column)


def _star_error(value: str, path: FieldPath, node: ast.Expr) -> FilterError:
    column = getattr(node, "column", path.column)
    return invalid_value(
        f'"*" in the middle of {quoted(value)} at column {column}: a wildcard is allowed only at the start '
        'and/or end of a value, and a literal "*" cannot be matched',
        column,
        path.text,
        value,
    )


def wildcard(value: str, path: FieldPath, op: query.Op, node: ast.Expr) -> query.Wildcard | None:
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


def contains_text(value: str, path: FieldPath, node: ast.Expr) -> str:
    """The substring for ``field:"text"``; ``*`` at the ends is redundant and dropped."""
    inner = value.strip("*")
    if "*" in inner:
        raise _star_error(value, path, node)
    return inner
