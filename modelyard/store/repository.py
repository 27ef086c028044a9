"""The ``Store``: the one object the API, the CLI and the importers hold, composed of the store's parts.

Each concern has a module of its own (see docs/architecture.md): ``connections`` (transactions),
``accounts`` (data versions and counts), ``keys`` (API keys), ``secrets`` (shared secrets), ``models``
(CRUD and export), ``bulk`` (import batches, bulk load, COPY), ``planner`` and ``listing`` (List),
``statistics`` (ANALYZE) and ``errors``. Every method here runs ``translated`` (``errors.py``): a
database that does not answer raises ``Unavailable``, never a driver error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, select

from modelyard.store.accounts import Accounts
from modelyard.store.bulk import ROW_COLUMNS, ROW_NAME, BatchWriter, BulkLoad, Row, prepare_rows
from modelyard.store.connections import Database
from modelyard.store.errors import (
    UNAVAILABLE_ERRORS,
    AlreadyExists,
    CatalogNotEmpty,
    NotFound,
    SchemaMissing,
    Unavailable,
    retried_once,
    translating,
)
from modelyard.store.keys import ApiKeys, hash_key
from modelyard.store.listing import SQLITE_LIST_THREADS, Lister, Page
from modelyard.store.models import Models
from modelyard.store.planner import Scope, scope_condition
from modelyard.store.revisions import Revisions
from modelyard.store.secrets import shared_secret
from modelyard.store.statistics import Statistics
from modelyard.store.users import Users


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.database = Database(engine)
        self.dialect = self.database.dialect
        self.statistics = Statistics(self.database)
        self.database.after_commit = self.statistics.after_commit
        self.accounts = Accounts(self.database, self.statistics)
        self.keys = ApiKeys(self.database)
        self.users = Users(self.database, self.accounts, self.keys)
        self.models = Models(self.database, self.accounts)
        #: Revisions and refs of model files (``store/revisions.py``; its methods are translated).
        self.revisions = Revisions(self.database)
        self.batches = BatchWriter(self.database, self.accounts)
        self.lister = Lister(self.database)
        #: List (translated by the lister itself: the hot path takes no extra call here).
        self.list_models = self.lister.list_models
        self.alist_models = self.lister.alist_models

    @translating
    async def aclose(self) -> None:
        """Close the asyncio pool (at application shutdown, on its event loop)."""
        await self.lister.aclose()

    # -- accounts, keys, secrets -----------------------------------------------------------------------
    @translating
    def create_api_key(self, account_id: str, display_name: str = "") -> str:
        """A new key of the account's bootstrap ``admin`` user (account and user created if missing)."""
        return self.users.bootstrap_key(account_id, display_name=display_name)[1]

    def cached_account(self, key: str) -> str | None:
        """The account of an API key seen in the last few seconds, without reading the database."""
        return self.keys.cached_account(key)

    @translating
    @retried_once
    def authenticate(self, key: str) -> str | None:
        """The account an API key belongs to (cached for a few seconds), or None."""
        return self.keys.authenticate(key)

    @translating
    def secret(self, name: str) -> bytes:
        """A 32-byte secret shared by every server on this database (created on first use)."""
        return shared_secret(self.database, name)

    # -- models ----------------------------------------------------------------------------------------
    @translating
    def create_model(
        self, account_id: str, model_id: str, resource: dict[str, Any], *, keep_times: bool = False
    ) -> dict[str, Any]:
        """Insert a Model; ``resource`` is canonical JSON without ``name`` (and, unless ``keep_times``,
        without times). Raises AlreadyExists."""
        return self.models.create(account_id, model_id, resource, keep_times=keep_times)

    @translating
    @retried_once
    def get_model(self, name: str, *, reader: str | None = None) -> tuple[dict[str, Any], bool] | None:
        """The Model (with ``deployedModelRefs``) and whether it is public, or None (also when ``reader``
        is given and may not read it: see ``Models.get``)."""
        return self.models.get(name, reader=reader)

    @translating
    def update_model(self, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write one Model under a row lock (see ``Models.update``). Raises NotFound."""
        return self.models.update(name, mutate)

    @translating
    def delete_model(self, name: str) -> None:
        """Raises NotFound."""
        self.models.delete(name)

    @translating
    def export_models(self, account_id: str, *, batch: int = 1000) -> Iterator[bytes]:
        """Every model of an account, in name order, as canonical JSON (with ``deployedModelRefs``)."""
        return (yield from self.models.export(account_id, batch=batch))

    # -- imports ---------------------------------------------------------------------------------------
    @translating
    def import_batch(
        self, account_id: str, items: Sequence[tuple[str, dict[str, Any]]], *, upsert: bool
    ) -> tuple[int, int]:
        """Insert (or with ``upsert`` replace) a batch in one transaction. Returns (created, replaced).
        Raises AlreadyExists naming the first existing model when not upserting."""
        return self.batches.write_rows(account_id, prepare_rows(account_id, items), upsert=upsert)

    prepare_rows = staticmethod(prepare_rows)

    @translating
    def write_rows(self, account_id: str, rows: list[Row], *, upsert: bool) -> tuple[int, int]:
        """Store prepared rows in one transaction (the database half of an import)."""
        return self.batches.write_rows(account_id, rows, upsert=upsert)

    @contextlib.contextmanager
    @translating
    def bulk_load(self) -> Iterator[BulkLoad]:
        """An initial load into an empty catalog (see ``BatchWriter.bulk_load``). Raises CatalogNotEmpty."""
        with self.batches.bulk_load() as load:
            yield load

    @translating
    def analyze(self, *, limit: int = 0) -> None:
        """Refresh planner statistics (see ``Statistics.analyze``)."""
        self.statistics.analyze(limit=limit)

    # -- reads -----------------------------------------------------------------------------------------
    @translating
    @retried_once
    def count_all(self, *, public_only: bool = False) -> dict[str, int]:
        """Models per account (for metrics; ``public_only``: public models, accounts that have some)."""
        return self.accounts.model_counts(public_only=public_only)

    @translating
    @retried_once
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1)).scalar()

    @translating
    @retried_once
    def schema_revisions(self) -> set[str]:
        """The Alembic revisions the database is at."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())


__all__ = [
    "ROW_COLUMNS",
    "ROW_NAME",
    "SQLITE_LIST_THREADS",
    "UNAVAILABLE_ERRORS",
    "AlreadyExists",
    "BulkLoad",
    "CatalogNotEmpty",
    "NotFound",
    "Page",
    "Row",
    "SchemaMissing",
    "Scope",
    "Store",
    "Unavailable",
    "hash_key",
    "scope_condition",
]
