"""Model CRUD: create, get, read-modify-write update, delete, and the export of an account's models.

``deployedModelRefs`` is kept in a column of its own (List never returns it) and merged back into the
resource by ``with_deployed_refs``, for Get, update and export alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from sqlalchemy import delete, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from modelyard.aip.timestamps import format_rfc3339, now_nanos, parse_rfc3339
from modelyard.resources.model import model_name
from modelyard.store.accounts import Accounts
from modelyard.store.connections import Database
from modelyard.store.errors import AlreadyExists, NotFound
from modelyard.store.revisions import forget_model
from modelyard.store.rows import resource_to_row
from modelyard.store.tables import models

#: How a model without deployed model references stores them.
_NO_REFS = ("[]", "")

_FIELD_ORDER: dict[str, int] = {}


def ordered(resource: dict[str, Any]) -> dict[str, Any]:
    """Keys in declaration order (stable, readable output)."""
    if not _FIELD_ORDER:
        from modelyard.resources.model import MODEL

        _FIELD_ORDER.update({f.json_name: i for i, f in enumerate(MODEL.fields)})
    try:
        keys = sorted(resource, key=_FIELD_ORDER.__getitem__)
    except KeyError:  # a key the Model does not declare: last
        keys = sorted(resource, key=lambda k: _FIELD_ORDER.get(k, 1000))
    return {k: resource[k] for k in keys}


def complete(account_id: str, model_id: str, resource: dict[str, Any], *, keep_times: bool) -> dict[str, Any]:
    """The stored form of a new Model: its name and times (``keep_times`` keeps those it has), ordered."""
    full = {"name": model_name(account_id, model_id), **resource}
    if not keep_times or "createTime" not in full or "updateTime" not in full:
        now = format_rfc3339(now_nanos())
        if not keep_times or "createTime" not in full:
            full["createTime"] = now
        if not keep_times or "updateTime" not in full:
            full["updateTime"] = full["createTime"] if keep_times else now
    return ordered(full)


def has_deployed_refs(refs: str) -> bool:
    return refs not in _NO_REFS


def with_deployed_refs(resource: str, refs: str) -> dict[str, Any]:
    """A stored Model as Get returns it: the ``resource`` column plus its ``deployedModelRefs``."""
    model: dict[str, Any] = orjson.loads(resource)
    if has_deployed_refs(refs):
        found = orjson.loads(refs)
        if found:
            model["deployedModelRefs"] = found
    return model


class Models:
    def __init__(self, database: Database, accounts: Accounts) -> None:
        self.database = database
        self.accounts = accounts

    def create(
        self, account_id: str, model_id: str, resource: dict[str, Any], *, keep_times: bool = False
    ) -> dict[str, Any]:
        """Insert a Model; ``resource`` is canonical JSON without ``name`` (and, unless ``keep_times``,
        without times). Raises AlreadyExists."""
        full = complete(account_id, model_id, resource, keep_times=keep_times)
        row = resource_to_row(full, account_id=account_id, model_id=model_id)
        with self.database.write() as conn:
            self.accounts.ensure(account_id, conn)
            try:
                with conn.begin_nested():
                    conn.execute(insert(models).values(**row))
            except IntegrityError:
                raise AlreadyExists(full["name"]) from None
            self.accounts.bump(conn, account_id, 1, 1 if row["public"] else 0)
        return full

    def get(self, name: str, *, reader: str | None = None) -> tuple[dict[str, Any], bool] | None:
        """The Model (with ``deployedModelRefs``) and whether it is public, or None. With ``reader`` (an
        account id), only a model that account may read: its own, or a public one. The visibility test is
        part of the query, so another account's private model costs what a missing one costs (it is never
        read, let alone decoded)."""
        stmt = select(models.c.resource, models.c.deployed_model_refs, models.c.public).where(
            models.c.name == name
        )
        if reader is not None:
            stmt = stmt.where(or_(models.c.account_id == reader, models.c.public.is_(true())))
        with self.database.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return with_deployed_refs(row.resource, row.deployed_model_refs), bool(row.public)

    def update(self, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one Model under a row lock. ``mutate`` gets the current resource (with
        ``deployedModelRefs``) and returns the new one. Raises NotFound."""
        with self.database.write() as conn:
            stmt = select(
                models.c.resource,
                models.c.deployed_model_refs,
                models.c.account_id,
                models.c.model_id,
                models.c.public,
            )
            stmt = stmt.where(models.c.name == name)
            if self.database.postgresql:
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise NotFound(name)
            current = with_deployed_refs(row.resource, row.deployed_model_refs)
            new = mutate(current)
            new["name"] = name
            new["createTime"] = current["createTime"]
            last = parse_rfc3339(current["updateTime"]) or 0
            new["updateTime"] = format_rfc3339(max(now_nanos(), last + 1000))
            new = ordered(new)
            values = resource_to_row(new, account_id=row.account_id, model_id=row.model_id)
            conn.execute(update(models).where(models.c.name == name).values(**values))
            self.accounts.bump(conn, row.account_id, 0, int(bool(values["public"])) - int(bool(row.public)))
        return new

    def delete(self, name: str) -> None:
        with self.database.write() as conn:
            gone = conn.execute(
                delete(models).where(models.c.name == name).returning(models.c.account_id, models.c.public)
            ).first()
            if gone is None:
                raise NotFound(name)
            account_id, _, model_id = name.removeprefix("accounts/").partition("/models/")
            forget_model(conn, account_id, model_id)  # its revisions and refs, in the same transaction
            self.accounts.bump(conn, gone[0], -1, -1 if gone[1] else 0)

    def export(self, account_id: str, *, batch: int = 1000) -> Iterator[bytes]:
        """Every model of an account, in name order, as canonical JSON (with ``deployedModelRefs``)."""
        after: str | None = None
        while True:
            with self.database.engine.connect() as conn:
                stmt = select(models.c.name, models.c.resource, models.c.deployed_model_refs).where(
                    models.c.account_id == account_id
                )
                if after is not None:
                    stmt = stmt.where(models.c.name > after)
                rows = conn.execute(stmt.order_by(models.c.name).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                if has_deployed_refs(row.deployed_model_refs):
                    yield orjson.dumps(ordered(with_deployed_refs(row.resource, row.deployed_model_refs)))
                else:
                    yield row.resource.encode()
            after = rows[-1].name
