"""Filter field paths: the left side of a restriction (``a.b.c``, ``labels."k"``, ``refs.state``) resolved
against the schema with the shared walker (:func:`modelyard.aip.paths.walk`), with the filter's rules:
``.`` walks singular messages and maps (the part after a map field is the key); ``.`` through a repeated
message only on the left of ``:``; no indexing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.aip import schema as s
from modelyard.aip.errors import FilterError
from modelyard.aip.filtering import ast, query
from modelyard.aip.filtering.errors import invalid, quoted, unknown_field
from modelyard.aip.paths import MapKey, Segment, walk


@dataclass(frozen=True)
class FieldPath:
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
            return f"map value {quoted(self.text)} ({self.type.describe()})"
        if self.field is not None and self.subpath is None:
            return f"{self.field.describe()} field {quoted(self.text)}"
        return f"{self.type.describe()} field {quoted(self.text)}"


def parts_of(node: ast.Text | ast.Member) -> tuple[tuple[ast.Part, ...], str]:
    if isinstance(node, ast.Text):
        return (ast.Part(node.text, ast.PartKind.TEXT, node.column),), node.text
    return node.parts, node.source


class PathResolver:
    """Resolves field paths against ``schema`` (a part of the checker)."""

    schema: s.Schema

    def resolve(self, node: ast.Text | ast.Member, *, has: bool) -> FieldPath:
        parts, text = parts_of(node)
        segments: list[Segment] = []
        inner: list[s.FieldDecl] | None = None  # the fields inside the elements of a repeated message
        prev: s.FieldDecl | None = None
        for step in walk([p.text for p in parts], self.schema.root):
            part = parts[step.index]
            if prev is not None and prev.repeated and inner is None:
                self.check_into_repeated(prev, part, text, has=has)
                inner = []
            found = step.segment
            if isinstance(found, MapKey):
                assert prev is not None and prev.type.map_value is not None
                if step.index != len(parts) - 1:
                    after = parts[step.index + 1]
                    raise invalid(
                        f"the values of the map {quoted(prev.name)} have no fields (column {after.column}); "
                        f'quote a key that contains ".", e.g. {prev.name}."a.b"',
                        after.column,
                    )
                segments.append(found)
                return FieldPath(
                    query.FieldRef(tuple(segments)), prev.type.map_value, None, None, text, node.column
                )
            if step.message is None:
                assert prev is not None
                raise invalid(
                    f'"." at column {part.column - 1} cannot traverse into {quoted(prev.name)}, a '
                    f"{prev.describe()} field",
                    part.column - 1,
                )
            if found is None:
                raise self.unknown_field(part, step.message, parts[: step.index], text)
            if inner is None:
                segments.append(found)
            elif found.repeated or found.kind is s.Kind.MAP:
                raise invalid(
                    f"{quoted(text)} at column {part.column}: nested repeated fields and maps cannot be "
                    "tested inside the elements of a repeated field",
                    part.column,
                )
            else:
                inner.append(found)
            prev = found
        assert prev is not None
        ref = query.FieldRef(tuple(segments))
        if inner is None:
            return FieldPath(ref, prev.type, prev, None, text, node.column)
        return FieldPath(ref, prev.type, prev, tuple(inner), text, node.column)

    @staticmethod
    def check_into_repeated(f: s.FieldDecl, nxt: ast.Part, text: str, *, has: bool) -> None:
        """``.`` after the repeated field ``f``: only into the fields of message elements, left of ``:``."""
        if nxt.kind is ast.PartKind.NUMBER:
            raise invalid(
                f"indexing the repeated field {quoted(f.name)} at column {nxt.column} is not allowed; "
                f"test its elements with {f.name}:value or {f.name}.field:value",
                nxt.column,
            )
        if f.kind is not s.Kind.MESSAGE or f.type.message is None:
            raise invalid(
                f"the elements of {quoted(f.name)} ({f.describe()}) have no fields (column {nxt.column})",
                nxt.column,
            )
        if not has:
            raise invalid(
                f'"." at column {nxt.column - 1} cannot go through the repeated field {quoted(f.name)} '
                f'except on the left of ":", e.g. {text}:value',
                nxt.column - 1,
            )

    def unknown_field(
        self, part: ast.Part, message: s.MessageDecl, before: Sequence[ast.Part], text: str
    ) -> FilterError:
        name = part.text
        where = f" in {quoted('.'.join(p.text for p in before))}" if before else ""
        msg = f"unknown field {quoted(name)}{where} at column {part.column}"
        suggestion = message.suggest(name)
        if suggestion is not None:
            msg += f'; did you mean "{suggestion}"?'
        if "[" in name:
            msg += "; indexing a repeated field is not allowed"
        if "`" in name:
            msg += '; backticks are field-mask syntax: quote a map key with double quotes, e.g. labels."a b"'
        return unknown_field(msg, part.column, text)
