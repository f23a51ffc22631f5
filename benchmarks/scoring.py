"""Benchmark bulk scoring (`funnelcast score leads`): leads/s end to end (features, predict,
reasons) on the generated 1M-lead data set, with a lead model trained on 20,000 generated leads.

Usage: python benchmarks/scoring.py [--data bench-data/leads_1000000]
"""

import argparse
import time
from pathlib import Path

import _machine  # beside this script
import pandas as pd

from funnelcast.core.config import load_config
from funnelcast.features.io import CRMData, load_crm_data
from funnelcast.serving.bulk import open_snapshots, score_data
from funnelcast.serving.models import LoadedModel
from funnelcast.synthetic import generate, write_dataset
from funnelcast.training.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="bench-data/leads_1000000")
    args = parser.parse_args()
    cfg = load_config()
    data_dir = Path(args.data)
    if not data_dir.exists():
        write_dataset(generate(1_000_000, seed=7, config=cfg), data_dir, fmt="parquet")
    small = generate(20_000, seed=11, config=cfg)
    frames = {k: v for k, v in small.frames.items()}
    tmp = Path("bench-data/train_20k")
    write_dataset(small, tmp, fmt="parquet")
    train_data, _ = load_crm_data(tmp, cfg.funnel)
    outcome = train_model("lead", train_data, cfg)
    model = LoadedModel(
        "lead", "funnelcast-lead-grading", "bench", None, "benchmark", outcome.bundle, None, ""
    )
    del frames
    data, _ = load_crm_data(data_dir, cfg.funnel)
    as_of = pd.Timestamp("2025-12-31T00:00:00Z")
    n_open = len(open_snapshots(data, "lead", as_of))
    t0 = time.perf_counter()
    table = score_data(data, model, "lead", cfg, as_of).table
    secs = time.perf_counter() - t0
    print(f"machine: {_machine.describe()}")
    print(f"command: {_machine.command()}")
    print(
        f"data: {len(data.leads):,} leads, {len(data.activities):,} activities; "
        f"open at {as_of.date()}: {n_open:,}"
    )
    print("| leads scored | seconds | leads/s | peak RSS MiB |")
    print("| ---: | ---: | ---: | ---: |")
    print(f"| {len(table):,} | {secs:.1f} | {len(table) / secs:,.0f} | {_machine.peak_rss_mib():,.0f} |")
    assert isinstance(data, CRMData)


if __name__ == "__main__":
    main()
