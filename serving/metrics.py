"""Prometheus metrics, one registry per app (so tests and several apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
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

    def set_models(self, models) -> None:
        self.model_info.clear()
        for m in models:
            if m is not None:
                self.model_info.labels(m.kind, m.name, str(m.version), m.bundle.feature_set).set(1)
