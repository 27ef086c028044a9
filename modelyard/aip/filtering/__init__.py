"""AIP-160 filtering: lexer -> parser -> syntax tree -> checker -> typed query (:mod:`.query`).

Public API:

* :func:`parse`: filter text -> syntax tree (None for an empty filter);
* :func:`to_sexpr`: syntax tree -> the S-expression notation of the conformance table;
* :func:`check`: syntax tree + schema -> :class:`~modelyard.aip.filtering.query.CheckedFilter`;
* :func:`compile_filter`: parse + check, cached.

Every failure is a :class:`~modelyard.aip.errors.FilterError` with a reason (``INVALID_FILTER``,
``UNKNOWN_FILTER_FIELD``, ``INVALID_FILTER_VALUE``, ``FILTER_TOO_LONG``, ``FILTER_TOO_COMPLEX``) and, where
it makes sense, the 1-based column of the offending token.
"""

from __future__ import annotations

import functools

from modelyard.aip.filtering import limits
from modelyard.aip.filtering.ast import Expr
from modelyard.aip.filtering.checker import check
from modelyard.aip.filtering.parser import parse
from modelyard.aip.filtering.query import CheckedFilter
from modelyard.aip.filtering.sexpr import to_sexpr
from modelyard.aip.schema import Schema

__all__ = ["CheckedFilter", "Expr", "check", "compile_filter", "limits", "parse", "to_sexpr"]


@functools.lru_cache(maxsize=1024)
def compile_filter(text: str, schema: Schema) -> CheckedFilter:
    """Parse and check ``text`` against ``schema`` (cached: a paging walk parses its filter once)."""
    return check(parse(text), schema, text)
