"""The book through a real server, on SQLite and on a real PostgreSQL server (issue 15): generated data
loaded as of day D, the next 30 days streamed through the ingestion routes in time order, every change
in the history explained, the stored scores equal to what the scoring routes answer for the same
records and as_of; and SIGKILL during ingestion loses no acknowledged batch and leaves no half one."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from book_stream import DAY, day_batches, deal_request, lead_request  # noqa: E402
from servers import auth, book_env, start_server, stop, wait_ready
from sqlalchemy import func, select

from funnelcast.book import tables as t

CAUSE_ACTIVITY = re.compile(r"activity (\S+) \(")


def test_streamed_events_regrade_the_book_explainably_and_as_the_api_scores(loaded_book, store, tmp_path):
    book, data = loaded_book, loaded_book["data"]
    proc, url, _ = start_server(book_env(store, book["url"]), tmp_path)
    days = [book["day_d"] + k * DAY for k in range(31)]
    try:
        wait_ready(url)
        with httpx.Client(timeout=120, headers=auth()) as client:
            for start, end in zip(days[:-1], days[1:], strict=True):
                for method, path, body in day_batches(data, start, end):
                    reply = client.request(method, f"{url}{path}", json=body)
                    assert reply.status_code == 200, (path, reply.text[:500])
                    assert reply.json()["queued"] == 0

            # the stored scores are what the scoring API answers for the same records and as_of
            with book["engine"].connect() as conn:
                scored = pd.DataFrame(
                    conn.execute(select(t.lead_scores.c.lead_id, t.lead_scores.c.as_of)).all()
                )
                deals = pd.DataFrame(
                    conn.execute(select(t.deal_scores.c.opportunity_id, t.deal_scores.c.as_of)).all()
                )
            moved = scored[scored["as_of"] > days[0].strftime("%Y-%m-%dT%H:%M:%SZ")]
            assert len(moved) > 100, "the stream re-scored leads"
            sample = pd.concat([moved.sample(40, random_state=1), scored.sample(10, random_state=2)])
            sample = sample.drop_duplicates("lead_id")
            for as_of, group in sample.groupby("as_of"):
                ids = group["lead_id"].tolist()
                reply = client.post(f"{url}/v1/leads/score", json=lead_request(data, ids, as_of))
                assert reply.status_code == 200, reply.text[:1000]
                api = reply.json()["results"]
                for want in api:
                    got = client.get(f"{url}/v1/leads/{want['lead_id']}").json()
                    for key in ("probability", "grade", "rule_grade", "stale", "reasons", "warnings"):
                        assert got[key] == want[key], (want["lead_id"], key)
                    assert got["as_of"] == as_of
            for as_of, group in deals.sample(min(20, len(deals)), random_state=3).groupby("as_of"):
                ids = group["opportunity_id"].tolist()
                api = client.post(f"{url}/v1/opportunities/score", json=deal_request(data, ids, as_of)).json()
                for want in api["results"]:
                    got = client.get(f"{url}/v1/opportunities/{want['opportunity_id']}").json()
                    for key in ("p_won", "p_won_30d", "health", "health_score", "risk_flags", "reasons"):
                        assert got[key] == want[key], (want["opportunity_id"], key)
    finally:
        stop(proc)

    # the clock moves grades too, and says so
    later = (days[-1] + 30 * DAY).isoformat()
    assert book["scorer"].rescore_all("lead", "clock", "time passed", later) > 0

    # every change in the history is explained by an event, the clock or the load, at a time it could be
    with book["engine"].connect() as conn:
        history = pd.DataFrame(conn.execute(select(t.score_history)).mappings().all())
    lead_rows = history[history["kind"] == "lead"]
    assert set(history["trigger"]) <= {"load", "event", "clock", "model"}
    assert {"load", "event", "clock"} <= set(lead_rows["trigger"])
    changed = history[history["from_grade"].notna() & (history["from_grade"] != history["to_grade"])]
    assert len(changed) > 10 and changed["trigger"].isin(["event", "clock", "model"]).all()
    acts = data.activities.set_index("activity_id")
    leads = data.leads.set_index("lead_id")
    checked = 0
    for row in lead_rows[lead_rows["trigger"] == "event"].itertuples():
        assert row.cause, row
        for activity_id in CAUSE_ACTIVITY.findall(row.cause):
            act = acts.loc[activity_id]
            owner = row.entity_id if act["entity_type"] == "lead" else leads.loc[row.entity_id, "account_id"]
            assert act["entity_id"] == owner and act["occurred_at"] <= pd.Timestamp(row.at), row
            checked += 1
    assert checked > 50
    clock = history[history["trigger"] == "clock"]
    assert len(clock) and (clock["at"] == pd.Timestamp(later).strftime("%Y-%m-%dT%H:%M:%SZ")).all()


def test_sigkill_during_ingestion_loses_no_acknowledged_batch_and_leaves_no_half_one(
    loaded_book, store, tmp_path
):
    book = loaded_book
    env = book_env(store, book["url"])
    proc, url, _ = start_server(env, tmp_path)
    port = int(url.rsplit(":", 1)[1])
    lead_ids = book["data"].leads.loc[book["data"].leads["created_at"] <= book["day_d"], "lead_id"].tolist()
    rng = np.random.default_rng(15)
    acknowledged, sent, stop_flag = [], [], threading.Event()

    def ingest() -> None:
        with httpx.Client(timeout=30, headers=auth()) as client:
            n = 0
            while not stop_flag.is_set():
                batch = [
                    {
                        "activity_id": f"K{n}-{i}",
                        "entity_type": "lead",
                        "entity_id": str(rng.choice(lead_ids)),
                        "occurred_at": (book["day_d"] - pd.Timedelta(minutes=i)).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                        "type": "web_visit",
                    }
                    for i in range(200)
                ]
                sent.append([a["activity_id"] for a in batch])
                try:
                    r = client.post(f"{url}/v1/book/activities", json={"activities": batch})
                    if r.status_code == 200:
                        acknowledged.append(sent[-1])
                except httpx.HTTPError:
                    pass
                n += 1

    worker = threading.Thread(target=ingest)
    restarted = None
    try:
        wait_ready(url)
        worker.start()
        while len(acknowledged) < 5:
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.1, 0.5)))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        stop_flag.set()
        worker.join(timeout=60)
        restarted, _, _ = start_server(env, tmp_path, port=port)
        wait_ready(url)
        with book["engine"].connect() as conn:
            stored = set(
                conn.execute(
                    select(t.activities.c.activity_id).where(t.activities.c.activity_id.like("K%"))
                ).scalars()
            )
        for batch in acknowledged:
            assert set(batch) <= stored  # nothing acknowledged is lost
        for batch in sent:
            assert set(batch) <= stored or not set(batch) & stored  # all of a batch or none of it
        assert len(sent) > len(acknowledged) or stored  # the kill fell inside the stream
        deadline = time.monotonic() + 60  # what was queued when the server died is scored after the restart
        while time.monotonic() < deadline:
            with book["engine"].connect() as conn:
                if conn.execute(select(func.count()).select_from(t.pending)).scalar() == 0:
                    break
            time.sleep(0.5)
        with book["engine"].connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.pending)).scalar() == 0
    finally:
        stop_flag.set()
        stop(proc)
        if restarted is not None:
            stop(restarted)


def test_concurrent_batches_on_the_same_leads_keep_the_score_of_everything_written(
    loaded_book, store, tmp_path
):
    """Two server processes, four clients, every batch on the same leads (half of them large, so slow
    to score): the scores are computed outside the write transaction, so a score read before another
    batch's write must never be saved over the score that includes it."""
    book = loaded_book
    proc, url, _ = start_server(book_env(store, book["url"]), tmp_path, workers=2)
    as_of = book["day_d"].strftime("%Y-%m-%dT%H:%M:%SZ")
    leads = book["data"].leads
    with book["engine"].connect() as conn:
        open_ids = set(conn.execute(select(t.lead_scores.c.lead_id)).scalars())
    known = sorted(set(leads.loc[leads["created_at"] <= book["day_d"], "lead_id"]) & open_ids)
    ids, others = known[:40], known[40:]
    kinds = ["web_visit", "email_open", "meeting", "demo_request", "form_submit"]
    failures: list[str] = []

    def stream(client_no: int) -> None:
        rng = np.random.default_rng(client_no)
        with httpx.Client(timeout=120, headers=auth()) as client:
            for n in range(6):
                batch = [
                    {
                        "activity_id": f"C{client_no}-{n}-{lid}",
                        "entity_type": "lead",
                        "entity_id": lid,
                        "occurred_at": (
                            book["day_d"] - pd.Timedelta(minutes=int(rng.integers(1, 600)))
                        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "type": str(rng.choice(kinds)),
                    }
                    for lid in ids + (list(rng.choice(others, 600, replace=False)) if client_no % 2 else [])
                ]  # half the clients send big batches: read early, saved late, unless the check works
                r = client.post(f"{url}/v1/book/activities", json={"as_of": as_of, "activities": batch})
                if r.status_code != 200 or r.json()["queued"]:
                    failures.append(r.text[:300])

    try:
        wait_ready(url, workers=2)  # both workers: one still loading would queue, not score
        threads = [threading.Thread(target=stream, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
    finally:
        stop(proc)
    assert not failures, failures
    with book["engine"].connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.pending)).scalar() == 0
        written = conn.execute(
            select(func.count()).select_from(t.activities).where(t.activities.c.activity_id.like("C%"))
        ).scalar()
        assert written == 4 * 6 * len(ids) + 2 * 6 * 600
        result = t.lead_scores.c.result
        found = conn.execute(select(t.lead_scores.c.lead_id, result).where(t.lead_scores.c.lead_id.in_(ids)))
        stored = {lid: got for lid, got in found}
        model = book["scorer"].registry.scoring_model("lead")
        fresh = book["scorer"].compute(conn, model, "lead", ids, as_of)
    assert len(fresh.results) == len(ids) == len(stored)
    for want in fresh.results:
        got = stored[want["lead_id"]]
        for key in ("probability", "grade", "reasons"):
            assert got[key] == want[key], (want["lead_id"], key)


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_reads_page_through_every_lead_once_in_priority_order(loaded_book, store, tmp_path):
    book = loaded_book
    proc, url, _ = start_server(book_env(store, book["url"]), tmp_path)
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, timeout=60, headers=auth()) as client:
            seen, cursor, last = [], None, None
            while True:
                page = client.get("/v1/leads", params={"limit": 500, "cursor": cursor}).json()
                for item in page["items"]:
                    key = (item["probability"], item["lead_id"])
                    assert last is None or key < last  # priority order, ties by id
                    last = key
                    seen.append(item["lead_id"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            with book["engine"].connect() as conn:
                scored = set(conn.execute(select(t.lead_scores.c.lead_id)).scalars())
            assert len(seen) == len(set(seen)) and set(seen) == scored
            hot = client.get("/v1/leads", params={"grade": "Hot", "limit": 50}).json()["items"]
            assert hot and {i["grade"] for i in hot} == {"Hot"}
            owner = hot[0]["owner"]
            mine = client.get("/v1/leads", params={"owner": owner, "stale": False}).json()["items"]
            assert mine and all(i["owner"] == owner and not i["stale"] for i in mine)
            converted = (
                book["data"].leads.loc[book["data"].leads["converted_at"] <= book["day_d"], "lead_id"].iloc[0]
            )
            gone = client.get(f"/v1/leads/{converted}")
            assert gone.status_code == 404 and "converted" in gone.json()["error"]["details"][0]["message"]
            assert client.get("/v1/leads/no-such-lead").status_code == 404
            assert client.get("/v1/leads", params={"cursor": "not-ours"}).status_code == 422
            # references are checked before the writer's turn: every unknown one named, nothing written
            some = sorted(scored)[0]
            acts = [
                {"activity_id": f"REF-{i}", "entity_type": "lead", "entity_id": lid, "type": "call"}
                | {"occurred_at": "2025-01-02T00:00:00Z"}
                for i, lid in enumerate([some, "no-such-lead", "nor-this-one"])
            ]
            bad = client.post("/v1/book/activities", json={"activities": acts})
            fields = [d["field"] for d in bad.json()["error"]["details"]]
            assert bad.status_code == 422 and fields == ["activities.1.entity_id", "activities.2.entity_id"]
            with book["engine"].connect() as conn:
                ids = [a["activity_id"] for a in acts]
                assert not conn.execute(
                    select(t.activities.c.activity_id).where(t.activities.c.activity_id.in_(ids))
                ).all()
            good = client.post("/v1/book/activities", json={"activities": acts[:1]})
            assert good.status_code == 200 and good.json()["rescored"]["lead"] == 1
            deals = client.get("/v1/opportunities", params={"limit": 20}).json()["items"]
            risk = [(100 - d["health_score"]) / 100 * (d["amount"] or 0) for d in deals]
            assert deals and risk == sorted(risk, reverse=True)
            metrics = client.get("/metrics").text
            assert "funnelcast_book_queued 0.0" in metrics and "funnelcast_book_lag_seconds" in metrics
            writes = {
                line.split(" ")[0]: float(line.split(" ")[1])
                for line in metrics.splitlines()
                if line.startswith("funnelcast_book_write_seconds_count")
            }
            # the good batch: its write, then its scores' save (each waited, then held the turn)
            assert writes['funnelcast_book_write_seconds_count{phase="hold"}'] >= 2
            assert writes['funnelcast_book_write_seconds_count{phase="wait"}'] >= 2
    finally:
        stop(proc)
    # the store gone: not ready
    env = {**book_env(store, "postgresql+psycopg://nobody@127.0.0.1:1/none")}
    proc, url, _ = start_server(env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and httpx.get(f"{url}/readyz").status_code != 503:
            time.sleep(0.3)
        time.sleep(3)
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["details"][0]["field"] == "book"
        reply = httpx.get(f"{url}/v1/leads", headers=auth())
        assert reply.status_code == 503 and reply.json()["error"]["message"] == "the book is not open"
    finally:
        stop(proc)


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_the_leader_keeps_the_workspace_funnel_and_forecast_in_the_book(loaded_book, store, tmp_path):
    from funnelcast.serving.workspace import snapshots

    env = {**book_env(store, loaded_book["url"]), "FUNNELCAST_ANALYTICS_REFRESH_MINUTES": "15"}
    proc, url, log = start_server(env, tmp_path, workers=2)  # the leader is one of the workers
    try:
        wait_ready(url, workers=2)
        deadline, found = time.monotonic() + 120, {}
        said = "workspace funnel and forecast computed again in"  # once the child process has ended
        while time.monotonic() < deadline and said not in log.read_text(encoding="utf-8"):
            time.sleep(0.5)
            with loaded_book["engine"].connect() as conn:  # nobody opened a page: the leader made them
                found = {v: snapshots.read(conn, v, payload=False) for v in snapshots.DEFAULT_VIEWS}
                found = {v: s for v, s in found.items() if s is not None}
                clock = snapshots.book_as_of(conn)
        assert sorted(found) == sorted(snapshots.DEFAULT_VIEWS), log.read_text(encoding="utf-8")[-3000:]
        assert {s.as_of for s in found.values()} == {clock}
        forecast = found[snapshots.forecast_view(snapshots.DEFAULT_DAYS)]
        assert forecast.model_version.startswith("funnelcast-win-probability:")
        assert "Traceback" not in log.read_text(encoding="utf-8")
    finally:
        stop(proc)
