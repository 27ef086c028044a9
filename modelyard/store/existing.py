"""Which models of a list already exist: one query per 500 names (an import sets them aside at once
instead of finding them one transaction per row)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select

from modelyard.store.tables import models

_CHUNK = 500


def existing_names(engine: Engine, names: Sequence[str]) -> set[str]:
    """The committed models among ``names`` (full names, ``accounts/A/models/M``)."""
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(names), _CHUNK):
            chunk = list(names[start : start + _CHUNK])
            found.update(conn.execute(select(models.c.name).where(models.c.name.in_(chunk))).scalars())
    return found
