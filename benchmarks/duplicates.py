"""Duplicate-lead checks at scale (issue 16): the 1M-lead generated set (with its planted duplicates)
in a SQLite book, then 1,000 new leads of existing customers, each written and checked against the
book on its own, as an ingestion does: the time of the check (keys computed and stored, the records
sharing a key looked up by index, the pairs written) per lead, p50 and p99.

Usage: python benchmarks/duplicates.py [--leads 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _machine  # beside this script
import numpy as np
import pandas as pd

from funnelcast.book.db import engine_for, migrate
from funnelcast.book.load import bulk_insert
from funnelcast.book.matching import refresh
from funnelcast.book.writes import upsert
from funnelcast.core.config import load_config
from funnelcast.features.io import CRMData
from funnelcast.synthetic import generate
from funnelcast.synthetic.contacts import written_differently


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--checks", type=int, default=1000)
    args = parser.parse_args()
    cfg = load_config()
    print(f"machine: {_machine.describe()}\ncommand: {_machine.command()}")
    started = time.perf_counter()
    crm = generate(args.leads, seed=7, config=cfg)
    frames = crm.frames
    empty = {k: v.iloc[0:0] for k, v in frames.items() if k not in ("accounts", "leads")}
    data = CRMData(accounts=frames["accounts"], leads=frames["leads"], **empty)
    secs = time.perf_counter() - started
    print(f"generated {len(data.leads):,} leads, {len(data.accounts):,} accounts in {secs:.0f} s")
    work = Path(tempfile.mkdtemp(prefix="fc-bench-dup-"))
    engine = engine_for(f"sqlite:///{work / 'book.db'}")
    migrate(engine)
    started = time.perf_counter()
    counts = bulk_insert(engine, data)
    secs = time.perf_counter() - started
    keys, pairs = counts["match_keys"], counts["duplicates"]
    print(f"book: {counts['leads']:,} leads, {keys:,} keys, {pairs:,} pairs in {secs:.0f} s")
    rng = np.random.default_rng(16)
    templates = data.leads.iloc[rng.choice(len(data.leads), args.checks, replace=False)]
    seconds, found = [], 0
    for i, row in enumerate(templates.itertuples(index=False)):
        lead = {c: getattr(row, c) for c in data.leads.columns if not c.startswith("custom")}
        lead = {k: (None if not isinstance(v, list | dict) and pd.isna(v) else v) for k, v in lead.items()}
        lead.update(
            lead_id=f"NEW{i:06d}",
            company=written_differently(str(row.company), rng),
            contact_email=f"new{i}@" + str(row.contact_email).split("@")[1],
            converted_at=None,
            disqualified_at=None,
            disqualify_reason=None,
            created_at=pd.Timestamp(row.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
            timeline_date=None,
            custom={},
        )
        with engine.begin() as conn:
            upsert(conn, "leads", [lead], "2026-01-01T00:00:00Z")
            t0 = time.perf_counter()
            pairs = refresh(conn, "leads", [lead["lead_id"]], "2026-01-01T00:00:00Z")
            seconds.append(time.perf_counter() - t0)
        found += bool(pairs)
    ms = np.array(seconds) * 1000
    print(
        f"| check one new lead against {len(data.leads):,} (keys, index lookups, pairs written) | "
        f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms | "
        f"{found:,} of {args.checks:,} matched an existing customer |"
    )


if __name__ == "__main__":
    main()
