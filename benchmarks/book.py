"""The book at scale (issue 15): the 1M-lead generated set loaded into SQLite and into PostgreSQL (rows/s,
peak memory) and every open lead and deal scored; then `funnelcast serve` on the SQLite book: activity
ingestion with re-scoring (activities/s), `GET /v1/leads/{id}` and pages of 50 from
`GET /v1/leads?sort=priority` (latency percentiles) with the whole set in the book.

Usage: python benchmarks/book.py [--data bench-data/leads_1000000] [--train bench-data/train_20k]
       [--no-postgres]
Models are trained on the 20k-lead set and registered in a temporary MLflow store (as in
benchmarks/serving.py). Each load and score phase runs in its own process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # beside this script
import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL server of the tests


def phase_load(url: str, data_dir: str) -> dict:
    from funnelcast.book.db import engine_for, migrate
    from funnelcast.book.load import bulk_insert
    from funnelcast.core.config import load_config
    from funnelcast.features.io import load_crm_data

    cfg = load_config()
    started = time.perf_counter()
    data, _ = load_crm_data(data_dir, cfg.funnel)
    read_s = time.perf_counter() - started
    engine = engine_for(url)
    migrate(engine)
    started = time.perf_counter()
    counts = bulk_insert(engine, data)
    secs = time.perf_counter() - started
    rows = sum(counts.values())
    return {
        "rows": rows,
        "seconds": secs,
        "read_seconds": read_s,
        "peak_mib": _machine.peak_rss_mib(),
        "as_of": data.last_event().floor("s").isoformat(),
    }


def phase_score(url: str, as_of: str) -> dict:
    from funnelcast.book.db import engine_for
    from funnelcast.core.config import load_config
    from funnelcast.serving.registry import ModelRegistry
    from funnelcast.serving.regrade import BookScorer
    from funnelcast.serving.settings import ServingSettings

    cfg = load_config()
    registry = ModelRegistry(ServingSettings(model_source="registry"), cfg)
    registry.load_all()
    scorer = BookScorer(engine_for(url), registry, cfg)
    out = {}
    for kind in ("lead", "opportunity"):
        started = time.perf_counter()
        n = scorer.rescore_all(kind, "load", "book load", as_of)
        out[kind] = {"n": n, "seconds": time.perf_counter() - started}
    out["peak_mib"] = _machine.peak_rss_mib()
    return out


def _child(*args: str, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms"


def client_ids(client: httpx.Client, pages: int = 400) -> list[str]:
    """Ids of scored open leads, read through the list (500 a page)."""
    ids, cursor = [], None
    for _ in range(pages):
        page = client.get("/v1/leads", params={"limit": 500, "cursor": cursor}).json()
        ids += [i["lead_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return ids


def start_serving(url: str, env: dict, work: Path, workers: int) -> tuple[subprocess.Popen, str]:
    from servers import free_port

    port = free_port()
    server_env = {
        **env,
        "FUNNELCAST_DATABASE_URL": url,
        "FUNNELCAST_RESCORE_MINUTES": "0",
        # ingestion alone, as with the clock passes: the workspace's analytics pass (~1 min every hour
        # while the book moves) is measured by benchmarks/workspace.py, its effect in docs/workspace.md
        "FUNNELCAST_ANALYTICS_REFRESH_MINUTES": "0",
        "FUNNELCAST_RATE_LIMIT_PER_SECOND": "0",
        "FUNNELCAST_MAX_BOOK_RECORDS": "5000",
    }
    proc = subprocess.Popen(
        [str(BIN / "funnelcast"), "serve", "--port", str(port), "--workers", str(workers)],
        env=server_env,
        stdout=(work / f"server-{workers}.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline, ready = time.monotonic() + 300, 0
    while time.monotonic() < deadline:
        try:  # every worker ready: each check is a new connection, taken by whichever worker accepts
            ready = ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
        except httpx.HTTPError:
            ready = 0
        if ready >= 10 * workers:
            return proc, base
        time.sleep(0.1 if ready else 0.5)
    raise RuntimeError(f"the server did not become ready: {work}/server-{workers}.log")


def measure_ingestion(base: str, as_of: str, draws: dict, clients: int, tag: str) -> list[str]:
    """POST /v1/book/activities, 1,000 activities a batch, from `clients` concurrent clients (each its
    own connection, sending its next batch when the last is answered: answered means stored and
    re-scored); activities/s over the whole run."""
    import threading

    lines = []
    for label, draw in draws.items():
        n_batches, size = 24, 1000
        per_batch, leads_touched, errors = [], [], []
        rng = np.random.default_rng(16)
        batches = []
        for b in range(n_batches):
            targets = draw(rng, size)
            leads_touched.append(len(set(targets)))
            batches.append(
                [
                    {
                        "activity_id": f"BENCH-{tag}-{label[:5]}-{b}-{i}",
                        "entity_type": "lead",
                        "entity_id": str(lid),
                        "occurred_at": as_of,
                        "type": "web_visit",
                    }
                    for i, lid in enumerate(targets)
                ]
            )

        def send(mine: list[list[dict]], per_batch=per_batch, errors=errors) -> None:
            with httpx.Client(base_url=base, timeout=300) as client:
                for batch in mine:
                    started = time.perf_counter()
                    reply = client.post("/v1/book/activities", json={"as_of": as_of, "activities": batch})
                    per_batch.append(time.perf_counter() - started)
                    if reply.status_code != 200 or reply.json()["queued"]:
                        errors.append(reply.text[:300])

        threads = [threading.Thread(target=send, args=(batches[k::clients],)) for k in range(clients)]
        started_all = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        rate = n_batches * size / (time.perf_counter() - started_all)
        assert not errors, errors[:3]
        lines.append(
            f"| `POST /v1/book/activities`, {n_batches} batches of {size:,} activities, {label}, "
            f"{clients} client(s) (median {int(np.median(leads_touched)):,} leads re-scored per batch "
            f"before the answer) | {rate:,.0f} activities/s ({_percentiles(per_batch)} per batch) |"
        )
    return lines


def serve_and_measure(url: str, env: dict, as_of: str, work: Path, data_dir: str) -> list[str]:
    from servers import stop

    lines = []
    tag = str(int(time.time()))  # activity ids of this run (a replayed id would be a no-op)
    proc, base = start_serving(url, env, work, workers=1)
    try:
        with httpx.Client(base_url=base, timeout=300) as client:
            # the leads in the book, and pages through the list
            first = client.get("/v1/leads", params={"limit": 500}).json()
            ids = [i["lead_id"] for i in first["items"]]
            cursor = first["next_cursor"]
            for _ in range(20):
                page = client.get("/v1/leads", params={"limit": 500, "cursor": cursor}).json()
                ids += [i["lead_id"] for i in page["items"]]
                cursor = page["next_cursor"]
            rng = np.random.default_rng(15)
            for _ in range(20):  # warm-up
                client.get(f"/v1/leads/{rng.choice(ids)}")
            singles = []
            for lid in rng.choice(ids, 1000):
                started = time.perf_counter()
                assert client.get(f"/v1/leads/{lid}").status_code == 200
                singles.append(time.perf_counter() - started)
            pages, cursors = [], [None]
            for _ in range(200):
                started = time.perf_counter()
                page = client.get("/v1/leads", params={"limit": 50, "cursor": cursors[-1]}).json()
                pages.append(time.perf_counter() - started)
                cursors.append(page["next_cursor"])
            owner = first["items"][0]["owner"]
            filtered = []
            for grade in ("Hot", "Warm", "Cold") * 30:
                started = time.perf_counter()
                client.get("/v1/leads", params={"limit": 50, "grade": grade, "owner": owner})
                filtered.append(time.perf_counter() - started)
            lines.append(f"| `GET /v1/leads/{{id}}` (1,000 random scored leads) | {_percentiles(singles)} |")
            lines.append(
                f"| `GET /v1/leads?limit=50` (200 consecutive pages by cursor) | {_percentiles(pages)} |"
            )
            lines.append(
                f"| `GET /v1/leads?grade=..&owner=..&limit=50` (90 first pages) | {_percentiles(filtered)} |"
            )
            ids_all = client_ids(client)

        # ingestion with re-scoring: on leads drawn as the data's own activities are spread (busy leads
        # get more), and the worst case: every activity on another lead
        busy = pd.read_parquet(Path(data_dir) / "activities.parquet", columns=["entity_type", "entity_id"])
        busy = busy.loc[busy["entity_type"] == "lead", "entity_id"]
        busy = busy[busy.isin(set(ids_all))].to_numpy()
        draws = {
            "leads drawn as the data's activities are spread": lambda r, n: r.choice(busy, n),
            "every activity on another random open lead (worst case)": lambda r, n: r.choice(
                ids_all, n, replace=False
            ),
        }
        lines += measure_ingestion(base, as_of, draws, clients=1, tag=f"{tag}-1")
    finally:
        stop(proc)
    proc, base = start_serving(url, env, work, workers=2)  # one process per core, clients in parallel
    try:
        lines += measure_ingestion(base, as_of, draws, clients=4, tag=f"{tag}-2")
    finally:
        stop(proc)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT / "bench-data" / "leads_1000000"))
    parser.add_argument("--train", default=str(ROOT / "bench-data" / "train_20k"))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--phase", choices=["load", "score"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument(
        "--serve-only", metavar="WORK", help="measure the server on a WORK dir of an earlier run"
    )
    args = parser.parse_args()
    if args.serve_only:
        work = Path(args.serve_only)
        env = {
            **os.environ,
            "FUNNELCAST_HOME": str(work),
            "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        }
        from funnelcast.book import reads
        from funnelcast.book.db import engine_for, migrate

        url = f"sqlite:///{work / 'book.db'}"
        engine = engine_for(url)
        migrate(engine)  # a book kept from an earlier run, brought to the current schema
        with engine.connect() as conn:
            as_of = reads.clock(conn)
        engine.dispose()
        print(f"machine: {_machine.describe()}\ncommand: {_machine.command()}")
        print("\n".join(serve_and_measure(url, env, as_of, work, args.data)))
        return
    if args.phase == "load":
        print(json.dumps(phase_load(args.url, args.data)))
        return
    if args.phase == "score":
        print(json.dumps(phase_score(args.url, args.as_of)))
        return

    from funnelcast.core.config import load_config
    from funnelcast.features.io import load_crm_data
    from funnelcast.training.promote import promote
    from funnelcast.training.register import register
    from funnelcast.training.train import train_model

    work = Path(tempfile.mkdtemp(prefix="fc-bench-book-"))
    env = {
        **os.environ,
        "FUNNELCAST_HOME": str(work),
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
    }
    os.environ.update(env)
    cfg = load_config()
    train, report = load_crm_data(args.train, cfg.funnel)
    for kind in ("lead", "opportunity"):
        register(train_model(kind, train, cfg), train, report.files, cfg)
        promote(kind, cfg, models_dir=work / "models")
    print(f"machine: {_machine.describe()}")
    print(f"command: {_machine.command()}")
    backends = [("SQLite (WAL)", f"sqlite:///{work / 'book.db'}")]
    pg = None
    if not args.no_postgres:
        from servers import Postgres, postgres_missing

        why = postgres_missing()
        if why:
            print(f"PostgreSQL skipped: {why}")
        else:
            pg = Postgres()
            backends.append(("PostgreSQL 15", pg.start()))
    rows = [
        "| book | records | bulk insert s | records/s | peak MiB | open leads scored | leads/s "
        "| open deals scored | peak MiB (scoring) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    as_of = None
    try:
        for name, url in backends:
            loaded = _child("--phase", "load", "--url", url, "--data", args.data, env=env)
            as_of = loaded["as_of"]
            scored = _child("--phase", "score", "--url", url, "--as-of", as_of, env=env)
            lead, deal = scored["lead"], scored["opportunity"]
            rate, lead_rate = loaded["rows"] / loaded["seconds"], lead["n"] / lead["seconds"]
            rows.append(
                f"| {name} | {loaded['rows']:,} | {loaded['seconds']:.1f} | {rate:,.0f} | "
                f"{loaded['peak_mib']:,.0f} | {lead['n']:,} in {lead['seconds']:.0f} s | {lead_rate:,.0f} | "
                f"{deal['n']:,} in {deal['seconds']:.0f} s | {scored['peak_mib']:,.0f} |"
            )
            print(rows[-1], flush=True)
        print("\n".join(rows))
        measured = serve_and_measure(backends[0][1], env, as_of, work, args.data)
        print("\n| on the SQLite book with the 1M-lead set | measured |\n|---|---|")
        print("\n".join(measured))
    finally:
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()
