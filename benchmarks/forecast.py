"""Benchmark the revenue distribution: 100,000 open deals x 10,000 seeded Monte Carlo draws
(independent wins, then with the model's period-level log-odds shock), and the whole `forecast`
call (every method, quantiles, a breakdown by 50 owners). Target: <= 2 s on 2 cores.

Usage: python benchmarks/forecast.py [--deals 100000] [--draws 10000] [--repeat 3]
"""

import argparse
import time

import _machine  # beside this script
import numpy as np
import pandas as pd

from funnelcast.analytics.forecast import forecast
from funnelcast.analytics.simulate import simulate_won


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.deals
    amounts = rng.lognormal(11.5, 1.0, n)
    p = rng.beta(1.2, 4.0, n)
    deals = pd.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(n)],
            "owner": rng.integers(0, 50, n).astype(str),
            "amount": amounts,
            "expected_close": pd.Timestamp("2026-03-01", tz="UTC"),
            "stage_weight": rng.choice([0.1, 0.25, 0.5, 0.75], n),
            "historical_rate": rng.uniform(0.2, 0.8, n),
            "p_period": p,
        }
    )
    as_of, end = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-03-31", tz="UTC")
    print(f"machine: {_machine.describe()}")
    print(f"command: {_machine.command()}")
    plain = best_of(args.repeat, lambda: simulate_won(amounts, p, draws=args.draws, seed=1))
    print(f"simulate_won, {n:,} deals x {args.draws:,} draws, independent wins: {plain:.2f} s")
    shocked = best_of(args.repeat, lambda: simulate_won(amounts, p, draws=args.draws, seed=1, logit_sd=0.3))
    print(f"simulate_won with a shared log-odds shock (sd 0.3): {shocked:.2f} s")
    full = best_of(
        args.repeat,
        lambda: forecast(
            deals, as_of, end, draws=args.draws, seed=1, target=1e9, group="owner", logit_sd=0.3
        ),
    )
    print(f"forecast() end to end (4 methods, P10/P50/P90, P(target), 50 owners): {full:.2f} s")
    print(
        f"peak memory {_machine.peak_rss_mib():,.0f} MiB; target <= 2 s: "
        f"{'met' if max(plain, shocked, full) <= 2 else 'missed'}"
    )


if __name__ == "__main__":
    main()
