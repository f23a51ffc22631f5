"""What follows a model reload, wherever it came from (start, polling, the admin route)."""

from __future__ import annotations

from fastapi import FastAPI

from funnelcast.serving.models import KINDS


def swapped(app: FastAPI, results: list[dict]) -> None:
    """After a reload: count it, show the served versions, and have the book re-scored by any model
    that was swapped in (in the background)."""
    metrics, registry = app.state.metrics, app.state.registry
    for r in results:
        metrics.reloads.labels(r["kind"], r["result"]).inc()
        if r["result"] == "swapped":
            app.state.book_model_due[r["kind"]] = True
    metrics.set_models([registry.get(k) for k in KINDS])
