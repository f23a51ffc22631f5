"""Serving fixtures: the session's models registered in a real MLflow sqlite store, and one real
uvicorn server on 127.0.0.1 serving them, shared by the API tests of a module."""

from __future__ import annotations

import os

import pytest
from book_stream import load_book
from servers import ADMIN_KEY, SCORING_KEY, start_server, stop, wait_ready

from funnelcast.training.promote import promote
from funnelcast.training.register import register

AS_OF = "2025-09-01T12:00:00Z"


@pytest.fixture(scope="module")
def store(tmp_path_factory, lead_outcome, opportunity_outcome, d20_data, config):
    root = tmp_path_factory.mktemp("serving-store")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    data, report = d20_data
    for outcome in (lead_outcome, opportunity_outcome):
        register(outcome, data, report.files, config)
        assert promote(outcome.kind, config, models_dir=root / "models").promoted
    yield {"root": root, "uri": os.environ["MLFLOW_TRACKING_URI"]}
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    env = {
        "MLFLOW_TRACKING_URI": store["uri"],
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_API_KEYS": SCORING_KEY,
        "FUNNELCAST_ADMIN_KEYS": ADMIN_KEY,
        "FUNNELCAST_MAX_RECORDS": "50",
        "FUNNELCAST_MAX_BODY_BYTES": "2000000",
    }
    proc, url, log = start_server(env, tmp_path_factory.mktemp("server"))
    wait_ready(url)
    yield {"url": url, "log": log}
    stop(proc)


@pytest.fixture(scope="session")
def lead_model(lead_outcome):
    """The session's lead model as the service holds it."""
    from funnelcast.serving.models import LoadedModel

    return LoadedModel("lead", "funnelcast-lead-grading", "test", None, "test", lead_outcome.bundle, None, "")


@pytest.fixture(scope="session")
def deal_model(opportunity_outcome):
    """The session's win model as the service holds it."""
    from funnelcast.features.history import Rates
    from funnelcast.serving.models import LoadedModel

    bundle = opportunity_outcome.bundle
    return LoadedModel(
        "opportunity",
        "funnelcast-win-probability",
        "test",
        None,
        "test",
        bundle,
        Rates.from_dict(bundle.rates),
        "",
    )


@pytest.fixture
def loaded_book(book_url, store, d20_data, config):
    """The book on this backend, holding the generated data as known at D, scored as of D."""
    return load_book(book_url, d20_data, config)
