"""Lineage in MLflow: which code (the standard git tags), which data (train and test sets logged as
MLflow datasets with source, digest, rows and schema), which candidates (one child run each, the chosen
one named), and descriptions a person reads in the UI for the run, the registered model and each
version: what it predicts, the data window, and its metrics against the baselines."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.training.tracking import SOURCE_DIR
from funnelcast.training.train import TrainOutcome

MODEL_DESCRIPTIONS = {
    "lead": (
        "Lead grading: the calibrated probability that an open lead converts within the configured "
        "horizon (leads.yaml `horizon_days`), graded Hot / Warm / Cold by thresholds chosen on the "
        "validation period, with the top reasons up and down in plain words. Input: the API's lead "
        "item (lead, activities, account, account activities, as_of). Trained by `funnelcast train "
        "leads`; `champion` is what the API serves."
    ),
    "opportunity": (
        "Win probability: the calibrated probability that an open deal is won, overall and within "
        "30 / 60 / 90 days, beside the configured stage weight and the historical stage rate; deal "
        "health from it. Input: the API's deal item (opportunity, stage history, activities, close-"
        "date and amount changes, account). Trained by `funnelcast train opportunities`; `champion` is "
        "what the API serves."
    ),
}
WHAT = {"lead": "lead conversion", "opportunity": "deal win"}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=SOURCE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def git_tags(commit: str) -> dict[str, str]:
    """MLflow's own source tags (the UI links them), and whether the tree had uncommitted changes."""
    tags = {"funnelcast.git_dirty": str(commit.endswith("+dirty")).lower()}
    if commit and commit != "unknown":
        tags["mlflow.source.git.commit"] = commit.removesuffix("+dirty")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        tags["mlflow.source.git.branch"] = branch
    remote = _git("config", "--get", "remote.origin.url")
    if remote:
        tags["mlflow.source.git.repoURL"] = remote
    return tags


def _metrics_table(outcome: TrainOutcome) -> str:
    m = outcome.metrics
    primary = outcome.bundle.primary
    rows = m[m["target"] == primary]
    lines = ["| method | ROC AUC | PR AUC | log loss | ECE |", "|---|---:|---:|---:|---:|"]
    for rec in rows.itertuples(index=False):
        cells = [getattr(rec, c) for c in ("roc_auc", "pr_auc", "log_loss", "ece")]
        shown = [f"{v:.3f}" if np.isfinite(v) else "–" for v in cells]
        lines.append(f"| {rec.method} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def _window(outcome: TrainOutcome) -> str:
    meta = outcome.bundle.metadata
    cut = meta.get("cutoffs", {})
    rows = meta.get("rows", {})
    parts = [f"data until {meta.get('data_until', '?')[:10]}"]
    if cut:
        parts.append("split at " + ", ".join(f"{k} {str(v)[:10]}" for k, v in cut.items()))
    if rows:
        parts.append("rows " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    return "; ".join(parts)


def describe_run(outcome: TrainOutcome, config: AppConfig) -> str:
    """The run's description (Markdown, shown at the top of the run in the UI)."""
    b = outcome.bundle
    chosen = ", ".join(f"{t}: {r.chosen} ({r.calibration})" for t, r in outcome.reports.items())
    return (
        f"**{WHAT[b.kind].capitalize()} model**, feature set `{b.feature_set}`. {_window(outcome)}.\n\n"
        f"Chosen on the validation period: {chosen}. Every candidate is a child run.\n\n"
        f"Test period, primary target `{b.primary}`, against the baselines:\n\n{_metrics_table(outcome)}\n\n"
        f"{len(outcome.warnings)} warning(s): see tables/warnings.txt."
    )


def describe_version(outcome: TrainOutcome, config: AppConfig) -> str:
    """A registered version's description: what, the data window, metrics against baselines."""
    b = outcome.bundle
    return (
        f"{WHAT[b.kind].capitalize()} ({b.primary}), feature set {b.feature_set}; {_window(outcome)}.\n\n"
        f"{_metrics_table(outcome)}"
    )


def _source(files: dict[str, Path]) -> str:
    folders = {str(Path(p).resolve().parent) for p in files.values()}
    return folders.pop() if len(folders) == 1 else ", ".join(sorted(folders))


def log_datasets(outcome: TrainOutcome, files: dict[str, Path], fingerprint: dict[str, str]) -> None:
    """The train and test sets (features and labels per snapshot) as MLflow datasets: their source
    (the data directory), digest, row count and schema; the rows themselves are not stored."""
    import mlflow

    b = outcome.bundle
    source = _source(files)
    for context, frame in (("training", outcome.frame_of("train")), ("testing", outcome.test_frame)):
        with warnings.catch_warnings():  # MLflow registers its local source class twice and says so
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(
                _loggable(frame),
                source=source,
                name=f"{b.kind}-{'train' if context == 'training' else 'test'}-{fingerprint['data.sha256']}",
                targets=b.primary,
            )
        mlflow.log_input(dataset, context=context)
        del frame


def _loggable(frame: pd.DataFrame) -> pd.DataFrame:
    """MLflow's schema inference takes numbers, text and times: categories become text, times with a
    zone naive UTC."""
    out = frame.copy(deep=False)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object)
        elif isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert(None)
    return out


def log_candidates(outcome: TrainOutcome, config: AppConfig) -> None:
    """One child run per candidate and target, with its parameters and validation ROC AUC; the chosen
    candidate is tagged `chosen=true` and named in the parent's `chosen.<target>` parameter."""
    import mlflow

    params = {
        "lightgbm": {f"lightgbm.{k}": v for k, v in config.training.lightgbm.model_dump().items()},
        "logistic_regression": {"logistic_regression.C": config.training.logistic_regression.C},
    }
    for target, report in outcome.reports.items():
        for algo, auc in report.validation_auc.items():
            chosen = algo == report.chosen
            with mlflow.start_run(run_name=f"{target} · {algo}", nested=True):
                mlflow.log_params({"target": target, "algorithm": algo, **params.get(algo, {})})
                if np.isfinite(auc):
                    mlflow.log_metric("validation.roc_auc", float(auc))
                mlflow.set_tags(
                    {
                        "chosen": str(chosen).lower(),
                        "mlflow.note.content": (
                            f"Candidate `{algo}` for `{target}`: validation ROC AUC {auc:.4f}"
                            + (" (chosen)" if chosen else "")
                        ),
                    }
                )
