"""The ``Store``: the one object the API, the CLI and the importers hold, composed of the store's parts.

Each concern has a module of its own (see docs/architecture.md): ``connections`` (transactions),
``accounts`` (data versions and counts), ``keys`` (API keys), ``secrets`` (shared secrets), ``models``
(CRUD and export), ``bulk`` (import batches, bulk load, COPY), ``planner`` and ``listing`` (List),
``statistics`` (ANALYZE) and ``errors``. Every method here runs ``translated`` (``errors.py``): a
database that does not answer raises ``Unavailable``, never a driver error. The parts callers reach
through the facade (``users``, ``files``) are wrapped by :func:`translated_part`, so every call into
them runs translated too (and their plain reads are retried once on a dead connection). Nothing outside
``store/`` touches the engine: the facade has a method for each need (``dispose``, ``upgrade``,
``database_url``, ``pool_state``, ``schema_revisions``, ``alembic_heads``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, select

from modelyard.store import audit
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
from modelyard.store.existing import existing_names
from modelyard.store.files import FileStore
from modelyard.store.hub_objects import HubObjects
from modelyard.store.jobs import Jobs
from modelyard.store.keys import ApiKeys, KeyOwner, hash_key, list_keys
from modelyard.store.listing import SQLITE_LIST_THREADS, Lister, Page
from modelyard.store.models import Models
from modelyard.store.oci import OciRecords
from modelyard.store.planner import Scope, scope_condition
from modelyard.store.revisions import Revisions
from modelyard.store.secrets import shared_secret
from modelyard.store.statistics import Statistics
from modelyard.store.users import Users

T = TypeVar("T")


class _TranslatedPart:
    """A store part seen through the facade: every method call runs ``translated``; the methods named in
    ``reads`` (plain, idempotent reads) are also ``retried_once``."""

    def __init__(self, part: object, reads: frozenset[str]) -> None:
        self._part = part
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._part, name)
        if not callable(value) or name.startswith("_"):
            return value
        wrapped = retried_once(value) if name in self._reads else value
        translated_call = translating(wrapped)
        functools.update_wrapper(translated_call, value)
        self.__dict__[name] = translated_call  # built once per method
        return translated_call


def translated_part(part: T, *, reads: Sequence[str] = ()) -> T:
    """``part`` with every method call inside the store's error boundary (see :class:`_TranslatedPart`)."""
    return cast(T, _TranslatedPart(part, frozenset(reads)))


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.database = Database(engine)
        self.dialect = self.database.dialect
        self.statistics = Statistics(self.database)
        self.database.after_commit = self.statistics.after_commit
        self.accounts = Accounts(self.database, self.statistics)
        self.keys = ApiKeys(self.database)
        #: Users and their keys' writes (every call translated; reads retried once).
        self.users = translated_part(
            Users(self.database, self.accounts, self.keys), reads=("get_user", "list_users", "get_account")
        )
        #: The model files' rows (``store/files.py``), every call translated.
        self.files = translated_part(FileStore(engine), reads=("model", "files", "file"))
        self.models = Models(self.database, self.accounts)
        #: Revisions and refs of model files (``store/revisions.py``; its methods are translated).
        self.revisions = Revisions(self.database)
        #: The OCI door's manifests, tags and pushed blobs (``store/oci.py``; its methods are translated).
        self.oci = OciRecords(engine)
        #: The Hub door's LFS objects per repository (``store/hub_objects.py``), every call translated.
        self.hub_objects = translated_part(HubObjects(engine))
        self.batches = BatchWriter(self.database, self.accounts)
        self.lister = Lister(self.database)
        #: Jobs (``jobs.py``): call through ``Store.jobs_call`` so driver errors are translated.
        self.jobs = Jobs(self.database)
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

    def cached_key(self, key: str) -> KeyOwner | None:
        """The owner of an API key checked in the last few seconds, without reading the database."""
        return self.keys.cached(key)

    @translating
    @retried_once
    def check_key(self, key: str) -> KeyOwner | None:
        """The owner of a valid API key (cached for a few seconds), or None (unknown, deleted, expired).
        ``modelyard.access.authenticate`` is the one caller that turns it into a principal."""
        return self.keys.check(key)

    @translating
    @retried_once
    def list_keys(self, account_id: str | None, user_id: str | None = None) -> list[Any]:
        """Keys (never their hashes) of a user, of an account, or of every account, with owner emails."""
        return list_keys(self.engine, account_id, user_id)

    # -- the audit log ---------------------------------------------------------------------------------
    @translating
    def record_audit(self, ctx: audit.AuditContext, code: int, message: str) -> None:
        """Record (or correct) the entry of a write request with the answer the client received."""
        audit.record(self.engine, ctx, code, message)

    @translating
    @retried_once
    def audit_entries(
        self,
        account_id: str,
        *,
        start: int | None,
        end: int | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> audit.AuditPage:
        """An account's audit entries, newest first (see ``audit.list_entries``)."""
        return audit.list_entries(self.engine, account_id, start=start, end=end, after=after, limit=limit)

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
    @retried_once
    def existing_names(self, names: Sequence[str]) -> set[str]:
        """The committed models among ``names`` (full names)."""
        return existing_names(self.engine, names)

    @translating
    def delete_model(self, name: str) -> None:
        """Raises NotFound. Cancels the model's jobs."""
        self.models.delete(name)
        account_id, _, model_id = name.removeprefix("accounts/").partition("/models/")
        self.jobs.cancel_model(account_id, model_id)

    @translating
    def jobs_call(self, call: Callable[[Jobs], T]) -> T:
        """``call(self.jobs)`` inside the store's error translation (``jobs.py``: enqueue, take, renew,
        finish, fail)."""
        return call(self.jobs)

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

    # -- the database itself --------------------------------------------------------------------------
    def database_url(self) -> str:
        """The database's URL (with its password), e.g. to place file storage beside a SQLite file."""
        return self.engine.url.render_as_string(hide_password=False)

    def dispose(self) -> None:
        """Close every pooled connection (end of a command)."""
        self.engine.dispose()

    @translating
    def upgrade(self) -> None:
        """Create or upgrade the schema (``store/migrate.py``)."""
        from modelyard.store.migrate import upgrade

        upgrade(self.engine)

    def pool_state(self) -> list[tuple[str, float]]:
        """(state, value) for whichever of QueuePool's checkedout()/size()/overflow() the pool has (for
        metrics)."""
        out: list[tuple[str, float]] = []
        for state, attr in (("checked_out", "checkedout"), ("size", "size"), ("overflow", "overflow")):
            item = getattr(self.engine.pool, attr, None)
            try:
                value = item() if callable(item) else item
            except Exception:  # pragma: no cover - a pool implementation we do not know
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                # QueuePool.overflow() starts at -size and counts up as connections open.
                out.append((state, float(max(value, 0) if state == "overflow" else value)))
        return out

    def alembic_heads(self) -> set[str]:
        """The revisions the migration scripts lead to (what ``schema_revisions`` should be)."""
        from alembic.script import ScriptDirectory

        from modelyard.store.migrate import alembic_config

        return set(ScriptDirectory.from_config(alembic_config(self.engine)).get_heads())

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
