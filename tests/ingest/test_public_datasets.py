"""Each shipped mapping imports its public data set and the output validates; the models on them
meet (or honestly miss) the issue's bars. Skipped when ../shared/datasets is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATASETS, ROOT

from funnelcast.features.io import load_crm_data
from funnelcast.ingest.mapping import load_mapping
from funnelcast.ingest.run import run_import
from funnelcast.training.quality import evaluate

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not DATASETS.is_dir(), reason=f"{DATASETS} is absent")]
MAPPINGS = ROOT / "configs" / "mappings"
FOLDERS = {
    "x_education": "x_education",
    "olist_funnel": "olist_funnel",
    "maven_crm": "maven_crm",
    "sfdc_demo": "sfdc_demo_fixture",
}


def _import(name: str, out: Path, config):
    mapping = load_mapping(MAPPINGS / f"{name}.yaml")
    folder = DATASETS / FOLDERS[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    data, report = run_import(
        mapping, [folder / s.file for s in mapping.sources.values()], out, config.funnel
    )
    return mapping, data, report


@pytest.fixture(scope="module")
def imported(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("public")
    return {name: (*_import(name, root / name, config), root / name) for name in FOLDERS}


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_each_mapping_imports_its_data_set_and_the_output_validates(imported, config, name):
    mapping, data, report, out = imported[name]
    reloaded, load_report = load_crm_data(out, config.funnel)  # raises on any problem
    assert not load_report.problems
    assert sum(report.written.values()) > 0
    # every source row that did not make it is reported with a reason
    assert sum(report.skipped.values()) <= len(report.problems)


def test_salesforce_export_imports_with_its_stage_history(imported):
    _, data, report, _ = imported["sfdc_demo"]
    assert len(data.opportunities) >= 35 and len(data.stage_history) >= 45
    won = data.opportunities.loc[data.opportunities["outcome"] == "won", "opportunity_id"]
    stages = data.stage_history[data.stage_history["opportunity_id"].isin(won)]
    assert (stages["stage"] == "成单完成").groupby(stages["opportunity_id"]).any().all()
    assert set(data.stage_history["stage"]) <= {
        "待沟通",
        "发现机会",
        "明确需求",
        "购买决策",
        "成单完成",
        "输单",
    }


@pytest.fixture(scope="module")
def runs(imported, config):
    """The models each mapping's evaluation section asks for, trained once per module."""
    out = {}
    for name in ("x_education", "olist_funnel", "maven_crm"):
        mapping, data, _, _ = imported[name]
        out[name] = evaluate(mapping, data, config)
    return out


@pytest.mark.parametrize("name", ["x_education", "olist_funnel"])
def test_each_lead_model_grades_hot_warm_and_cold(runs, name):
    """Acceptance (issue 14): three non-empty grades on the held-out rows, boundaries in order, the
    expected conversion per grade logged; or a stated reason in the notes."""
    for run in runs[name]:
        grades = run.outcome.bundle.metadata["grades"]
        table = run.outcome.by_group
        model = table[table["method"] == "model"].set_index("grade")
        if set(model.index) != {"Hot", "Warm", "Cold"} or (model["n"] == 0).any():
            assert grades["notes"], (name, run.split, model)
            continue
        assert grades["hot"] > grades["warm"]
        assert set(grades["expected"]) == {"Hot", "Warm", "Cold"}
        assert grades["expected"]["Hot"] > grades["expected"]["Warm"] > grades["expected"]["Cold"]


def test_olist_time_split_model_and_no_closed_deal_column_as_feature(runs):
    (run,) = runs["olist_funnel"]
    m = run.outcome.metrics.set_index("method")
    assert m.loc["model", "roc_auc"] >= 0.68
    assert m.loc["model", "roc_auc"] >= m.loc["logistic_regression", "roc_auc"] - 0.005
    closed_columns = {
        c.strip().lower()
        for c in (DATASETS / "olist_funnel" / "olist_closed_deals_dataset.csv")
        .read_text()
        .splitlines()[0]
        .split(",")
    }
    used = {c.removeprefix("custom:").lower() for c in run.outcome.bundle.columns}
    assert not used & (closed_columns - {"mql_id"}), used & closed_columns


def test_maven_win_model_claims_no_signal_the_data_lacks(runs):
    (run,) = runs["maven_crm"]
    metrics = run.outcome.metrics
    primary = metrics[metrics["target"] == run.outcome.bundle.primary].set_index("method")
    auc = primary.loc["model", "roc_auc"]
    assert auc <= 0.6, f"ROC AUC {auc:.3f} on Maven means something leaks"


@pytest.fixture(scope="module")
def x_education_runs(runs):
    return {run.split: run.outcome.metrics.set_index("method") for run in runs["x_education"]}


def test_x_education_model_is_calibrated_and_beats_logistic_regression_on_both_splits(x_education_runs):
    assert set(x_education_runs) == {"stratified", "order"}
    for metrics in x_education_runs.values():
        assert metrics.loc["model", "roc_auc"] > metrics.loc["logistic_regression", "roc_auc"]
    assert x_education_runs["stratified"].loc["model", "ece"] <= 0.03


@pytest.mark.xfail(
    strict=True,
    reason="issue 7: the seed-42 stratified hold-out gives ROC AUC 0.894 without leaky "
    "columns (0.900 mean over 10 redrawn hold-outs; docs/benchmarks.md)",
)
def test_x_education_reaches_roc_auc_090_without_leaky_columns(x_education_runs):
    assert x_education_runs["stratified"].loc["model", "roc_auc"] >= 0.90
