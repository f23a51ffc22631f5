"""Model quality on imported public data sets: import with a shipped mapping, train with the
mapping's evaluation settings, and report the model beside its baselines on the held-out rows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from funnelcast.core.config import AppConfig
from funnelcast.features.custom import feature_name
from funnelcast.features.io import CRMData
from funnelcast.ingest.mapping import Mapping
from funnelcast.training.train import TrainOutcome, train_model

SPLIT_NAMES = {
    "stratified": "stratified 20 % hold-out (seed {seed})",
    "order": "by {order} order (newest 20 %)",
    "time": "by time (newest 20 %)",
}


def evaluation_config(
    config: AppConfig, mapping: Mapping, split: str, leaky: bool = False, data: CRMData | None = None
) -> AppConfig:
    """The base configuration with the mapping's evaluation settings and one split method."""
    ev = mapping.evaluation
    training = {
        "split": config.training.split.model_copy(
            update={"method": "stratified" if split == "stratified" else "time"}
        )
    }
    if ev.lead_age_sample_rate is not None:
        training["lead_snapshots"] = config.training.lead_snapshots.model_copy(
            update={"age_sample_rate": ev.lead_age_sample_rate}
        )
    if leaky and data is not None:
        decl = data.custom_attributes
        names = [feature_name(e, n) for e, n in zip(decl["entity"], decl["name"], strict=True)]
        training.update(include_leaky_attributes=True, allow_leaky=[*config.training.allow_leaky, *names])
    leads = (
        config.leads.model_copy(update={"horizon_days": ev.horizon_days}) if ev.horizon_days else config.leads
    )
    return config.model_copy(update={"training": config.training.model_copy(update=training), "leads": leads})


@dataclass
class QualityRun:
    dataset: str
    split: str
    variant: str
    outcome: TrainOutcome


def evaluate(
    mapping: Mapping, data: CRMData, config: AppConfig, with_leaky: bool = False
) -> list[QualityRun]:
    runs = []
    for split in mapping.evaluation.splits:
        cfg = evaluation_config(config, mapping, split)
        runs.append(
            QualityRun(
                mapping.name, split, "without leaky columns", train_model(mapping.evaluation.model, data, cfg)
            )
        )
    has_leaky = (data.custom_attributes["leaky"] == "true").any()
    if with_leaky and has_leaky:
        split = mapping.evaluation.splits[0]
        cfg = evaluation_config(config, mapping, split, leaky=True, data=data)
        runs.append(
            QualityRun(
                mapping.name,
                split,
                "WITH leaky columns (not honest)",
                train_model(mapping.evaluation.model, data, cfg),
            )
        )
    return runs


def quality_table(runs: list[QualityRun], seed: int) -> pd.DataFrame:
    rows = []
    for run in runs:
        primary = run.outcome.bundle.primary
        metrics = run.outcome.metrics[run.outcome.metrics["target"] == primary]
        decision_n = metrics.loc[metrics["method"] == "model", "n"]
        if len(decision_n):  # rows of every age only where there are snapshots after creation
            every = metrics["method"].str.endswith(" every age")
            metrics = metrics[~every | (metrics["n"] != decision_n.iloc[0])]
        for _, m in metrics.iterrows():
            rows.append(
                {
                    "data set": run.dataset,
                    "split": SPLIT_NAMES[run.split].format(seed=seed, order="Lead Number"),
                    "variant": run.variant,
                    "target": primary,
                    "method": m["method"],
                    "roc_auc": m["roc_auc"],
                    "pr_auc": m["pr_auc"],
                    "brier": m["brier"],
                    "ece": m["ece"],
                    "top_decile_lift": m["top_decile_lift"],
                    "test rows": int(m["n"]),
                }
            )
    return pd.DataFrame(rows)


def age_table(runs: list[QualityRun]) -> pd.DataFrame:
    """The model where it is used, per run: per lead-age bucket (leads) or per stage (deals) on the
    held-out rows: rows, observed rate, mean prediction, ROC AUC and ECE."""
    rows = []
    for run in runs:
        table = run.outcome.by_age
        if table is None or not len(table):
            continue
        group = "lead_age" if "lead_age" in table else "stage"
        for _, r in table[table["method"] == "model"].iterrows():
            rows.append(
                {
                    "data set": run.dataset,
                    "split": SPLIT_NAMES[run.split].format(seed="", order="Lead Number").split(" (")[0],
                    "variant": run.variant,
                    "group": f"{'lead age' if group == 'lead_age' else 'stage'} {r[group]}",
                    "n": int(r["n"]),
                    "positive_rate": r["positive_rate"],
                    "mean_predicted": r["mean_predicted"],
                    "roc_auc": r["roc_auc"],
                    "ece": r["ece"],
                }
            )
    return pd.DataFrame(rows)


def grade_rates(run: QualityRun) -> str:
    """'Hot 71 % / Warm 35 % / Cold 8 %' on the held-out rows (leads)."""
    table = run.outcome.by_group
    if table is None or "grade" not in table:
        return ""
    model = table[table["method"] == "model"] if "method" in table else table
    return " / ".join(f"{r['grade']} {r['rate']:.0%} (n={int(r['n'])})" for _, r in model.iterrows())


def repeated_holdout(
    mapping: Mapping, data: CRMData, config: AppConfig, seeds: range = range(10)
) -> pd.DataFrame:
    """The stratified hold-out redrawn with each seed (model and logistic regression, without leaky
    columns): how much one fixed hold-out's ROC AUC owes to the draw. One row per seed."""
    rows = []
    for seed in seeds:
        cfg = evaluation_config(config, mapping, "stratified")
        cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"seed": seed})})
        outcome = train_model(mapping.evaluation.model, data, cfg)
        m = outcome.metrics[outcome.metrics["target"] == outcome.bundle.primary].set_index("method")
        rows.append(
            {
                "seed": seed,
                "model": m.loc["model", "roc_auc"],
                "logistic_regression": m.loc["logistic_regression", "roc_auc"],
                "ece": m.loc["model", "ece"],
            }
        )
    return pd.DataFrame(rows)


def repeated_summary(table: pd.DataFrame) -> str:
    """One line: mean, sd, range of the model's ROC AUC over the seeds, and how often it beats LR."""
    model, lr = table["model"], table["logistic_regression"]
    return (
        f"ROC AUC over {len(table)} redrawn stratified 20 % hold-outs (seeds {table['seed'].min()}-"
        f"{table['seed'].max()}): model mean {model.mean():.3f} (sd {model.std(ddof=1):.3f}, "
        f"{model.min():.3f}-{model.max():.3f}), logistic regression {lr.mean():.3f}; the model is ahead on "
        f"{int((model > lr).sum())} of {len(table)}; ECE mean {table['ece'].mean():.3f}"
    )
