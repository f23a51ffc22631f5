"""Benchmark the scoring API against `mlflow models serve` on the same models and the same records.

Trains the lead and the win-probability models on generated data into a temporary MLflow store,
starts `funnelcast serve` (both models) and one `mlflow models serve` per model on 127.0.0.1, and
measures from a Python client on the same machine: single-record latency (p50/p99) and requests/s
at concurrency 1, 8 and 32, and records/s for batches of 1,000. Each lead carries 50 activities;
each deal its own stage, close-date and amount history and activities. Both sides take the API's
items (the registered pyfunc reads them too, since issue 18) and return reasons in words with every
score; Funnelcast also returns warnings and, for deals, risk flags. A third server, `mlflow models serve`
of the champion's model directory with a signature of JSON text columns (`text_columns_model`), is
the like-for-like anchor: the same pyfunc without MLflow's costly enforcement of nested types.

Usage: python benchmarks/serving.py [--requests 200] [--leads 20000] [--kinds lead,opportunity]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _machine  # beside this script
import httpx
import numpy as np
import pandas as pd

BIN = Path(sys.executable).parent
BATCHES = 15  # timed batches of 1,000 per server, alternating, after one warm-up batch each
BATCH = 1000
ROUTES = {"lead": "/v1/leads/score", "opportunity": "/v1/opportunities/score"}
NAMES = {"lead": "funnelcast-lead-grading", "opportunity": "funnelcast-win-probability"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def server_seconds(base: str, route: str) -> float:
    """Total seconds funnelcast has spent on a route (Prometheus histogram sum)."""
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(f'funnelcast_request_seconds_sum{{route="{route}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def run_load(url: str, bodies: list[dict], concurrency: int, n: int) -> tuple[np.ndarray, float]:
    """n POSTs with `concurrency` clients, each keeping its connection open (as a CRM integration
    would); returns latencies (s) and wall time. Bodies are serialised before the clock starts."""
    local = threading.local()
    payloads = [json.dumps(b).encode() for b in bodies]

    def one(i: int) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=300, headers={"content-type": "application/json"})
        t0 = time.perf_counter()
        r = client.post(url, content=payloads[i % len(payloads)])
        r.raise_for_status()
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        lat = np.array(list(pool.map(one, range(n))))
    return lat, time.perf_counter() - t0


def _activities(text: str, entity_type: str) -> list[dict]:
    keep = ("activity_id", "occurred_at", "type", "value", "contact_id", "contact_role")
    return [
        {k: a[k] for k in keep if a.get(k) is not None}
        for a in json.loads(text)
        if a["entity_type"] == entity_type
    ]


def lead_bodies(data, as_of: pd.Timestamp):
    """1,000 busy leads with 50 activities each, as the API's items and as MLflow pyfunc rows."""
    from funnelcast.training.register import example_rows

    lead_acts = data.activities[data.activities["entity_type"] == "lead"]
    busy = lead_acts.groupby("entity_id").size().sort_values(ascending=False).index[:BATCH].tolist()
    rows = example_rows(data, "lead", busy, as_of)

    def pad(text: str) -> str:  # 50 activities, unique ids, same content both ways
        acts = (json.loads(text) * 50)[:50]
        return json.dumps([{**a, "activity_id": f"{a['activity_id']}-{i}"} for i, a in enumerate(acts)])

    rows["activities"] = [pad(a) for a in rows["activities"]]
    fields = (
        "lead_id",
        "created_at",
        "source",
        "company",
        "industry",
        "region",
        "owner",
        "contact_title",
        "product_interest",
        "need",
        "budget_currency",
        "budget_band",
        "timeline_horizon",
    )
    items = []
    for rec in rows.to_dict(orient="records"):
        lead = {k: rec[k] for k in fields if rec.get(k) is not None}
        lead.update({k: float(rec[k]) for k in ("employees", "budget_amount") if rec.get(k) is not None})
        items.append({"lead": lead, "activities": _activities(rec["activities"], "lead")})
    return items, rows


def deal_bodies(data, as_of: pd.Timestamp):
    """1,000 deals open at as_of with their histories, as the API's items and as MLflow pyfunc rows."""
    from funnelcast.analytics.forecast import open_deals
    from funnelcast.training.register import example_rows

    ids = open_deals(data, as_of)["opportunity_id"].tolist()
    ids = (ids * (BATCH // max(len(ids), 1) + 1))[:BATCH]
    unique = list(dict.fromkeys(ids))
    rows = example_rows(data, "opportunity", unique, as_of).set_index("opportunity_id", drop=False)
    rows = rows.loc[ids].reset_index(drop=True)
    rows["opportunity_id"] = [
        f"{oid}-{i}" for i, oid in enumerate(rows["opportunity_id"])
    ]  # unique per request
    fields = (
        "opportunity_id",
        "account_id",
        "owner",
        "pipeline",
        "product",
        "currency",
        "created_at",
        "expected_close_date",
        "lead_id",
    )
    items = []
    for rec in rows.to_dict(orient="records"):
        opp = {k: rec[k] for k in fields if rec.get(k) is not None}
        opp["amount"] = float(rec["amount"])
        item = {
            "opportunity": opp,
            "stage_history": [
                {k: s[k] for k in ("stage", "entered_at")} for s in json.loads(rec["stage_history"])
            ],
            "close_date_history": [
                {k: c[k] for k in ("changed_at", "expected_close_date")}
                for c in json.loads(rec["close_date_history"])
            ],
            "amount_history": [
                {k: c[k] for k in ("changed_at", "amount")} for c in json.loads(rec["amount_history"])
            ],
            "activities": _activities(rec["activities"], "opportunity"),
            "account_activities": _activities(rec["activities"], "account"),
        }
        accounts = json.loads(rec["account"])
        if accounts:
            item["account"] = {
                k: v for k, v in accounts[0].items() if v is not None and not k.startswith("custom")
            }
        items.append(item)
    return items, rows


def text_columns_model(kind: str, work: Path) -> Path:
    """The champion's model directory with a signature of JSON text columns instead of objects and
    lists of objects: the same pyfunc, artifacts and answers (the pyfunc reads either form), without
    MLflow's enforcement of nested types, which costs it seconds per 1,000 rows. The like-for-like
    anchor for batches: MLflow serving this project's own pyfunc at its best."""
    import mlflow.artifacts
    import yaml

    from funnelcast.model.pyfunc import MAIN, input_columns

    target = work / f"text-columns-{kind}"
    mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{NAMES[kind]}@champion", dst_path=str(target))
    spec = yaml.safe_load((target / "MLmodel").read_text())
    main = MAIN[kind][0]
    spec["signature"]["inputs"] = json.dumps(
        [{"type": "string", "name": c, "required": c == main} for c in input_columns(kind)]
    )
    spec.pop("saved_input_example_info", None)
    (target / "MLmodel").write_text(yaml.safe_dump(spec, allow_unicode=True))
    return target


def measure(
    kind: str, ours_url: str, theirs: dict[str, str], items: list, rows: pd.DataFrame, as_of, requests: int
):
    key = "leads" if kind == "lead" else "opportunities"
    ours_single = [{"as_of": as_of.isoformat(), key: [it]} for it in items]
    ours_batch = [{"as_of": as_of.isoformat(), key: items}]
    # the registered pyfunc takes the API's items too (one row each, with as_of)
    stamped = [{**it, "as_of": as_of.isoformat()} for it in items]
    theirs_single = [{"dataframe_records": [it]} for it in stamped]
    theirs_batch = [{"dataframe_records": stamped}]
    texts = [
        {k: v if k == "as_of" else json.dumps(v, ensure_ascii=False) for k, v in it.items()} for it in stamped
    ]
    targets = {"funnelcast": (f"{ours_url}{ROUTES[kind]}", ours_single, ours_batch)}
    for name, url in theirs.items():
        if "text" in name:
            targets[name] = (
                f"{url}/invocations",
                [{"dataframe_records": [t]} for t in texts],
                [{"dataframe_records": texts}],
            )
        else:
            targets[name] = (f"{url}/invocations", theirs_single, theirs_batch)
    print(f"\n### {kind}s\n")
    print("| server | concurrency | requests | p50 ms | p99 ms | requests/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rps = {}
    for name, (url, single, _) in targets.items():
        run_load(url, single, 1, 10)  # warm up
        for c in (1, 8, 32):
            lat, wall = run_load(url, single, c, requests)
            rps[(name, c)] = requests / wall
            print(
                f"| {name} | {c} | {requests} | {1000 * np.percentile(lat, 50):.1f} | "
                f"{1000 * np.percentile(lat, 99):.1f} | {requests / wall:.1f} |",
                flush=True,
            )
    print()
    print("| server | batch size | batches | median s per batch | records/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    # batches alternate between the servers and each side's median is used, so that a noisy
    # neighbour on this shared machine slows both alike instead of whichever ran second
    for url, _, batch in targets.values():
        run_load(url, batch, 1, 1)  # warm up (first-use caches on both sides)
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    before = server_seconds(ours_url, ROUTES[kind])
    for _ in range(BATCHES):
        for name, (url, _, batch) in targets.items():
            lat, _wall = run_load(url, batch, 1, 1)
            seconds[name].append(float(lat[0]))
    inside = (server_seconds(ours_url, ROUTES[kind]) - before) / BATCHES
    records = {}
    for name in targets:
        median = float(np.median(seconds[name]))
        records[name] = len(items) / median
        print(f"| {name} | {len(items)} | {BATCHES} | {median:.3f} | {records[name]:,.0f} |", flush=True)
    print(f"\nfunnelcast's own mean time per batch (its request-latency histogram): {inside:.3f} s")
    for name in theirs:
        for c in (1, 8, 32):
            ratio = rps[("funnelcast", c)] / rps[(name, c)]
            print(f"single-{kind} requests/s ratio at concurrency {c} vs {name}: {ratio:.2f}x")
        print(f"{kind} batch records/s ratio vs {name}: {records['funnelcast'] / records[name]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--leads", type=int, default=20000)
    parser.add_argument("--kinds", default="lead,opportunity")
    args = parser.parse_args()
    from funnelcast.core.config import load_config
    from funnelcast.features.io import load_crm_data
    from funnelcast.synthetic import generate, write_dataset
    from funnelcast.training.promote import promote
    from funnelcast.training.register import register
    from funnelcast.training.train import train_model

    kinds = args.kinds.split(",")
    work = Path(tempfile.mkdtemp(prefix="fc-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    cfg = load_config()
    write_dataset(generate(args.leads, seed=7, config=cfg), work / "data")
    data, report = load_crm_data(work / "data", cfg.funnel)
    for kind in ("lead", "opportunity"):
        register(train_model(kind, data, cfg), data, report.files, cfg)
        promote(kind, cfg, models_dir=work / "models")
    as_of = pd.Timestamp("2025-12-31T00:00:00Z")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_THREADS": "1",
        "FUNNELCAST_RATE_LIMIT_PER_SECOND": "0",  # the benchmark measures throughput, not the limit
    }
    procs = []

    def start(cmd: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        procs.append(proc)
        return proc

    try:
        port = free_port()
        ours = start([str(BIN / "funnelcast"), "serve", "--port", str(port)])
        ours_url = f"http://127.0.0.1:{port}"
        wait(f"{ours_url}/readyz", ours)
        print(f"machine: {_machine.describe()}")
        print(f"command: {_machine.command()}")
        for kind in kinds:
            items, rows = (lead_bodies if kind == "lead" else deal_bodies)(data, as_of)
            their_port = free_port()
            theirs = start(
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    f"models:/{NAMES[kind]}@champion",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(their_port),
                ]
            )
            text_port = free_port()
            text = start(
                [str(BIN / "mlflow"), "models", "serve", "-m", str(text_columns_model(kind, work))]
                + ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(text_port)]
            )
            wait(f"http://127.0.0.1:{their_port}/ping", theirs)
            wait(f"http://127.0.0.1:{text_port}/ping", text)
            anchors = {
                "mlflow models serve": f"http://127.0.0.1:{their_port}",
                "mlflow models serve, JSON text columns": f"http://127.0.0.1:{text_port}",
            }
            measure(kind, ours_url, anchors, items, rows, as_of, args.requests)
            for proc in (theirs, text):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


if __name__ == "__main__":
    main()
