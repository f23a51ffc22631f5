"""Bulk scoring on Spark (issue 18): `funnelcast score leads --engine spark` on the 1M-lead set in Spark
local[2], end to end (Spark start, reading, sharding, features, model, reasons, sorted Parquet), against
`mlflow.pyfunc.spark_udf` of the same registered model (default arguments) on the same open leads, and
the pandas bulk path for reference. Bars: >= 10,000 leads/s and >= 5x spark_udf.

Usage: python benchmarks/spark.py [--data bench-data/leads_1000000] [--train bench-data/train_20k]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # beside this script
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip().splitlines()[-1], flush=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT / "bench-data" / "leads_1000000"))
    parser.add_argument("--train", default=str(ROOT / "bench-data" / "train_20k"))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--skip-udf", action="store_true")
    args = parser.parse_args()

    from funnelcast.core.config import load_config
    from funnelcast.features.io import load_crm_data
    from funnelcast.training.promote import promote
    from funnelcast.training.register import register
    from funnelcast.training.train import train_model

    work = Path(tempfile.mkdtemp(prefix="fc-bench-spark-"))
    env = {
        **os.environ,
        "FUNNELCAST_HOME": str(work),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "FUNNELCAST_MODEL_SOURCE": "registry",
    }
    os.environ.update(env)
    cfg = load_config()
    train, report = load_crm_data(args.train, cfg.funnel)
    register(train_model("lead", train, cfg), train, report.files, cfg)
    promote("lead", cfg, models_dir=work / "models")
    print(f"machine: {_machine.describe()}\ncommand: {_machine.command()}", flush=True)

    out = work / "spark.parquet"
    cli = [str(BIN / "funnelcast"), "score", "leads", "--data", args.data]
    spark_s = timed([*cli, "--out", str(out), "--engine", "spark", "--master", args.master], env)
    scored = pd.read_parquet(out, columns=["lead_id", "probability"])
    n = len(scored)
    pandas_s = timed([*cli, "--out", str(work / "pandas.parquet")], env)
    rows = [
        "| path (1M-lead set, open leads at the data's last event) | leads | seconds | leads/s |",
        "|---|---:|---:|---:|",
        f"| `score --engine spark` ({args.master}, end to end) | {n:,} | {spark_s:.1f} "
        f"| {n / spark_s:,.0f} |",
        f"| `score` (pandas, one process, end to end) | {n:,} | {pandas_s:.1f} | {n / pandas_s:,.0f} |",
    ]
    if not args.skip_udf:
        udf_n, udf_s = spark_udf(args.data, args.master, scored)
        rows.append(
            f"| `mlflow.pyfunc.spark_udf` (default arguments, API-shaped rows built in Spark) | {udf_n:,} | "
            f"{udf_s:.1f} | {udf_n / udf_s:,.0f} |"
        )
        rows.append(f"\nspark path vs spark_udf: {(n / spark_s) / (udf_n / udf_s):.1f}x leads/s")
    print("\n".join(rows))


def spark_udf(data: str, master: str, scored: pd.DataFrame) -> tuple[int, float]:
    """The registered pyfunc as a Spark UDF over the same open leads; returns (rows, seconds)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from funnelcast.serving.spark import _as_of, api_items, read_tables, session

    spark = session(master, app="funnelcast-bench-udf")
    try:
        start = time.perf_counter()
        tables = read_tables(spark, data, "lead")
        items = api_items(tables, "lead", _as_of(tables))
        udf = mlflow.pyfunc.spark_udf(spark, "models:/funnelcast-lead-grading@champion")
        result = items.withColumn("s", udf(*[F.col(c) for c in items.columns])).select(
            "s.lead_id", "s.probability"
        )
        path = Path(tempfile.mkdtemp(prefix="fc-bench-udf-")) / "udf.parquet"
        result.write.mode("overwrite").parquet(str(path))
        seconds = time.perf_counter() - start
        got = pd.read_parquet(path)
    finally:
        spark.stop()
    both = got.merge(scored, on="lead_id", suffixes=("_udf", "_spark"))
    diff = (both["probability_udf"] - both["probability_spark"]).abs().max()
    print(f"spark_udf rows {len(got):,}; largest |probability difference| against the Spark path: {diff:.2e}")
    return len(got), seconds


if __name__ == "__main__":
    main()
