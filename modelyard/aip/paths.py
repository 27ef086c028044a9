"""Field paths: the one walker that resolves dotted names against a declared schema, shared by filters
(:mod:`modelyard.aip.filtering.paths`), ``orderBy`` (:mod:`modelyard.aip.ordering`) and field masks
(:mod:`modelyard.aip.fieldmask`).

:func:`walk` only looks names up; each caller applies its own rules to the steps it is given (what may be
traversed, what a path may end with) and builds its own errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from modelyard.aip.schema import FieldDecl, Kind, MessageDecl


@dataclass(frozen=True)
class MapKey:
    """A map key in a field path: ``default_sampling_params.temperature``."""

    key: str


#: One resolved element of a path: a field, or a key of the map field before it.
Segment = FieldDecl | MapKey


@dataclass(frozen=True, slots=True)
class Step:
    """The ``index``-th name of a path, as resolved.

    ``message`` is the message the name was looked up in: None when the previous segment has no fields
    (a scalar, or a map value) or when the name is a map key. ``segment`` is the field found, a
    :class:`MapKey` right after a map field, or None when ``message`` has no such field (or there is no
    message to look in); the walk ends after a None segment.
    """

    index: int
    name: str
    message: MessageDecl | None
    segment: Segment | None


def walk(names: Sequence[str], root: MessageDecl, *, skip_repeated_star: bool = False) -> Iterator[Step]:
    """Resolve ``names`` left to right from ``root``: fields in snake_case or lowerCamelCase, through
    singular and repeated messages; the name after a map field is a key.

    With ``skip_repeated_star``, a ``*`` right after a repeated field is passed over (AIP-161:
    ``authors.*.given_name`` is ``authors.given_name``)."""
    message: MessageDecl | None = root
    after_map = False
    previous: FieldDecl | None = None
    for index, name in enumerate(names):
        if after_map:
            yield Step(index, name, None, MapKey(name))
            message, after_map, previous = None, False, None
            continue
        if skip_repeated_star and name == "*" and previous is not None and previous.repeated:
            continue
        decl = message.field(name) if message is not None else None
        yield Step(index, name, message, decl)
        if decl is None:
            return
        previous = decl
        if decl.kind is Kind.MAP:
            message, after_map = None, True
        elif decl.kind is Kind.MESSAGE:
            message = decl.type.message
        else:
            message = None
