"""Filter operators: the rules of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` and ``:`` for each kind of field
path (scalars, repeated fields, maps, map values, messages), producing typed query nodes.
"""

from __future__ import annotations

from modelyard.aip import schema as s
from modelyard.aip.filtering import ast, query
from modelyard.aip.filtering.errors import invalid, quoted
from modelyard.aip.filtering.literals import LiteralConverter, contains_text, source, wildcard
from modelyard.aip.filtering.paths import FieldPath


class OperatorRules(LiteralConverter):
    """The comparators applied to resolved paths (a part of the checker)."""

    def compare(self, path: FieldPath, op: query.Op, node: ast.Expr, op_column: int) -> query.Query:
        if path.is_repeated:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the repeated field {quoted(path.text)}; '
                f"test for an element with {path.text}:value",
                op_column,
            )
        if path.is_map:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the map {quoted(path.text)}; compare one '
                f"value with {path.text}.key {op.value} value, or test a key with {path.text}:key",
                op_column,
            )
        kind = path.type.kind
        if kind is s.Kind.MESSAGE:
            raise invalid(
                f'"{op.value}" at column {op_column} cannot compare the message {quoted(path.text)}; compare '
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
            pattern = wildcard(value, path, op, node)
            if pattern is not None:
                return pattern
        return query.Compare(path.ref, op, value)

    def has(self, path: FieldPath, node: ast.Expr, restriction: ast.Restriction) -> query.Query:
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
                    f"{quoted(path.text)} at column {path.column} must end with a singular scalar field of "
                    "the elements",
                    path.column,
                )
            return query.HasElement(path.ref, path.subpath, self.value(node, path.type, path))
        if path.is_repeated:
            if path.type.kind is s.Kind.MESSAGE:
                raise invalid(
                    f'":" at column {op_column}: the elements of {quoted(path.text)} are messages; test one '
                    f"of their fields, e.g. {path.text}.field:value, or presence with {path.text}:*",
                    op_column,
                )
            return query.HasElement(path.ref, (), self.value(node, path.type, path))
        if path.is_map:
            if isinstance(node, ast.Member):
                raise invalid(
                    f"the map key {quoted(node.source)} at column {node.column} must be quoted", node.column
                )
            return query.HasKey(path.ref, source(node))
        if path.is_map_key:
            return self.compare(path, query.Op.EQ, node, op_column)
        kind = path.type.kind
        if kind is s.Kind.STRING:
            return query.Contains(path.ref, contains_text(source(node), path, node))
        raise invalid(
            f'":" at column {op_column} on the {path.describe()} only tests presence: write {path.text}:*'
            + (f" or {path.text} = value" if kind.is_scalar else ""),
            op_column,
        )
