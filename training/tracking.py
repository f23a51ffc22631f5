"""MLflow plumbing: where the store is, lineage tags, and the registry aliases."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from funnelcast.core.paths import tracking_uri

SOURCE_DIR = Path(__file__).resolve().parent.parent  # the checkout, when installed from one
REGISTERED = {"lead": "funnelcast-lead-grading", "opportunity": "funnelcast-win-probability"}
logger = logging.getLogger(__name__)


def owner_tags() -> dict[str, str]:
    """Which process on which host runs a run: lets the next start close it if the process died."""
    return {"funnelcast.host": socket.gethostname(), "funnelcast.pid": str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def close_abandoned_runs(experiment_id: str) -> list[str]:
    """Mark KILLED the runs left RUNNING by a Funnelcast process of this host that no longer exists
    (a training or backtest killed with SIGKILL cannot end its own run). Runs of other hosts, or of
    live processes, are left alone. Returns the closed run ids."""
    c = client()
    closed = []
    host = socket.gethostname()
    running = c.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000)
    for run in running:
        tags = run.data.tags
        pid = tags.get("funnelcast.pid", "")
        if tags.get("funnelcast.host") != host or not pid.isdigit() or _alive(int(pid)):
            continue
        c.set_terminated(run.info.run_id, status="KILLED")
        closed.append(run.info.run_id)
        logger.warning(
            "closed run %s: its process %s ended without finishing it (killed)", run.info.run_id, pid
        )
    return closed


def use_store(experiment: str) -> str:
    """Point MLflow at the store and experiment; artefacts of a new local experiment go to
    `mlartifacts/` beside the database, never to the working directory. Returns the experiment id."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        mlflow.set_experiment(experiment)
        close_abandoned_runs(found.experiment_id)
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return experiment_id


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_fingerprint(files: dict[str, Path]) -> dict[str, str]:
    """SHA-256 of each input file and of them all together."""
    total = hashlib.sha256()
    out = {}
    for name in sorted(files):
        digest = hashlib.sha256(Path(files[name]).read_bytes()).hexdigest()
        out[f"data.sha256.{name}"] = digest[:16]
        total.update(f"{name}:{digest}".encode())
    out["data.sha256"] = total.hexdigest()[:16]
    return out


def client() -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri())


def alias_version(name: str, alias: str) -> str | None:
    """The version an alias points to, or None when the model or alias does not exist."""
    try:
        return str(client().get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None
