"""Promotion: move `champion` to the challenger only if it is at least as good on the same test
period, and export the champion to `models/<name>/` so serving can run without an MLflow store."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd

from funnelcast.core import paths
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import EXIT_PROMOTION, FunnelcastError
from funnelcast.model.store import load_registered_bundle
from funnelcast.training.metrics import probability_metrics
from funnelcast.training.tracking import REGISTERED, alias_version, client, use_store

logger = logging.getLogger(__name__)


class PromotionError(FunnelcastError):
    exit_code, code = EXIT_PROMOTION, "promotion_refused"


@dataclass
class PromotionDecision:
    name: str
    challenger: str
    champion_before: str | None
    promoted: bool
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    export_dir: Path | None = None


def _test_frame(run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="evaluation/test.parquet", dst_path=tmp
        )
        return pd.read_parquet(local)


def _score(bundle, frame: pd.DataFrame) -> dict[str, float]:
    y = frame[bundle.primary].to_numpy().astype(int)
    p = bundle.predict(frame[bundle.columns])[bundle.primary].to_numpy()
    return probability_metrics(y, p)


def promote(
    kind: str,
    config: AppConfig,
    models_dir: Path | None = None,
    *,
    version: str | None = None,
    reason: str | None = None,
) -> PromotionDecision:
    """Compare challenger and champion on the challenger's test period; move the alias if it is as good.
    With `version`, put that registered version back as champion (a rollback) after the checks a
    promotion runs on its own (it loads, and scores its test period to finite metrics)."""
    name = REGISTERED[kind]
    use_store(config.training.experiment)
    if version is not None:
        return _reinstate(name, str(version), config, models_dir, reason)
    challenger = alias_version(name, "challenger")
    if challenger is None:
        raise PromotionError(f"{name} has no 'challenger' version; run `funnelcast train` first")
    champion = alias_version(name, "champion")
    chal_bundle, chal_run = load_registered_bundle(client(), name, challenger)
    frame = _test_frame(chal_run)
    chal = _score(chal_bundle, frame)
    champ = None
    if champion is None:
        promoted, why = True, "no champion yet"
    elif champion == challenger:
        promoted, why = True, "the challenger is already the champion"
    else:
        champ_bundle, _ = load_registered_bundle(client(), name, champion)
        if champ_bundle.feature_set != chal_bundle.feature_set:
            logger.warning(
                "champion uses %s, challenger %s", champ_bundle.feature_set, chal_bundle.feature_set
            )
        champ = _score(champ_bundle, frame)
        drop = champ["roc_auc"] - chal["roc_auc"]
        allowed = config.training.promotion.max_auc_drop
        if drop > allowed:
            promoted, why = (
                False,
                (
                    f"ROC AUC {chal['roc_auc']:.4f} is {drop:.4f} below the champion's "
                    f"{champ['roc_auc']:.4f} (allowed drop {allowed})"
                ),
            )
        elif chal["log_loss"] > champ["log_loss"] + 1e-12:
            promoted, why = (
                False,
                (f"log loss {chal['log_loss']:.4f} is worse than the champion's {champ['log_loss']:.4f}"),
            )
        else:
            promoted, why = (
                True,
                (
                    f"ROC AUC {chal['roc_auc']:.4f} vs {champ['roc_auc']:.4f}, log loss "
                    f"{chal['log_loss']:.4f} vs {champ['log_loss']:.4f} on the same test period"
                ),
            )
    decision = PromotionDecision(name, challenger, champion, promoted, why, chal, champ)
    if promoted:
        client().set_registered_model_alias(name, "champion", challenger)
        record_move(name, challenger, champion, "promotion", why if reason is None else f"{reason} ({why})")
        decision.export_dir = export_champion(
            name, challenger, chal_bundle, chal_run, chal, models_dir or paths.models_dir()
        )
    return decision


def _reinstate(
    name: str, version: str, config: AppConfig, models_dir: Path | None, reason: str | None
) -> PromotionDecision:
    from mlflow.exceptions import MlflowException

    champion = alias_version(name, "champion")
    try:
        bundle, run_id = load_registered_bundle(client(), name, version)
    except MlflowException as exc:
        raise PromotionError(f"{name} version {version} cannot be loaded: {exc.message}") from None
    metrics = _score(bundle, _test_frame(run_id))
    if not np.isfinite(metrics.get("roc_auc", np.nan)) or not np.isfinite(metrics.get("log_loss", np.nan)):
        raise PromotionError(f"{name} version {version} does not score its own test period to finite metrics")
    why = reason or "rollback"
    if champion == version:
        why = f"version {version} is already the champion"
    else:
        client().set_registered_model_alias(name, "champion", version)
        record_move(name, version, champion, "rollback", why)
    decision = PromotionDecision(name, version, champion, True, why, metrics, None)
    decision.export_dir = export_champion(
        name, version, bundle, run_id, metrics, models_dir or paths.models_dir()
    )
    return decision


HISTORY_TAG = "champion_history"  # on the registered model: every move of `champion`, newest last


def record_move(name: str, version: str, previous: str | None, move: str, reason: str) -> None:
    """When and why `champion` moved, as version tags and in the model's history tag."""
    c = client()
    at = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {"champion_since": at, "champion_reason": reason[:4000], "champion_move": move}
    if previous and previous != version:
        tags["previous_champion"] = previous
    for key, value in tags.items():
        c.set_model_version_tag(name, version, key, value)
    model = c.get_registered_model(name)
    history = json.loads(model.tags.get(HISTORY_TAG, "[]"))
    history.append({"version": version, "at": at, "move": move, "from": previous, "reason": reason[:300]})
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-30:], ensure_ascii=False))


def rollback(kind: str, config: AppConfig, reason: str | None = None, models_dir: Path | None = None):
    """Put back the champion before the current one (as recorded when the current one was made
    champion)."""
    name = REGISTERED[kind]
    use_store(config.training.experiment)
    champion = alias_version(name, "champion")
    if champion is None:
        raise PromotionError(f"{name} has no champion to roll back")
    before = client().get_model_version(name, champion).tags.get("previous_champion")
    if not before:
        raise PromotionError(
            f"{name} version {champion} has no recorded previous champion; "
            f"name one: funnelcast promote {'leads' if kind == 'lead' else 'opportunities'} --version N"
        )
    return promote(kind, config, models_dir, version=before, reason=reason or f"rollback from {champion}")


def export_champion(
    name: str, version: str, bundle, run_id: str, metrics: dict[str, float], models_dir: Path
) -> Path:
    """Write `models/<name>/` (bundle + model card) atomically: a reader sees the old or the new one."""
    target = models_dir / name
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
    joblib.dump(bundle, staging / "bundle.joblib")
    card = {
        "name": name,
        "version": str(version),
        "alias": "champion",
        "run_id": run_id,
        "feature_set": bundle.feature_set,
        "kind": bundle.kind,
        "primary_target": bundle.primary,
        "thresholds": bundle.thresholds,
        "metadata": bundle.metadata,
        "promotion_test_metrics": {k: float(v) for k, v in metrics.items() if np.isfinite(v)},
    }
    (staging / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    old = models_dir / f".{name}-old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
