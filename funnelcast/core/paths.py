"""Where Funnelcast keeps its state: one home directory holding the MLflow store (`mlflow.db`,
`mlartifacts/`), the exported champions (`models/`) and the book (`book.db`).

The home is `$FUNNELCAST_HOME`, else the current directory; `funnelcast demo --out X` uses X.
`MLFLOW_TRACKING_URI`, `FUNNELCAST_MODELS_DIR` and `FUNNELCAST_DATABASE_URL` override one part each.
Nothing is created here: callers create what they write.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "FUNNELCAST_HOME"


def home() -> Path:
    return Path(os.environ.get(HOME_ENV) or Path.cwd()).resolve()


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else a sqlite store in the home directory (the embedded default)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home() / 'mlflow.db'}"


def models_dir() -> Path:
    """Where promoted champions are exported for serving without an MLflow store."""
    return Path(os.environ.get("FUNNELCAST_MODELS_DIR") or home() / "models")


def database_url() -> str:
    """The book: `FUNNELCAST_DATABASE_URL` (e.g. postgresql+psycopg://...), else SQLite in the home."""
    return os.environ.get("FUNNELCAST_DATABASE_URL") or f"sqlite:///{home() / 'book.db'}"
