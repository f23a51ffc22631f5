"""The workspace with the 1M-lead book (issue 17): server time of `GET /app/leads` (first pages,
filtered pages, pages deep in the list) and of the funnel and forecast pages once the server's leader
has computed their views in the background (how long that took is printed), read from the server's own
access log (the `ms` of each request), so that the client and the network are not counted.

Usage: python benchmarks/workspace.py WORK
  WORK: a work directory kept from `benchmarks/book.py` (its book.db holds the 1M-lead set, scored)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import _machine  # beside this script
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("--pages", type=int, default=60)
    args = parser.parse_args()
    from servers import free_port, stop

    from funnelcast.book import users
    from funnelcast.book.db import engine_for, migrate
    from funnelcast.serving.workspace import snapshots

    work = Path(args.work)
    url = f"sqlite:///{work / 'book.db'}"
    engine = engine_for(url)
    migrate(engine)  # a book kept from before migration 0003 gains the users table and the indexes
    with engine.begin() as conn:
        if not conn.exec_driver_sql("SELECT 1 FROM users WHERE username = 'bench'").first():
            users.add(conn, "bench", "bench-password-1", "manager", None, "2026-01-01T00:00:00Z")
        owner = conn.exec_driver_sql("SELECT owner FROM lead_scores WHERE owner IS NOT NULL LIMIT 1").scalar()
        conn.exec_driver_sql("DELETE FROM analytics_snapshots")  # the server's leader computes them anew
    port = free_port()
    log = work / "workspace-server.log"
    env = {
        **os.environ,
        "FUNNELCAST_HOME": str(work),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "FUNNELCAST_DATABASE_URL": url,
        "FUNNELCAST_RESCORE_MINUTES": "0",
        "FUNNELCAST_RATE_LIMIT_PER_SECOND": "0",
    }
    proc = subprocess.Popen(
        [str(BIN / "funnelcast"), "serve", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        with httpx.Client(base_url=base, timeout=60) as client:
            form = client.get("/app/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            client.post(
                "/app/login", data={"username": "bench", "password": "bench-password-1", "csrf": token}
            )
            ids = {"first page, during the analytics pass": []}  # it starts as the models are loaded
            for i in range(args.pages):
                rid = f"during-pass-{i}"
                client.get("/app/leads", headers={"X-Request-ID": rid})
                ids["first page, during the analytics pass"].append(rid)
                time.sleep(0.2)
            waited = time.monotonic()  # then the leader's views are all computed (background)
            while time.monotonic() - waited < 900:
                with engine.connect() as conn:
                    stored = [snapshots.read(conn, v, payload=False) for v in snapshots.DEFAULT_VIEWS]
                if all(stored):
                    break
                time.sleep(2)
            computed = max(s.seconds for s in stored) if all(stored) else float("nan")
            runs = {
                "first page": [{}],
                "Hot leads of one owner": [{"grade": "Hot", "owner": owner}],
                "newest first": [{"sort": "newest"}],
                "stale, 365+ days": [{"stale": "yes", "age": "365+"}],
            }
            for name, params in runs.items():
                ids[name] = []
                for i in range(args.pages):
                    rid = "bench-" + re.sub(r"[^a-z0-9]+", "-", name.lower()) + f"-{i}"
                    client.get("/app/leads", params=params[0], headers={"X-Request-ID": rid[:120]})
                    ids[name].append(rid[:120])
            deep, cursor = [], None  # 200 pages down the list by cursor
            for i in range(200):
                page = client.get(
                    "/app/leads",
                    params={"cursor": cursor} if cursor else {},
                    headers={"X-Request-ID": f"deep-{i}"},
                )
                deep.append(f"deep-{i}")
                found = re.search(r'cursor=([A-Za-z0-9_-]+)"', page.text)
                cursor = found.group(1) if found else None
            ids["200 pages down by cursor"] = deep
            pages = {
                "funnel": ("/app/funnel", {}),
                "funnel by owner": ("/app/funnel", {"by": "owner"}),
                "forecast, 90 days": ("/app/forecast", {}),
                "forecast with a target": ("/app/forecast", {"target": 30_000_000}),
                "forecast, 30 days (made from the stored inputs)": ("/app/forecast", {"days": 30}),
            }
            for name, (path, params) in pages.items():
                ids[name] = []
                for i in range(20):
                    rid = "bench-" + re.sub(r"[^a-z0-9]+", "-", name.lower()) + f"-{i}"
                    client.get(path, params=params, headers={"X-Request-ID": rid})
                    ids[name].append(rid)
        time.sleep(0.5)
        ms = {}
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.startswith('{"request_id"'):
                entry = json.loads(line)
                ms[entry["request_id"]] = entry["ms"]
        print(f"machine: {_machine.describe()}\ncommand: {_machine.command()}")
        print(
            f"funnel and forecast views computed in the background in {computed:.1f} s (one read of the book)"
        )
        print("| `GET /app/...` (1M-lead book) | server ms p50 | p99 |\n|---|---:|---:|")
        for name, rids in ids.items():
            values = np.array([ms[r] for r in rids if r in ms])
            print(f"| {name} | {np.percentile(values, 50):.1f} | {np.percentile(values, 99):.1f} |")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
