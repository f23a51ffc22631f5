"""Benchmark point-in-time feature building on the generated 1M-lead data set.

Builds (1) one snapshot per lead at the export time and (2) all lead training snapshots of the
configured policy (creation, then ages sampled every `every_days` over the whole open life, see
configs/training.yaml `lead_snapshots`), and (3) opportunity training snapshots; prints rows/s and peak
memory.

Usage: python benchmarks/features.py [--leads 1000000] [--data bench-data/leads_1000000]
(generates the data set with benchmarks/generate.py's layout when the directory is missing)
"""

import argparse
import time
from pathlib import Path

import _machine  # beside this script
import pandas as pd

from funnelcast.core.config import load_config
from funnelcast.features.frames import build_lead_features, build_opportunity_features
from funnelcast.features.io import load_crm_data
from funnelcast.synthetic import generate, write_dataset
from funnelcast.training.snapshots import lead_snapshots, observed_until, opportunity_snapshots

command, describe, peak_rss_mib = _machine.command, _machine.describe, _machine.peak_rss_mib


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    cfg = load_config()
    data_dir = Path(args.data or f"bench-data/leads_{args.leads}")
    if not data_dir.exists():
        write_dataset(generate(args.leads, seed=7, config=cfg), data_dir, fmt="parquet")
    print(f"machine: {describe()}")
    print(f"command: {command()}")
    (data, _), load_s = timed("load", lambda: load_crm_data(data_dir, cfg.funnel))
    print(
        f"data: {len(data.leads):,} leads, {len(data.activities):,} activities, "
        f"{len(data.opportunities):,} opportunities; load + validate {load_s:.1f} s"
    )
    until = observed_until(data)
    print("| workload | rows | features | seconds | rows/s | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")

    snaps = pd.DataFrame({"lead_id": data.leads["lead_id"], "as_of": until})
    feats, secs = timed("leads@end", lambda: build_lead_features(data, snaps, cfg))
    print(
        f"| every lead as of the export time | {len(feats):,} | {feats.shape[1]} | {secs:.1f} | "
        f"{len(feats) / secs:,.0f} | {peak_rss_mib():,.0f} |",
        flush=True,
    )
    feats = None

    policy = cfg.training.lead_snapshots
    train, snap_s = timed(
        "snapshots",
        lambda: lead_snapshots(data.leads, cfg.leads.horizon_days, until, policy, seed=cfg.training.seed),
    )
    feats, secs = timed("leads train", lambda: build_lead_features(data, train[["lead_id", "as_of"]], cfg))
    print(
        f"| lead training snapshots (creation, then every {policy.every_days} d to "
        f"{policy.max_age_days} d, {policy.age_sample_rate:.0%} of ages) | {len(feats):,} | "
        f"{feats.shape[1]} | {secs:.1f} "
        f"(+{snap_s:.1f} snapshotting) | {len(feats) / secs:,.0f} | {peak_rss_mib():,.0f} |",
        flush=True,
    )
    feats = train = None  # free memory before the next workload

    open_stages = {p.key: {s.key for s in p.stages} for p in cfg.funnel.pipelines}
    osnaps, snap_s = timed(
        "opp snaps", lambda: opportunity_snapshots(data.opportunities, data.stage_history, open_stages, until)
    )
    feats, secs = timed(
        "opps", lambda: build_opportunity_features(data, osnaps[["opportunity_id", "as_of"]], cfg)
    )
    print(
        f"| opportunity training snapshots (stage entries, every 14 d) | {len(feats):,} | {feats.shape[1]} | "
        f"{secs:.1f} (+{snap_s:.1f} snapshotting) | {len(feats) / secs:,.0f} | {peak_rss_mib():,.0f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
