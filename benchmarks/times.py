"""Benchmark time conversion for a 1,000-lead x 50-activity request: the project's one time module
(`funnelcast.core.times.parse_instants`: the ISO pattern checked by pyarrow, pandas' ISO 8601 parser)
against pandas alone and the standard library one text at a time.

Usage: python benchmarks/times.py
"""

import random
import time
from datetime import datetime

import _machine  # beside this script
import numpy as np
import pandas as pd

from funnelcast.core.times import datetime_seconds, parse_instants


def median_ms(fn, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    rng = random.Random(0)
    base = pd.Timestamp("2024-01-01", tz="UTC")
    utc = [
        (base + pd.Timedelta(seconds=rng.randrange(0, 400 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(50_000)
    ]
    mixed = [t[:-1] + "+08:00" if i % 2 else t for i, t in enumerate(utc)]
    print(f"machine: {_machine.describe()}")
    print(f"command: {_machine.command()}")
    print("| texts (50,000) | parse_instants ms | pandas to_datetime ms | stdlib one by one ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, texts in (("one export format (UTC, Z)", utc), ("mixed offsets", mixed)):
        ours = median_ms(lambda texts=texts: parse_instants(texts))
        pandas = median_ms(
            lambda texts=texts: pd.to_datetime(pd.Series(texts, dtype=object), format="ISO8601", utc=True)
        )
        stdlib = median_ms(
            lambda texts=texts: [datetime_seconds(datetime.fromisoformat(t)) for t in texts], 5
        )
        print(f"| {name} | {ours:.1f} | {pandas:.1f} | {stdlib:.1f} |")
    one = utc[:1]
    print(f"\none text: parse_instants {1000 * median_ms(lambda: parse_instants(one), 500):.0f} µs")


if __name__ == "__main__":
    main()
