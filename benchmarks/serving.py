"""Benchmark the scoring API against `mlflow models serve` on the same model and the same leads.

Trains a lead model on generated data into a temporary MLflow store, starts both servers on
127.0.0.1, and measures, from a Python client on the same machine: single-lead latency (p50/p99)
and requests/s at concurrency 1, 8 and 32, and records/s for batches of 1,000 leads. Each lead
carries 50 activities; the Funnelcast API returns reasons with every score.

Usage: python benchmarks/serving.py [--requests 200] [--leads 20000]
"""

import argparse
import importlib.util
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

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_machine", HERE / "_machine.py")
_machine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_machine)

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BIN = Path(sys.executable).parent
BATCHES = 15  # timed batches of 1,000 leads per server, alternating, after one warm-up batch each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
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


def wait_lead_model(base: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Readiness needs both models; this benchmark serves only the lead model, so wait for that one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("funnelcast serve exited")
        try:
            if any(
                m["kind"] == "lead"
                for m in httpx.get(f"{base}/v1/models", timeout=2).json().get("models", [])
            ):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(base)


def server_seconds(base: str) -> float:
    """Total seconds funnelcast has spent on the lead-scoring route (Prometheus histogram sum)."""
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith('funnelcast_request_seconds_sum{route="/v1/leads/score"}'):
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
            client = local.client = httpx.Client(timeout=120, headers={"content-type": "application/json"})
        t0 = time.perf_counter()
        r = client.post(url, content=payloads[i % len(payloads)])
        r.raise_for_status()
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        lat = np.array(list(pool.map(one, range(n))))
    return lat, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--leads", type=int, default=20000)
    args = parser.parse_args()
    from funnelcast.core.config import load_config
    from funnelcast.features.io import load_crm_data
    from funnelcast.synthetic import generate, write_dataset
    from funnelcast.training.promote import promote
    from funnelcast.training.train import example_rows, register, train_model

    work = Path(tempfile.mkdtemp(prefix="fc-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    cfg = load_config()
    write_dataset(generate(args.leads, seed=7, config=cfg), work / "data")
    data, report = load_crm_data(work / "data", cfg.funnel)
    register(train_model("lead", data, cfg), data, report.files, cfg)
    promote("lead", cfg, models_dir=work / "models")

    # leads with 50 activities each (their own recent history, topped up with more of it)
    as_of = pd.Timestamp("2025-12-31T00:00:00Z")
    lead_acts = data.activities[data.activities["entity_type"] == "lead"]
    busy = lead_acts.groupby("entity_id").size().sort_values(ascending=False).index[:1000].tolist()
    rows = example_rows(data, "lead", busy, as_of)

    def pad(text: str) -> str:  # 50 activities, unique ids, same content both ways
        acts = (json.loads(text) * 50)[:50]
        return json.dumps([{**a, "activity_id": f"{a['activity_id']}-{i}"} for i, a in enumerate(acts)])

    rows["activities"] = [pad(a) for a in rows["activities"]]
    items = []
    for rec in rows.to_dict(orient="records"):
        acts = [
            {
                "activity_id": a["activity_id"],
                "occurred_at": a["occurred_at"],
                "type": a["type"],
                **({"value": a["value"]} if a.get("value") is not None else {}),
            }
            for a in json.loads(rec["activities"])
            if a["entity_type"] == "lead"
        ]
        lead = {
            k: rec[k]
            for k in (
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
            if rec.get(k) is not None
        }
        for k in ("employees", "budget_amount"):
            if rec.get(k) is not None:
                lead[k] = float(rec[k])
        items.append({"lead": lead, "activities": acts})
    ours_single = [{"as_of": as_of.isoformat(), "leads": [it]} for it in items]
    ours_batch = [{"as_of": as_of.isoformat(), "leads": items}]
    cols = list(rows.columns)
    theirs_single = [{"dataframe_split": {"columns": cols, "data": [r]}} for r in rows.to_numpy().tolist()]
    theirs_batch = [{"dataframe_split": {"columns": cols, "data": rows.to_numpy().tolist()}}]

    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_THREADS": "1",
    }
    p1, p2 = free_port(), free_port()
    ours = subprocess.Popen(
        [str(BIN / "funnelcast"), "serve", "--port", str(p1)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    theirs = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/funnelcast-lead-grading@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(p2),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_lead_model(f"http://127.0.0.1:{p1}", ours)
        wait(f"http://127.0.0.1:{p2}/ping", theirs)
        targets = {
            "funnelcast": (f"http://127.0.0.1:{p1}/v1/leads/score", ours_single, ours_batch),
            "mlflow models serve": (f"http://127.0.0.1:{p2}/invocations", theirs_single, theirs_batch),
        }
        print(f"machine: {_machine.describe()}")
        print(f"command: {_machine.command()}")
        print("| server | concurrency | requests | p50 ms | p99 ms | requests/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        rps = {}
        for name, (url, single, _) in targets.items():
            run_load(url, single, 1, 10)  # warm up
            for c in (1, 8, 32):
                lat, wall = run_load(url, single, c, args.requests)
                rps[(name, c)] = args.requests / wall
                print(
                    f"| {name} | {c} | {args.requests} | {1000 * np.percentile(lat, 50):.1f} | "
                    f"{1000 * np.percentile(lat, 99):.1f} | {args.requests / wall:.1f} |",
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
        before = server_seconds(f"http://127.0.0.1:{p1}")
        for _ in range(BATCHES):
            for name, (url, _, batch) in targets.items():
                lat, _wall = run_load(url, batch, 1, 1)
                seconds[name].append(float(lat[0]))
        inside = (server_seconds(f"http://127.0.0.1:{p1}") - before) / BATCHES
        records = {}
        for name in targets:
            median = float(np.median(seconds[name]))
            records[name] = len(items) / median
            print(f"| {name} | {len(items)} | {BATCHES} | {median:.3f} | {records[name]:,.0f} |", flush=True)
        print(
            f"\nfunnelcast's own mean time per batch (its request-latency histogram, receiving the body to "
            f"sending the reply): {inside:.3f} s; the rest of the client's time is HTTP and the client"
        )
        print()
        for c in (1, 8, 32):
            print(
                f"single-lead requests/s ratio at concurrency {c}: "
                f"{rps[('funnelcast', c)] / rps[('mlflow models serve', c)]:.2f}x"
            )
        print(f"batch records/s ratio: {records['funnelcast'] / records['mlflow models serve']:.2f}x")
    finally:
        for proc in (ours, theirs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


if __name__ == "__main__":
    main()
