"""The catalog's name order (issue 25 item 9): "Name (A to Z)" sorts by the name a reader sees, case
aside: the display name, or the model id of a model without one, lowered. List Models' own ``orderBy``
is unchanged (``display_name`` orders by code point, as AIP-132 and the Fireworks API do): only the
catalog orders by :data:`CATALOG_NAME`, a field no Model has and no ``orderBy`` can name.

The key is an SQL expression, the same on both databases and in :func:`catalog_name_value` (which makes
the catalog's page links): ``lower(coalesce(nullif(display_name, ''), model_id))``. Both columns compare
by code point (``text_c``), where ``lower`` maps A-Z only (SQLite's ``lower``, and PostgreSQL's under the
"C" collation), so Python lowers A-Z only as well. Expression indexes per account and over the public
models (migration 0008) keep the order, as ``ix_models_*_display_name`` keep the plain one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from modelyard.aip.schema import FieldDecl
from modelyard.resources.model import MODEL
from modelyard.store.tables import CATALOG_NAME_SQL

_display = MODEL.field("display_name")
assert _display is not None
#: The order key of the catalog's name sort (a string field of no message).
CATALOG_NAME = FieldDecl("catalog_name", _display.type)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def catalog_name_sql() -> ColumnElement[Any]:
    """The key as SQL (``tables.CATALOG_NAME_SQL``, which the expression indexes hold)."""
    return CATALOG_NAME_SQL


def catalog_name_value(display_name: str, model_id: str) -> str:
    """The key of one model, as the database computes it."""
    return (display_name or model_id).translate(_ASCII_LOWER)


def is_catalog_name(path: tuple[FieldDecl, ...]) -> bool:
    return len(path) == 1 and path[0] is CATALOG_NAME
