"""Prometheus metrics, one registry per app (so tests and several apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "funnelcast_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "funnelcast_request_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=SECONDS_BUCKETS,
        )
        self.records = Counter(
            "funnelcast_records_scored_total", "Records scored", ["kind"], registry=self.registry
        )
        self.model_info = Gauge(
            "funnelcast_model_info",
            "Loaded model version (value 1)",
            ["kind", "name", "version", "feature_set"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "funnelcast_reloads_total", "Model reloads by result", ["kind", "result"], registry=self.registry
        )

        self.book_records = Counter(
            "funnelcast_book_records_total",
            "Records the book received, by batch kind and what became of them",
            ["entity", "result"],
            registry=self.registry,
        )
        self.book_rescored = Counter(
            "funnelcast_book_rescored_total",
            "Leads and deals of the book scored anew, by trigger",
            ["kind", "trigger"],
            registry=self.registry,
        )
        self.book_queued = Gauge(
            "funnelcast_book_queued", "Leads and deals waiting for a new score", registry=self.registry
        )
        self.book_lag = Gauge(
            "funnelcast_book_lag_seconds",
            "How long the oldest queued lead or deal has waited for its new score",
            registry=self.registry,
        )
        self.book_writes = Histogram(
            "funnelcast_book_write_seconds",
            "The book's write transactions: how long each waited for the one writer's turn, then held it",
            ["phase"],
            registry=self.registry,
            buckets=SECONDS_BUCKETS,
        )

        self.deliveries = Counter(
            "funnelcast_webhook_deliveries_total",
            "Webhook delivery attempts by alert kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )

    def watch_book(self, book) -> None:
        """Queue size and lag are read from the book when metrics are scraped; its writes report how
        long they waited for the writer's turn and held it (a held time near the wall time: the book's
        one writer is the limit)."""

        def lag() -> tuple[int, float]:
            try:
                return book.queue_lag()
            except Exception:  # the store is down: /readyz says so; the metric shows -1
                return -1, -1.0

        self.book_queued.set_function(lambda: lag()[0])
        self.book_lag.set_function(lambda: lag()[1])
        book.observe_write = lambda phase, seconds: self.book_writes.labels(phase).observe(seconds)

    def set_models(self, models) -> None:
        self.model_info.clear()
        for m in models:
            if m is not None:
                self.model_info.labels(m.kind, m.name, str(m.version), m.bundle.feature_set).set(1)
