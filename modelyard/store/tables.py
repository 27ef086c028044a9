"""The database schema (SQLAlchemy Core), derived from the Model declarations.

``models`` keeps each Model twice, by design:

* ``resource``: the canonical proto3 JSON text of the Model as List returns it (without
  ``deployedModelRefs``), so a page is served without re-serialising columns;
* one column per singular scalar field, including fields of singular messages
  (``base_model_details__parameter_count``), plus a ``has_<message>`` flag per singular message. These
  are what filters and orderings run on. Scalars are stored at their zero value when unset (proto3), so
  ordering needs no COALESCE and indexes serve it. Timestamps are BIGINT nanoseconds, enums SMALLINT
  numbers (they order by declaration order), strings ``COLLATE "C"`` on PostgreSQL (code point order).

Repeated fields and maps are read from ``resource`` with the database's JSON functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    literal_column,
    true,
)
from sqlalchemy.types import TypeEngine

from modelyard.aip.schema import FieldDecl, Kind, MessageDecl
from modelyard.resources.model import MODEL, SEARCH_FIELDS

metadata = MetaData()


def text_c() -> TypeEngine[str]:
    """Text that compares by code point on every database (SQLite's BINARY, PostgreSQL's "C")."""
    return Text().with_variant(Text(collation="C"), "postgresql")


def string_c(length: int) -> TypeEngine[str]:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _sql_type(kind: Kind) -> TypeEngine[object]:
    if kind is Kind.STRING:
        return text_c()  # type: ignore[return-value]
    if kind is Kind.BOOL:
        return Boolean(create_constraint=False)  # type: ignore[return-value]
    if kind is Kind.INT32:
        return Integer()  # type: ignore[return-value]
    if kind in (Kind.INT64, Kind.TIMESTAMP, Kind.DURATION):
        return BigInteger()  # type: ignore[return-value]
    if kind in (Kind.FLOAT, Kind.DOUBLE):
        return Float()  # type: ignore[return-value]
    if kind is Kind.ENUM:
        return SmallInteger()  # type: ignore[return-value]
    raise ValueError(kind)


@dataclass(frozen=True)
class ScalarColumn:
    """A stored singular scalar: its field path from the Model root and its column name."""

    path: tuple[FieldDecl, ...]
    column: str

    @property
    def decl(self) -> FieldDecl:
        return self.path[-1]


@dataclass(frozen=True)
class PresenceColumn:
    path: tuple[FieldDecl, ...]  # the message field(s)
    column: str


def column_name(path: tuple[FieldDecl, ...]) -> str:
    return "__".join(f.name for f in path)


def presence_name(path: tuple[FieldDecl, ...]) -> str:
    return "has_" + column_name(path)


def _layout(
    message: MessageDecl, prefix: tuple[FieldDecl, ...] = ()
) -> tuple[list[ScalarColumn], list[PresenceColumn]]:
    scalars: list[ScalarColumn] = []
    presences: list[PresenceColumn] = []
    for f in message.fields:
        if f.repeated or f.kind is Kind.MAP:
            continue
        path = (*prefix, f)
        if f.kind is Kind.MESSAGE:
            assert f.type.message is not None
            presences.append(PresenceColumn(path, presence_name(path)))
            sub_s, sub_p = _layout(f.type.message, path)
            scalars += sub_s
            presences += sub_p
        else:
            scalars.append(ScalarColumn(path, column_name(path)))
    return scalars, presences


SCALAR_COLUMNS, PRESENCE_COLUMNS = _layout(MODEL)
SCALARS_BY_PATH = {tuple(f.name for f in c.path): c for c in SCALAR_COLUMNS}
PRESENCE_BY_PATH = {tuple(f.name for f in c.path): c for c in PRESENCE_COLUMNS}

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("create_time", BigInteger, nullable=False),
    # Bumped in every transaction that writes the account's models: cached counts are keyed by it.
    Column("version", BigInteger, nullable=False, server_default="0"),
    # Exact counts of the account's models (and of its public ones), kept by the same transactions.
    Column("model_count", BigInteger, nullable=False, server_default="0"),
    Column("public_count", BigInteger, nullable=False, server_default="0"),
    # Identity (0003): the Account resource's display name and email.
    Column("display_name", Text, nullable=False, server_default=""),
    Column("email", Text, nullable=False, server_default=""),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", string_c(32), primary_key=True),
    Column("account_id", string_c(63), ForeignKey("accounts.account_id"), nullable=False),
    Column("key_hash", LargeBinary(32), nullable=False, unique=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("prefix", string_c(16), nullable=False),
    Column("create_time", BigInteger, nullable=False),
    # Identity (0003): the user the key belongs to, and when it stops working (0: never).
    Column("user_id", string_c(63), nullable=False),
    Column("expire_time", BigInteger, nullable=False, server_default="0"),
    ForeignKeyConstraint(
        ["account_id", "user_id"], ["users.account_id", "users.user_id"], name="fk_api_keys_user"
    ),
)
Index("ix_api_keys_account_user", api_keys.c.account_id, api_keys.c.user_id)

#: People (and service accounts) of an account, with their role (0003).
users = Table(
    "users",
    metadata,
    Column("account_id", string_c(63), ForeignKey("accounts.account_id"), primary_key=True),
    Column("user_id", string_c(63), primary_key=True),
    Column("role", string_c(32), nullable=False),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("email", Text, nullable=False, server_default=""),
    Column("service_account", Boolean(create_constraint=False), nullable=False, server_default="0"),
    Column("create_time", BigInteger, nullable=False),
    Column("update_time", BigInteger, nullable=False),
)

#: One row per write request, allowed or refused (0003); written in the write's own transaction.
audit_logs = Table(
    "audit_logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("account_id", string_c(63), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("principal", Text, nullable=False, server_default=""),
    Column("api_key_id", Text, nullable=False, server_default=""),
    Column("method", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("response_code", Integer, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("request_id", Text, nullable=False, server_default=""),
)
Index("ix_audit_logs_account_time", audit_logs.c.account_id, audit_logs.c.time, audit_logs.c.id)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", string_c(63), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

_model_columns: list[Column[object]] = [
    Column("account_id", string_c(63), ForeignKey("accounts.account_id"), nullable=False),
    Column("model_id", string_c(63), nullable=False),
]
for _c in SCALAR_COLUMNS:
    if _c.column == "name":
        _model_columns.append(Column("name", text_c(), primary_key=True))
        continue
    _model_columns.append(Column(_c.column, _sql_type(_c.decl.kind), nullable=False))
for _p in PRESENCE_COLUMNS:
    _model_columns.append(Column(_p.column, Boolean(create_constraint=False), nullable=False))
_model_columns += [
    Column("resource", Text, nullable=False),
    Column("deployed_model_refs", Text, nullable=False, server_default="[]"),
]

models = Table("models", metadata, *_model_columns)

#: (account_id, <column>, name) indexes serve the default order and the common filters and orders.
INDEXED_COLUMNS = (
    "create_time",
    "update_time",
    "display_name",
    "kind",
    "state",
    "public",
    "supports_serverless",
    "context_length",
    "base_model_details__parameter_count",
)
Index("ix_models_account_name", models.c.account_id, models.c.name, unique=True)
for _col in INDEXED_COLUMNS:
    if _col == "public":
        continue  # below: partial
    Index(f"ix_models_account_{_col}"[:63], models.c.account_id, models.c[_col], models.c.name)
#: The condition of the indexes of public models only (migration 0010), written as the queries write it
#: (``planner.scope_condition``, ``facets.py``): PostgreSQL and SQLite use a partial index only for a
#: query whose conditions imply (SQLite: contain) the index's.
PUBLIC_ONLY = models.c.public.is_(true())
# Another account's public models (a small share of its models): a partial index.
Index(
    "ix_models_account_public",
    models.c.account_id,
    models.c.public,
    models.c.name,
    postgresql_where=PUBLIC_ONLY,
    sqlite_where=PUBLIC_ONLY,
)
Index(
    "ix_models_public_name",
    models.c.public,
    models.c.name,
    postgresql_where=PUBLIC_ONLY,
    sqlite_where=PUBLIC_ONLY,
)
#: The catalog's name order (``store/catalog_order.py``, migration 0011): the display name, else the model
#: id, lowered; ``''`` is a literal so that queries match the expression indexes.
CATALOG_NAME_SQL = func.lower(
    func.coalesce(func.nullif(models.c.display_name, literal_column("''")), models.c.model_id)
)
Index("ix_models_account_catalog_name", models.c.account_id, CATALOG_NAME_SQL, models.c.name)
Index(
    "ix_models_public_catalog_name",
    models.c.public,
    CATALOG_NAME_SQL,
    models.c.name,
    postgresql_where=PUBLIC_ONLY,
    sqlite_where=PUBLIC_ONLY,
)


def _search_column(json_name: str) -> Column[object]:
    """The column of a field global search looks in: a Model field's, or ``modelId``'s own."""
    decl = next((f for f in MODEL.fields if f.json_name == json_name), None)
    return models.c[decl.name if decl is not None else re.sub(r"(?<!^)(?=[A-Z])", "_", json_name).lower()]


#: The columns global search looks in (``resources.model.SEARCH_FIELDS``).
SEARCH_COLUMNS = tuple(_search_column(name) for name in SEARCH_FIELDS)

#: Model files (issue 12): one row per file declared by ``:getUploadEndpoint``. ``location`` is set once
#: the bytes are stored (``sha256:<hex>`` on file storage, the object key on S3).
model_files = Table(
    "model_files",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("path", string_c(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("upload_id", string_c(32), nullable=False),
    # Unix seconds after which the upload URLs stop working (and an incomplete file is swept).
    Column("expire_time", BigInteger, nullable=False),
    Column("location", Text, nullable=True),
    Column("create_time", BigInteger, nullable=False),
    Column("complete_time", BigInteger, nullable=True),
)
Index("ix_model_files_location", model_files.c.location)

#: File storage's content-addressed blobs; a blob's row is locked while it is placed or deleted.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", string_c(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False),
)

#: The public catalog (``/catalog`` without a key) in the orders it shows first, and covering indexes
#: for its facet counts (an index-only scan per scope instead of reading every visible row).
PUBLIC_ORDER_COLUMNS = (
    "display_name",
    "update_time",
    "create_time",
    "context_length",
    "base_model_details__parameter_count",
)
FACET_COLUMNS = (
    "kind",
    "supports_serverless",
    "supports_tools",
    "supports_image_input",
    "tunable",
    "context_length",
    "has_base_model_details",
    "base_model_details__parameter_count",
)
#: What the facet indexes also hold after the facet columns (migration 0007), so that counting a view
#: (its facet options, its total and the bounds of its order, ``store/facets.py``) reads no table row: the
#: catalog's sort columns, and the flags and state an advanced filter most often tests.
COUNTED_COLUMNS = (
    "display_name",
    "update_time",
    "create_time",
    "state",
    "supports_lora",
    "calibrated",
    "use_hf_apply_chat_template",
    "rl_tunable",
    "supervised_lora_tunable",
    "supervised_full_parameter_tunable",
    "rl_lora_tunable",
    "rl_full_parameter_tunable",
)
for _col in PUBLIC_ORDER_COLUMNS:
    Index(
        f"ix_models_public_{_col}"[:63],
        models.c.public,
        models.c[_col],
        models.c.name,
        postgresql_where=PUBLIC_ONLY,
        sqlite_where=PUBLIC_ONLY,
    )
_counted = [models.c[c] for c in (*FACET_COLUMNS, *COUNTED_COLUMNS)]
Index("ix_models_facets_account", models.c.account_id, models.c.public, *_counted)
Index(
    "ix_models_facets_public",
    models.c.public,
    *_counted,
    postgresql_where=PUBLIC_ONLY,
    sqlite_where=PUBLIC_ONLY,
)

#: Revisions (0008): immutable snapshots of a model's files. ``commit_id`` is 40 hex digits (SHA-1 of the
#: canonical serialisation in ``store/revisions.py``), unique across models; ``parent_id`` is the previous
#: revision on the ref it was committed to (NULL for a first revision); ``author`` is the principal's
#: resource name (``accounts/a/users/u``) or ``modelyard`` for revisions the system made.
revisions = Table(
    "revisions",
    metadata,
    Column("commit_id", string_c(40), primary_key=True),
    Column("account_id", string_c(63), nullable=False),
    Column("model_id", string_c(63), nullable=False),
    Column("parent_id", string_c(40), nullable=True),
    Column("author", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("create_time", BigInteger, nullable=False),
)
Index("ix_revisions_model", revisions.c.account_id, revisions.c.model_id, revisions.c.create_time)

#: The tree of each revision: path -> SHA-256 and size of its bytes (every committed file has a verified
#: SHA-256). The index on ``sha256`` lets garbage collection ask whether any revision refers to a blob.
revision_files = Table(
    "revision_files",
    metadata,
    Column("commit_id", string_c(40), primary_key=True),
    Column("path", string_c(1024), primary_key=True),
    Column("sha256", string_c(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)
Index("ix_revision_files_sha256", revision_files.c.sha256)

#: Refs (0008): the names of revisions, per model: branches (``main``, ``fp8``, ...) move by commits,
#: tags do not move. One namespace per model (a tag and a branch cannot share a name).
refs = Table(
    "refs",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("name", string_c(255), primary_key=True),
    Column("kind", string_c(8), nullable=False),
    Column("commit_id", string_c(40), nullable=False),
    Column("update_time", BigInteger, nullable=False),
)

#: The Hub door's LFS objects (0012): blobs uploaded and verified per repository (``store/hub_objects.py``).
hub_lfs_objects = Table(
    "hub_lfs_objects",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("sha256", string_c(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False),
)

#: The OCI door (``modelyard/oci``, ``store/oci.py``; migration 0013): manifests stored as pushed (signatures,
#: SBOMs, anything with a ``subject``) and the ModelPack manifests generated from revisions (``commit_id``
#: set; frozen at first pull so a revision's digest never changes), with their config blob.
oci_manifests = Table(
    "oci_manifests",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("digest", string_c(71), primary_key=True),
    Column("media_type", Text, nullable=False),
    Column("artifact_type", Text, nullable=True),
    Column("subject", string_c(71), nullable=True),
    Column("commit_id", string_c(40), nullable=True),
    Column("content", LargeBinary, nullable=False),
    Column("config_digest", string_c(71), nullable=True),
    Column("config", LargeBinary, nullable=True),
    Column("create_time", BigInteger, nullable=False),
)
Index(
    "ix_oci_manifests_subject", oci_manifests.c.account_id, oci_manifests.c.model_id, oci_manifests.c.subject
)
Index(
    "ix_oci_manifests_commit", oci_manifests.c.account_id, oci_manifests.c.model_id, oci_manifests.c.commit_id
)
Index("ix_oci_manifests_config", oci_manifests.c.config_digest)

#: Tags of stored (non-model) manifests, e.g. cosign's ``sha256-<hex>.sig``.
oci_tags = Table(
    "oci_tags",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("tag", string_c(128), primary_key=True),
    Column("digest", string_c(71), nullable=False),
    Column("update_time", BigInteger, nullable=False),
)

#: Blobs pushed to (or mounted into) a repository: what it may serve and what garbage collection keeps.
oci_blobs = Table(
    "oci_blobs",
    metadata,
    Column("account_id", string_c(63), primary_key=True),
    Column("model_id", string_c(63), primary_key=True),
    Column("sha256", string_c(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("create_time", BigInteger, nullable=False),
)
Index("ix_oci_blobs_sha256", oci_blobs.c.sha256)
