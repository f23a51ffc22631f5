"""Chaos on a real server (issue 19), bounded to about a minute: promotions and reloads under steady
load, and kill -9 under load followed by a restart. (SIGKILL during training:
tests/training/test_tracking.py.)"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
from servers import ADMIN_KEY, SCORING_KEY, auth, start_server, stop, wait_ready

from funnelcast.training.register import register
from funnelcast.training.tracking import REGISTERED, alias_version, client

LEAD_BODY = {
    "as_of": "2025-09-01T12:00:00Z",
    "leads": [
        {
            "lead": {
                "lead_id": "L1",
                "created_at": "2025-08-01T00:00:00Z",
                "source": "referral",
                "contact_title": "CEO",
            }
        }
    ],
}


def _env(store, tmp_path) -> dict:
    return {
        "MLFLOW_TRACKING_URI": store["uri"],
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_MODELS_DIR": str(tmp_path / "no-export"),
        "FUNNELCAST_API_KEYS": SCORING_KEY,
        "FUNNELCAST_ADMIN_KEYS": ADMIN_KEY,
    }


def test_promotions_under_load_lose_no_request_and_the_old_model_stops_at_the_reload(
    store, lead_outcome, d20_data, config, tmp_path
):
    """3,000 single-lead requests at about 100 per second while the champion moves twice, each move
    followed by a reload: every answer is a 200, and no request sent after a reload returned is
    answered by the model it replaced."""
    name = REGISTERED["lead"]
    first = alias_version(name, "champion")
    data, report = d20_data
    second = register(lead_outcome, data, report.files, config).version
    third = register(lead_outcome, data, report.files, config).version
    proc, url, _ = start_server(_env(store, tmp_path), tmp_path)
    answers, problems, lock = [], [], threading.Lock()  # (sent, version)
    total, threads, rate = 3000, 3, 100.0

    def load(offset: int) -> None:
        with httpx.Client(timeout=30) as c:
            start = time.monotonic()
            for i in range(offset, total, threads):
                pause = start + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                sent = time.monotonic()
                r = c.post(f"{url}/v1/leads/score", json=LEAD_BODY, headers=auth())
                with lock:
                    if r.status_code != 200:
                        problems.append((r.status_code, r.text[:200]))
                    else:
                        answers.append((sent, r.json()["model"]["version"]))

    reloads = []  # (alias moved at, reload returned at, version now served)
    try:
        wait_ready(url)
        workers = [threading.Thread(target=load, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for version in (second, third):
            time.sleep(8)
            moved = time.monotonic()
            client().set_registered_model_alias(name, "champion", version)
            reply = httpx.post(f"{url}/v1/admin/reload", headers=auth(ADMIN_KEY), timeout=60)
            lead = next(r for r in reply.json()["results"] if r["kind"] == "lead")
            assert lead["result"] == "swapped" and lead["version"] == version
            reloads.append((moved, time.monotonic(), version))
        for w in workers:
            w.join(timeout=120)
    finally:
        stop(proc)
        client().set_registered_model_alias(name, "champion", first)
    assert not problems, problems[:5]
    assert len(answers) == total
    windows = [(-1.0, reloads[0][0], first)]  # (from, to, the only version allowed)
    for i, (_, returned, version) in enumerate(reloads):
        until = reloads[i + 1][0] if i + 1 < len(reloads) else float("inf")
        windows.append((returned, until, version))
    for start, end, version in windows:
        served = {v for sent, v in answers if start < sent < end}
        assert served == {version}, (start, end, version, served)
    assert {v for _, v in answers} == {first, second, third}


def test_a_server_killed_under_load_answers_nothing_before_it_is_ready_again(store, tmp_path):
    """kill -9 while clients score, restart on the same port: every scoring 200 of the new process
    comes after the last 503 of /readyz (and carries a real probability): nothing is scored while
    models load."""
    env = _env(store, tmp_path)
    proc, url, _ = start_server(env, tmp_path)
    port = url.rsplit(":", 1)[1]
    events, stop_flag = [], threading.Event()  # (what, started, finished, status, probability)

    def score() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop_flag.is_set():
                started = time.monotonic()
                try:
                    r = c.post(f"{url}/v1/leads/score", json=LEAD_BODY, headers=auth())
                    p = r.json()["results"][0]["probability"] if r.status_code == 200 else None
                    events.append(("score", started, time.monotonic(), r.status_code, p))
                except httpx.HTTPError:
                    time.sleep(0.01)

    def ready() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop_flag.is_set():
                started = time.monotonic()
                try:
                    r = c.get(f"{url}/readyz")
                    events.append(("ready", started, time.monotonic(), r.status_code, None))
                except httpx.HTTPError:
                    time.sleep(0.01)

    restarted = None
    try:
        wait_ready(url)
        workers = [threading.Thread(target=score) for _ in range(2)] + [threading.Thread(target=ready)]
        for w in workers:
            w.start()
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed = time.monotonic()
        restarted, _, _ = start_server(env, tmp_path, port=int(port))
        wait_ready(url)
        time.sleep(2)
    finally:
        stop_flag.set()
        for w in workers:
            w.join(timeout=30)
        stop(proc)
        if restarted is not None:
            stop(restarted)
    after = [e for e in events if e[1] > killed]
    not_ready = [e for e in after if e[0] == "ready" and e[3] == 503]
    scored = [e for e in after if e[0] == "score" and e[3] == 200]
    assert not_ready and scored, "the restart must be seen loading, then scoring"
    last_not_ready = max(e[1] for e in not_ready)
    assert all(e[2] > last_not_ready for e in scored)
    assert all(e[4] is not None for e in scored)
    assert {e[3] for e in after if e[0] == "score"} <= {200, 503}
