"""Bulk scoring on Spark (issue 18): Spark local[2] against the pandas bulk path on the 20,000-lead set,
identical probabilities (1e-9), grades and reasons; `mlflow.pyfunc.spark_udf` with default arguments
scores the same rows; the CLI's `--engine spark`; data problems named by record id."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (make test installs '.[spark]')")
if shutil.which("java") is None:
    pytest.skip("Java is not on the PATH (Spark needs Java 17)", allow_module_level=True)

from funnelcast.serving.bulk import score_data  # noqa: E402
from funnelcast.serving.spark import score_with_spark, session  # noqa: E402

AS_OF = pd.Timestamp("2025-09-01T00:00:00Z")
FUNNELCAST = str(Path(sys.executable).with_name("funnelcast"))


@pytest.fixture(scope="module")
def spark():
    s = session("local[2]", app="funnelcast-tests")
    yield s
    s.stop()


def _both(spark, d20, d20_data, model, kind, config, tmp_path):
    data = d20_data[0]
    pandas_table = score_data(data, model, kind, config, AS_OF).table
    out = tmp_path / f"{kind}.parquet"
    run = score_with_spark(spark, str(d20), str(out), kind, model, config, AS_OF)
    spark_table = pd.read_parquet(out)
    return pandas_table, spark_table, run


def test_spark_scores_every_open_lead_as_the_pandas_path_does(
    spark, d20, d20_data, lead_model, config, tmp_path
):
    pandas_table, spark_table, run = _both(spark, d20, d20_data, lead_model, "lead", config, tmp_path)
    assert len(pandas_table) > 1000 and run.rows == len(pandas_table) == len(spark_table)
    assert spark_table["probability"].is_monotonic_decreasing  # highest priority first
    both = pandas_table.merge(spark_table, on="lead_id", suffixes=("_pd", "_sp"), validate="one_to_one")
    assert len(both) == len(pandas_table)
    np.testing.assert_allclose(both["probability_sp"], both["probability_pd"], rtol=0, atol=1e-9)
    for col in ("grade", "rule_grade", "stale", "reasons_up", "reasons_down", "company", "owner"):
        left, right = both[f"{col}_pd"], both[f"{col}_sp"]
        same = (left == right) | (left.isna() & right.isna())
        assert same.all(), f"{col}: {both.loc[~same, [f'{col}_pd', f'{col}_sp']].head(3)}"
    assert both["reasons_up_sp"].str.len().gt(0).any()


def test_spark_scores_every_open_deal_as_the_pandas_path_does(
    spark, d20, d20_data, deal_model, config, tmp_path
):
    pandas_table, spark_table, run = _both(spark, d20, d20_data, deal_model, "opportunity", config, tmp_path)
    assert len(pandas_table) > 100 and run.rows == len(pandas_table)
    both = pandas_table.merge(
        spark_table, on="opportunity_id", suffixes=("_pd", "_sp"), validate="one_to_one"
    )
    for col in [c for c in pandas_table.columns if c.startswith("p_")] + ["health_score"]:
        np.testing.assert_allclose(both[f"{col}_sp"], both[f"{col}_pd"], rtol=0, atol=1e-9)
    for col in ("health", "stage", "reasons_up", "reasons_down"):
        assert (both[f"{col}_pd"].fillna("") == both[f"{col}_sp"].fillna("")).all(), col


def test_spark_udf_with_default_arguments_scores_the_same_leads(
    spark, store, d20, d20_data, lead_model, config
):
    """A data scientist's route: the registered pyfunc as a Spark UDF on API-shaped rows (the lead, its
    activities, account and account activities as structs), result type from the signature."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from funnelcast.serving.spark import api_items, read_tables

    tables = read_tables(spark, str(d20), "lead")
    items = api_items(tables, "lead", AS_OF).limit(1500)
    udf = mlflow.pyfunc.spark_udf(spark, "models:/funnelcast-lead-grading@champion")
    scored = items.withColumn("s", udf(*[F.col(c) for c in items.columns])).select("s.*").toPandas()
    assert (scored["problems"] == "").all(), scored["problems"].head()
    pandas_table = score_data(d20_data[0], lead_model, "lead", config, AS_OF).table
    both = scored.merge(pandas_table, on="lead_id", suffixes=("_udf", "_pd"))
    assert len(both) == len(scored) > 1000
    np.testing.assert_allclose(both["probability_udf"], both["probability_pd"], rtol=0, atol=1e-9)
    assert (both["grade_udf"] == both["grade_pd"]).all()
    assert (both["reasons_up_udf"].fillna("") == both["reasons_up_pd"].fillna("")).all()


def test_the_cli_names_bad_records_by_id_without_a_stack_trace(d20, d20_data, tmp_path, store):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"], "FUNNELCAST_MODEL_SOURCE": "registry"}
    args = ["score", "leads", "--engine", "spark", "--master", "local[2]", "--as-of", AS_OF.isoformat()]
    bad = tmp_path / "bad"
    shutil.copytree(d20, bad)
    acts = pd.read_csv(bad / "activities.csv", dtype=str, keep_default_na=False)
    leads = d20_data[0].leads
    open_ = leads[
        (leads["created_at"] <= AS_OF)
        & ~(leads["converted_at"] <= AS_OF)
        & ~(leads["disqualified_at"] <= AS_OF)
    ]
    row = acts.index[(acts["entity_type"] == "lead") & acts["entity_id"].isin(open_["lead_id"])][5]
    acts.loc[row, "occurred_at"] = "not a time"
    acts.to_csv(bad / "activities.csv", index=False)
    failed = subprocess.run(
        [FUNNELCAST, *args, "--data", str(bad), "--out", str(tmp_path / "bad.parquet")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert f"activity_id {acts.loc[row, 'activity_id']}" in failed.stderr
    assert "occurred_at" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "bad.parquet").exists()  # nothing written from data with problems
