"""The server's settings: one frozen object built once (from ``modelyard serve``'s flags and the
environment) and passed to :func:`modelyard.api.app.create_app`.

Nothing below ``create_app`` reads the environment. Worker processes get the settings through
:class:`AppFactory`, a picklable callable that uvicorn hands to each worker it spawns. Every field is
documented in the README's configuration table; a new feature adds a field here, a line there and (if a
user sets it) a flag or an environment variable in :meth:`Settings.from_env`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("modelyard")

_FALSE = frozenset({"0", "false", "no", "off"})
#: The longest drain ``MODELYARD_DRAIN_SECONDS`` may ask for.
MAX_DRAIN_SECONDS = 600.0
#: Where prometheus_client's multiprocess mode keeps its files; read by prometheus_client when imported.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: ``MODELYARD_METRICS_ACCOUNTS``: which accounts get a ``modelyard_models{account}`` series.
METRICS_ACCOUNTS = ("off", "public", "all")


@dataclass(frozen=True)
class Settings:
    #: Database URL (``--db`` / ``MODELYARD_DB``); empty: SQLite in the user data directory.
    database_url: str = ""
    #: The JSON access log on stdout (``MODELYARD_ACCESS_LOG``, default on).
    access_log: bool = True
    #: Seconds to keep serving, unready, after the first shutdown signal (``MODELYARD_DRAIN_SECONDS``).
    drain_seconds: float = 0.0
    #: Where model files live (``--storage`` / ``MODELYARD_STORAGE``): ``file:///path`` or
    #: ``s3://bucket/prefix``; empty: ``file://`` beside the database (``modelyard.storage``).
    storage_url: str = ""
    #: Seconds between two sweeps of expired uploads and unreferenced blobs (``MODELYARD_GC_INTERVAL``,
    #: default 600; 0 turns the sweep off).
    gc_interval: float = 600.0
    #: The base of the signed file URLs when clients reach the server through another address
    #: (``MODELYARD_PUBLIC_URL``, e.g. ``https://registry.example.com``); empty: the request's own.
    public_url: str = ""
    #: Most bytes of a JSON request body (``MODELYARD_MAX_BODY_BYTES``, default 1 MiB); model-file
    #: uploads are not JSON bodies and are not limited by it.
    max_body_bytes: int = 1 << 20
    #: Requests per second per API key and worker, ``RATE`` or ``RATE/BURST`` (``--rate-limit`` /
    #: ``MODELYARD_RATE_LIMIT``); empty: no limit.
    rate_limit: str = ""
    #: Visitors without an API key browse public models on /catalog (``--[no-]catalog-anonymous`` /
    #: ``MODELYARD_CATALOG_ANONYMOUS``, default on).
    catalog_anonymous: bool = True
    #: ``modelyard_models{account}`` series (``MODELYARD_METRICS_ACCOUNTS``): ``off`` (default, none),
    #: ``public`` (public models of accounts that have some) or ``all`` (every account, private models
    #: included).
    metrics_accounts: str = "off"
    #: prometheus_client's multiprocess directory, set by ``modelyard serve --workers N`` (N > 1) for this
    #: server run; empty: each process counts alone.
    metrics_dir: str = ""
    #: Hub door uploads: files larger than this many bytes go through the LFS multipart transfer
    #: (``MODELYARD_HF_MULTIPART_THRESHOLD``, default 1 GiB), in parts of ``hf_part_size`` bytes
    #: (``MODELYARD_HF_PART_SIZE``, default 64 MiB; S3 wants at least 5 MiB).
    hf_multipart_threshold: int = 1 << 30
    hf_part_size: int = 64 << 20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """The settings from ``environ`` (default ``os.environ``), overridden by the flags given (a flag
        of ``None`` means "not given")."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "database_url": env.get("MODELYARD_DB", ""),
            "access_log": env.get("MODELYARD_ACCESS_LOG", "1").strip().lower() not in _FALSE,
            "drain_seconds": _drain_seconds(env.get("MODELYARD_DRAIN_SECONDS", "")),
            "storage_url": env.get("MODELYARD_STORAGE", ""),
            "gc_interval": _seconds("MODELYARD_GC_INTERVAL", env.get("MODELYARD_GC_INTERVAL", ""), 600.0),
            "public_url": env.get("MODELYARD_PUBLIC_URL", "").rstrip("/"),
            "max_body_bytes": _max_body_bytes(env.get("MODELYARD_MAX_BODY_BYTES", "")),
            "rate_limit": env.get("MODELYARD_RATE_LIMIT", ""),
            "catalog_anonymous": env.get("MODELYARD_CATALOG_ANONYMOUS", "1").strip().lower() not in _FALSE,
            "metrics_accounts": _metrics_accounts(env.get("MODELYARD_METRICS_ACCOUNTS", "")),
            "hf_multipart_threshold": _bytes(
                "MODELYARD_HF_MULTIPART_THRESHOLD", env.get("MODELYARD_HF_MULTIPART_THRESHOLD", ""), 1 << 30
            ),
            "hf_part_size": _bytes("MODELYARD_HF_PART_SIZE", env.get("MODELYARD_HF_PART_SIZE", ""), 64 << 20),
        }
        names = {f.name for f in dataclasses.fields(cls)}
        for name, value in flags.items():
            if name not in names:
                raise TypeError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def resolved_database_url(self) -> str:
        """``database_url`` normalised (a file path becomes ``sqlite:///...``, ``postgresql://`` gets
        psycopg 3), or the default SQLite file."""
        from modelyard.store.engine import default_sqlite_url, normalise_url

        return normalise_url(self.database_url or default_sqlite_url())


def _seconds(name: str, raw: str, default: float) -> float:
    raw = raw.strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, raw)
        return default
    return max(value, 0.0)


def _bytes(name: str, raw: str, default: int) -> int:
    raw = raw.strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        log.warning("ignoring %s=%r: not a positive number of bytes", name, raw)
        return default
    return int(raw)


def _drain_seconds(raw: str) -> float:
    raw = raw.strip()
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        log.warning("ignoring MODELYARD_DRAIN_SECONDS=%r: not a number", raw)
        return 0.0
    return min(max(value, 0.0), MAX_DRAIN_SECONDS)


def _max_body_bytes(raw: str) -> int:
    default: int = Settings.max_body_bytes
    raw = raw.strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        log.warning("ignoring MODELYARD_MAX_BODY_BYTES=%r: not a positive number of bytes", raw)
        return default
    return int(raw)


def _metrics_accounts(raw: str) -> str:
    value = raw.strip().lower() or "off"
    if value not in METRICS_ACCOUNTS:
        log.warning("ignoring MODELYARD_METRICS_ACCOUNTS=%r: not one of %s", raw, ", ".join(METRICS_ACCOUNTS))
        return "off"
    return value


@dataclass(frozen=True)
class AppFactory:
    """``uvicorn --factory`` target that carries its settings: pickled into each worker process, it
    opens the database there and builds the app (the schema is already migrated by the parent)."""

    settings: Settings

    def __call__(self) -> FastAPI:
        if self.settings.metrics_dir:
            # prometheus_client picks its value class when first imported (the worker has not yet).
            os.environ[METRICS_DIR_ENV] = self.settings.metrics_dir
        from modelyard.api.app import create_app
        from modelyard.store.engine import make_engine
        from modelyard.store.repository import Store

        store = Store(make_engine(self.settings.resolved_database_url()))
        return create_app(store, settings=self.settings)
