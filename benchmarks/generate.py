"""Benchmark the synthetic generator: time and peak memory for N leads (default 100k and 1M).

Usage: python benchmarks/generate.py [--leads 100000 1000000] [--format parquet] [--out bench-data]
"""

import argparse
import time
from pathlib import Path

import _machine  # beside this script

from funnelcast.core.config import load_config
from funnelcast.synthetic import generate, write_dataset

command, describe, peak_rss_mib = _machine.command, _machine.describe, _machine.peak_rss_mib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", default="parquet", choices=["csv", "parquet"])
    parser.add_argument("--out", default="bench-data")
    args = parser.parse_args()
    cfg = load_config()
    print(f"machine: {describe()}")
    print(f"command: {command()}")
    print("| leads | activities | opportunities | generate s | write s | total s | peak RSS MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.leads:
        t0 = time.perf_counter()
        crm = generate(n, seed=7, config=cfg)
        t1 = time.perf_counter()
        write_dataset(crm, Path(args.out) / f"leads_{n}", fmt=args.format)
        t2 = time.perf_counter()
        print(
            f"| {n:,} | {len(crm.frames['activities']):,} | {len(crm.frames['opportunities']):,} | "
            f"{t1 - t0:.1f} | {t2 - t1:.1f} | {t2 - t0:.1f} | {peak_rss_mib():,.0f} |",
            flush=True,
        )
        del crm


if __name__ == "__main__":
    main()
