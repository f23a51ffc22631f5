"""Shared fixtures: the shipped configuration and one generated data set per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from funnelcast.core.config import AppConfig, load_config
from funnelcast.synthetic import SyntheticCRM, generate, write_dataset

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as synthetic_stats
# CI replays a fixed set of examples (a landing must not depend on luck); local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def config() -> AppConfig:
    return load_config(ROOT / "configs")


@pytest.fixture(scope="session")
def synthetic(config) -> SyntheticCRM:
    return generate(5000, seed=7, config=config)


@pytest.fixture(scope="session")
def data_dir(synthetic, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crm") / "data"
    write_dataset(synthetic, out)
    return out


@pytest.fixture(scope="session")
def d20(config, tmp_path_factory) -> Path:
    """20,000 generated leads: enough labelled examples for the quality bars of the models."""
    out = tmp_path_factory.mktemp("d20") / "data"
    write_dataset(generate(20_000, seed=7, config=config), out)
    return out


@pytest.fixture(scope="session")
def d20_data(d20, config):
    from funnelcast.features.io import load_crm_data

    data, report = load_crm_data(d20, config.funnel)
    return data, report


@pytest.fixture(scope="session")
def lead_outcome(d20_data, config):
    from funnelcast.training.train import train_model

    return train_model("lead", d20_data[0], config)


@pytest.fixture(scope="session")
def opportunity_outcome(d20_data, config):
    from funnelcast.training.train import train_model

    return train_model("opportunity", d20_data[0], config)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session (skipped, with the reason, where it cannot start)."""
    from servers import Postgres, postgres_missing

    why = postgres_missing()
    if why:
        pytest.skip(why)
    server = Postgres()
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def book_url(request, tmp_path):
    """An empty book on each backend: a SQLite file, and a fresh database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'book.db'}"
    base = request.getfixturevalue("postgres_url")
    import uuid

    import sqlalchemy

    name = "book_" + uuid.uuid4().hex[:12]
    engine = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + name
