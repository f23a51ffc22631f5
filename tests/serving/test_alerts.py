"""Alerts as signed webhooks, duplicate leads and handover through a real server (issue 16). A receiver
on 127.0.0.1 gets every alert in order per lead or deal after the server was SIGKILLed mid-delivery
(duplicates allowed, losses not), with valid signatures; a receiver that fails three times gets the
alert on the fourth attempt; a receiver that never answers is listed as failed and can be replayed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pandas as pd
import pytest
from book_stream import DAY, day_batches
from servers import ADMIN_KEY, auth, book_env, free_port, start_server, stop, wait_ready
from sqlalchemy import select

from funnelcast.book import tables as t
from funnelcast.serving.deliveries import verify

SECRET = "whsec_test_0123456789abcdef"


class Receiver:
    """Webhook receivers on one loopback port: /ok answers 200 (slowly), /flaky 500 three times per
    delivery then 200. Every request is recorded with whether its signature holds."""

    def __init__(self):
        self.got: list[dict] = []
        self.tries: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    SECRET,
                    self.headers["X-Funnelcast-Timestamp"],
                    body,
                    self.headers["X-Funnelcast-Signature"],
                )
                delivery = self.headers["X-Funnelcast-Delivery"]
                with receiver.lock:
                    receiver.tries[delivery] = receiver.tries.get(delivery, 0) + 1
                    failing = self.path == "/flaky" and receiver.tries[delivery] <= 3
                    receiver.got.append(
                        {
                            "path": self.path,
                            "signed": ok,
                            "body": json.loads(body),
                            "status": 500 if failing else 200,
                        }
                    )
                time.sleep(0.02 if self.path == "/ok" else 0)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _outbox(engine, hook_id: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(select(t.deliveries).where(t.deliveries.c.webhook_id == hook_id)).mappings().all()
        )


def _wait_drained(engine, hook_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(
                select(t.deliveries.c.id).where(
                    t.deliveries.c.webhook_id.in_(hook_ids), t.deliveries.c.state == "pending"
                )
            ).all()
        if not left:
            return
        time.sleep(0.3)
    raise AssertionError(f"{len(left)} deliveries still pending")


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_alerts_reach_receivers_in_order_through_a_sigkill(loaded_book, store, receiver, tmp_path):
    book, data = loaded_book, loaded_book["data"]
    env = {
        **book_env(store, book["url"]),
        "FUNNELCAST_WEBHOOK_BACKOFF_SECONDS": "0.2",
        "FUNNELCAST_WEBHOOK_MAX_BACKOFF_SECONDS": "1",
        "FUNNELCAST_WEBHOOK_MAX_ATTEMPTS": "6",
        "FUNNELCAST_ALERT_COOLDOWN_MINUTES": "0",
    }
    proc, url, _ = start_server(env, tmp_path)
    port = int(url.rsplit(":", 1)[1])
    restarted = None
    try:
        wait_ready(url)
        admin = {**auth(ADMIN_KEY)}
        kinds = [
            "lead_hot",
            "lead_stale",
            "duplicate_lead",
            "deal_at_risk",
            "deal_critical",
            "deal_stalled",
            "close_date_pushed",
        ]
        hooks = {}
        for name, path, wanted in (
            ("ok", "/ok", kinds),
            ("flaky", "/flaky", ["lead_hot"]),
            ("dead", None, ["lead_hot"]),
        ):
            target = receiver.url(path) if path else f"http://127.0.0.1:{free_port()}/nobody"
            reply = httpx.post(
                f"{url}/v1/webhooks", json={"url": target, "kinds": wanted, "secret": SECRET}, headers=admin
            )
            assert reply.status_code == 201 and reply.json()["secret"] == SECRET
            hooks[name] = reply.json()["id"]
        listed = httpx.get(f"{url}/v1/webhooks", headers=admin).json()["webhooks"]
        assert {h["id"] for h in listed} == set(hooks.values()) and all("secret" not in h for h in listed)
        with httpx.Client(timeout=120, headers=auth()) as client:
            days = [book["day_d"] + k * DAY for k in range(11)]
            for start, end in zip(days[:-1], days[1:], strict=True):
                for method, path, body in day_batches(data, start, end):
                    assert client.request(method, f"{url}{path}", json=body).status_code == 200
        expected = _outbox(book["engine"], hooks["ok"])
        assert len(expected) > 30 and {"lead_hot", "deal_at_risk"} <= set(expected["kind"])
        while sum(g["path"] == "/ok" for g in receiver.got) < len(expected) // 4:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-delivery
        proc.wait(timeout=10)
        sent_before = sum(g["path"] == "/ok" for g in receiver.got)
        assert sent_before < len(expected), "the kill fell after every delivery"
        restarted, _, _ = start_server(env, tmp_path, port=port)
        wait_ready(url)
        _wait_drained(book["engine"], [hooks["ok"], hooks["flaky"]])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            failed = httpx.get(
                f"{url}/v1/webhooks/{hooks['dead']}/deliveries", params={"state": "failed"}, headers=admin
            )
            if len(failed.json()["deliveries"]) == len(_outbox(book["engine"], hooks["dead"])):
                break
            time.sleep(0.5)
        dead = failed.json()["deliveries"]
        assert dead and all(
            6 <= d["attempts"] <= 7 and d["last_error"] for d in dead
        )  # 7: one in flight at the kill
        replay = httpx.post(
            f"{url}/v1/webhooks/{hooks['dead']}/deliveries/{dead[0]['id']}/replay", headers=admin
        )
        assert replay.status_code == 202
    finally:
        stop(proc)
        if restarted is not None:
            stop(restarted)
    got = [g for g in receiver.got if g["path"] == "/ok"]
    assert all(g["signed"] for g in receiver.got)
    received = {g["body"]["id"] for g in got}
    assert set(expected["id"]) <= received  # nothing lost (duplicates allowed)
    first_seen: dict[tuple, list[int]] = {}
    seen = set()
    for g in got:
        b = g["body"]
        if b["id"] in seen:
            continue
        seen.add(b["id"])
        entity = b["data"].get("lead_id") or b["data"].get("opportunity_id")
        first_seen.setdefault(entity, []).append(b["id"])
    assert all(ids == sorted(ids) for ids in first_seen.values())  # in order per lead or deal
    flaky = _outbox(book["engine"], hooks["flaky"])
    assert len(flaky) and (flaky["state"] == "delivered").all() and (flaky["attempts"] >= 4).all()
    statuses = [
        g["status"] for g in receiver.got if g["path"] == "/flaky" and g["body"]["id"] == flaky["id"].iloc[0]
    ]
    assert statuses[:4] == [500, 500, 500, 200]


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_duplicates_are_named_and_a_handover_moves_a_pipeline_in_order(
    loaded_book, store, synthetic, tmp_path
):
    book, data = loaded_book, loaded_book["data"]
    proc, url, _ = start_server(book_env(store, book["url"]), tmp_path)
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, timeout=60, headers=auth()) as client:
            with book["engine"].connect() as conn:
                pair = conn.execute(
                    select(t.duplicates.c.lead_id, t.duplicates.c.other_id, t.duplicates.c.evidence)
                    .where(t.duplicates.c.other_entity == "lead")
                    .limit(1)
                ).one()
            found = client.get(f"/v1/leads/{pair.lead_id}/duplicates").json()["duplicates"]
            match = next(d for d in found if d["id"] == pair.other_id)
            assert match["owners"] and set(match["evidence"]) == set(pair.evidence.split("+"))
            lead = client.get(f"/v1/leads/{pair.lead_id}")
            assert lead.status_code != 200 or lead.json()["duplicates"] >= 1
            owner = data.opportunities.loc[data.opportunities["outcome"] == "open", "owner"].mode().iloc[0]
            listed = client.get("/v1/handover", params={"owner": owner}).json()["items"]
            assert listed and [i["order"] for i in listed] == list(range(1, len(listed) + 1))
            tiers = [i["tier"] for i in listed]
            assert tiers == sorted(tiers) and {i["contact"] for i in listed if i["tier"] == 1} <= {
                "in person"
            }
            for tier in set(tiers):
                deals = [i for i in listed if i["tier"] == tier and i["kind"] == "opportunity"]
                weights = [i["stage_weight"] or 0 for i in deals]
                assert weights == sorted(weights, reverse=True)
            moved = client.post(
                "/v1/handover", json={"owner": owner, "to": "新同事"}, headers=auth(ADMIN_KEY)
            ).json()
            assert moved["moved"] == len(listed)
            assert client.get("/v1/handover", params={"owner": owner}).json()["items"] == []
            first = listed[0]
            path = "/v1/opportunities" if first["kind"] == "opportunity" else "/v1/leads"
            history = client.get(f"{path}/{first['id']}/history").json()["changes"]
            assert history[-1]["trigger"] == "handover" and "新同事" in history[-1]["cause"]
            assert client.get(f"{path}/{first['id']}").json()["owner"] == "新同事"
    finally:
        stop(proc)
