"""Prometheus metrics of one app (see :mod:`modelyard.api.observability` for what is measured): the
registry, the per-request counter and histogram, the gauges read at scrape time, and ``GET /metrics``.

With ``Settings.metrics_dir`` (``modelyard serve --workers N``) the request metrics live in
prometheus_client's multiprocess files and a scrape sums them over every worker of the server run; the
scrape-time gauges (pool, models, build) come from the worker that answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.responses import Response

from modelyard import __version__
from modelyard.settings import Settings
from modelyard.store.errors import Unavailable
from modelyard.store.repository import Store

log = logging.getLogger("modelyard")

#: Request-duration histogram buckets, in seconds.
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: How long a ``count_all()`` result serves scrapes.
MODELS_CACHE_SECONDS = 5.0

router = APIRouter()


class _ScrapeCollector(Collector):
    """Gauges computed when Prometheus scrapes: pool state, models per account, build info."""

    def __init__(self, store: Store, accounts: str) -> None:
        self._store = store
        self._accounts = accounts  # Settings.metrics_accounts
        self._lock = threading.Lock()
        self._models: dict[str, int] | None = None
        self._models_at = 0.0

    def describe(self) -> Iterable[Metric]:
        # Lets the registry know the names without calling collect() (which queries the database).
        families = [self._pool_family(), self._build_family()]
        if self._accounts != "off":
            families.append(self._models_family())
        return families

    @staticmethod
    def _pool_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "modelyard_db_pool_connections",
            "Database connections of this process's pool: checked_out (in use), size (pool size), "
            "overflow (open beyond the pool size).",
            labels=["state"],
        )

    @staticmethod
    def _models_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "modelyard_models",
            f"Models per account (refreshed at most every {MODELS_CACHE_SECONDS:g} s; "
            "MODELYARD_METRICS_ACCOUNTS=public: public models only).",
            labels=["account"],
        )

    @staticmethod
    def _build_family() -> GaugeMetricFamily:
        return GaugeMetricFamily("modelyard_build_info", "The running modelyard version.", labels=["version"])

    def collect(self) -> Iterator[Metric]:
        pool = self._pool_family()
        for state, value in self._store.pool_state():
            pool.add_metric([state], value)
        yield pool
        counts = self._model_counts() if self._accounts != "off" else None
        if counts is not None:
            models = self._models_family()
            for account, count in sorted(counts.items()):
                models.add_metric([account], count)
            yield models
        build = self._build_family()
        build.add_metric([__version__], 1)
        yield build

    def _model_counts(self) -> dict[str, int] | None:
        with self._lock:  # concurrent scrapes share one query
            now = time.monotonic()
            if self._models is not None and now - self._models_at < MODELS_CACHE_SECONDS:
                return self._models
            try:
                self._models = self._store.count_all(public_only=self._accounts == "public")
                self._models_at = now
            except Unavailable as e:  # keep serving the other metrics
                log.warning("metrics: counting models failed: %s", e)
            return self._models  # stale (or None) after a failure


class Metrics:
    """The app's registry and its per-request metrics."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        #: What ``/metrics`` exposes (the multiprocess collector names nothing in advance: ``?name[]=``
        #: scrapes must still ask it).
        self.registry = CollectorRegistry(support_collectors_without_names=True)
        # Where the request metrics are registered: the scraped registry, or (multiprocess mode) one of
        # their own, since the multiprocess collector already reads their values from the files.
        own = self.registry
        if settings.metrics_dir:
            if values.ValueClass is values.MutexValue:
                raise RuntimeError(
                    "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
                    "workers would count alone"
                )
            own = CollectorRegistry()
            MultiProcessCollector(self.registry, path=settings.metrics_dir)  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "modelyard_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=own,
        )
        self.duration = Histogram(
            "modelyard_http_request_duration_seconds",
            "HTTP request duration (until the application finished the response), by route template.",
            ["route", "method"],
            buckets=DURATION_BUCKETS,
            registry=own,
        )
        self.registry.register(_ScrapeCollector(store, settings.metrics_accounts))
        if not settings.metrics_dir:  # process_* of one worker would pass for the server's
            ProcessCollector(registry=self.registry)
        # labels() takes a lock and builds a tuple key; the event loop thread caches children instead.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        hkey = (route, method)
        hist = self._histograms.get(hkey)
        if hist is None:
            hist = self._histograms[hkey] = self.duration.labels(route, method)
        hist.observe(seconds)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry = request.app.state.observability.metrics.registry
    names = request.query_params.getlist("name[]")
    if names:
        registry = registry.restricted_registry(names)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
