"""The server's settings: one frozen object built once (from ``modelyard serve``'s flags and the
environment) and passed to :func:`modelyard.api.app.create_app`.

Nothing below ``create_app`` reads the environment. Worker processes get the settings through
``modelyard.serving.server.AppFactory``, a picklable callable that uvicorn hands to each worker it spawns (it
lives beside the server, not here: settings are read by every layer and import none of them). Every field is
documented in the README's configuration table; a new feature adds a field here, a line there and (if a
user sets it) a flag or an environment variable in :meth:`Settings.from_env`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    #: Jobs (``:prepare``) each server process runs at a time, on threads of its own
    #: (``MODELYARD_SERVER_JOBS``, default 1; 0: only ``modelyard worker`` processes run them).
    server_jobs: int = 1
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
    #: The HTTP server's limits on what a connection may hold (:class:`HttpLimits`).
    http: HttpLimits = dataclasses.field(default_factory=lambda: HttpLimits())
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
            "server_jobs": int(_seconds("MODELYARD_SERVER_JOBS", env.get("MODELYARD_SERVER_JOBS", ""), 1.0)),
            "public_url": env.get("MODELYARD_PUBLIC_URL", "").rstrip("/"),
            "max_body_bytes": _max_body_bytes(env.get("MODELYARD_MAX_BODY_BYTES", "")),
            "rate_limit": env.get("MODELYARD_RATE_LIMIT", ""),
            "catalog_anonymous": env.get("MODELYARD_CATALOG_ANONYMOUS", "1").strip().lower() not in _FALSE,
            "metrics_accounts": _metrics_accounts(env.get("MODELYARD_METRICS_ACCOUNTS", "")),
            "http": HttpLimits.from_env(env),
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
class HttpLimits:
    """What one connection may cost the HTTP server (``modelyard.serving.httpprotocol``), each from an
    environment variable; a value that is not a positive number is ignored with a warning."""

    #: Most bytes of a request's header fields, the request line not counted (``MODELYARD_MAX_HEADER_BYTES``,
    #: default 32 KiB); more is a 431.
    max_header_bytes: int = 32 * 1024
    #: Most header fields in a request (``MODELYARD_MAX_HEADERS``, default 100); more is a 431.
    max_headers: int = 100
    #: Seconds a client has to send a whole request line and headers once connected or once it starts a
    #: request (``MODELYARD_HEADER_TIMEOUT``, default 10); then a 408 and the connection is closed.
    header_timeout: float = 10.0
    #: Seconds a request body may stall, no byte arriving while the server waits for one
    #: (``MODELYARD_BODY_IDLE_TIMEOUT``, default 60); then a 408 and the connection is closed (an upload
    #: in progress is dropped as when the client goes away).
    body_idle_timeout: float = 60.0
    #: Most open connections per worker process (``MODELYARD_MAX_CONNECTIONS``, default 1000); a request
    #: on a connection past it is a 503 UNAVAILABLE and the connection is closed.
    max_connections: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = "MODELYARD_" + f.name.upper()
            raw = env.get(name, "").strip()
            if not raw:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                log.warning("ignoring %s=%r: not a positive number", name, raw)
                continue
            values[f.name] = value
        return cls(**values)
