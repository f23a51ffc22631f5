"""End to end: a real uvicorn server on a free 127.0.0.1 port, models trained in this session and
registered in a real MLflow sqlite registry, every route exercised over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import httpx
import joblib
import mlflow
import numpy as np
import pandas as pd
import payloads
import pytest
from servers import ADMIN_KEY, BIN, SCORING_KEY, auth, start_server, stop, wait_ready

from funnelcast.training.register import example_rows, register
from funnelcast.training.tracking import REGISTERED, alias_version, client

AS_OF = "2025-09-01T12:00:00Z"


def lead_payload(rows: pd.DataFrame) -> dict:
    return payloads.lead_payload(rows, AS_OF)


@pytest.fixture(scope="module")
def raw_leads(d20_data, lead_outcome):
    ids = lead_outcome.test_frame["lead_id"].drop_duplicates().head(8).tolist()
    rows = example_rows(d20_data[0], "lead", ids, pd.Timestamp(AS_OF))
    for col in ("activities",):  # account-level activities are not part of the lead payload
        rows[col] = [json.dumps([a for a in json.loads(v) if a["entity_type"] == "lead"]) for v in rows[col]]
    return rows


def test_scores_leads_and_matches_the_pyfunc(server, store, raw_leads):
    reply = httpx.post(
        f"{server['url']}/v1/leads/score", json=lead_payload(raw_leads), headers=auth(), timeout=30
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"]["name"] == REGISTERED["lead"] and body["model"]["feature_set"] == "lead_v1"
    results = body["results"]
    assert [r["lead_id"] for r in results] == raw_leads["lead_id"].tolist()
    for r in results:
        assert 0 <= r["probability"] <= 1 and r["score"] == pytest.approx(100 * r["probability"], abs=0.06)
        assert r["grade"] in ("Hot", "Warm", "Cold") and r["rule_grade"] in ("Hot", "Warm", "Cold")
        assert len(r["reasons"]["positive"]) <= 3 and len(r["reasons"]["negative"]) <= 3
        assert all(x["contribution"] > 0 for x in r["reasons"]["positive"])
    # the registered pyfunc takes the same items (issue 18) and says the same
    body_sent = lead_payload(raw_leads)
    # every column in every row (MLflow's schema check refuses the NaN pandas puts for a missing object)
    columns = ["lead", "activities", "account", "account_activities"]
    items = pd.DataFrame(
        [{**{c: it.get(c) for c in columns}, "as_of": body_sent["as_of"]} for it in body_sent["leads"]]
    )
    pyfunc = mlflow.pyfunc.load_model(f"models:/{REGISTERED['lead']}@champion").predict(items)
    assert (pyfunc["problems"] == "").all()
    np.testing.assert_allclose(
        [r["probability"] for r in results], pyfunc["probability"].to_numpy(), atol=1e-6
    )
    for r, up in zip(results, pyfunc["reasons_up"], strict=True):
        assert up == "; ".join(x["text"] for x in r["reasons"]["positive"])


def test_scores_opportunities_with_flags_and_chinese_stages(server):
    deal = {
        "as_of": "2025-06-01T00:00:00Z",
        "opportunities": [
            {
                "opportunity": {
                    "opportunity_id": "商机-1",
                    "account_id": "A1",
                    "owner": "王芳",
                    "pipeline": "default",
                    "product": "crm_suite",
                    "amount": 180000,
                    "currency": "CNY",
                    "created_at": "2025-03-01T00:00:00Z",
                },
                "stage_history": [
                    {"stage": "待沟通", "entered_at": "2025-03-01T00:00:00Z"},
                    {"stage": "明确需求", "entered_at": "2025-03-20T00:00:00Z"},
                ],
                "close_date_history": [
                    {"changed_at": "2025-03-01T00:00:00Z", "expected_close_date": "2025-04-15T00:00:00Z"},
                    {"changed_at": "2025-04-16T00:00:00Z", "expected_close_date": "2025-05-15T00:00:00Z"},
                    {"changed_at": "2025-05-16T00:00:00Z", "expected_close_date": "2025-05-30T00:00:00Z"},
                ],
                "activities": [
                    {
                        "activity_id": "a1",
                        "occurred_at": "2025-03-05T00:00:00Z",
                        "type": "call",
                        "contact_id": "c1",
                        "contact_role": "champion",
                    }
                ],
            }
        ],
    }
    reply = httpx.post(f"{server['url']}/v1/opportunities/score", json=deal, headers=auth(), timeout=30)
    assert reply.status_code == 200, reply.text
    r = reply.json()["results"][0]
    assert r["opportunity_id"] == "商机-1" and r["stage"] == "明确需求" and r["stage_weight"] == 0.5
    assert r["p_won_30d"] <= r["p_won_60d"] <= r["p_won_90d"] <= r["p_won"]
    codes = {f["code"] for f in r["risk_flags"]}
    assert {
        "close_date_pushed",
        "overdue",
        "skipped_stages",
        "first_stage_jump",
        "no_recent_activity",
        "single_contact",
        "no_decision_maker",
    } <= codes
    assert 0 <= r["health_score"] <= 100 and r["health"] in ("healthy", "at_risk", "critical")


def test_auth_limits_and_errors(server):
    url = server["url"]
    one = {"leads": [{"lead": {"lead_id": "x", "created_at": "2025-01-01T00:00:00Z", "source": "web"}}]}
    assert httpx.post(f"{url}/v1/leads/score", json=one).status_code == 401
    assert httpx.post(f"{url}/v1/leads/score", json=one, headers=auth("wrong")).status_code == 401
    assert httpx.post(f"{url}/v1/admin/reload", headers=auth()).status_code == 403
    assert httpx.post(f"{url}/v1/admin/reload").status_code == 401
    many = {"leads": one["leads"] * 51}
    too_many = httpx.post(f"{url}/v1/leads/score", json=many, headers=auth())
    assert too_many.status_code == 413 and "limit is 50" in too_many.json()["error"]["message"]
    huge = httpx.post(
        f"{url}/v1/leads/score",
        content=b"{" + b" " * 2_100_000 + b"}",
        headers={**auth(), "content-type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    bad = {
        "leads": [{"lead": {"lead_id": "x", "created_at": "yesterday", "source": "web", "budget_amount": -5}}]
    }
    reply = httpx.post(f"{url}/v1/leads/score", json=bad, headers=auth())
    fields = {d["field"] for d in reply.json()["error"]["details"]}
    assert reply.status_code == 422 and fields == {"leads.0.lead.created_at", "leads.0.lead.budget_amount"}
    nan = b'{"leads": [{"lead": {"lead_id": "x", "created_at": "2025-01-01", "source": "w", "employees": NaN}}]}'  # noqa: E501
    reply = httpx.post(
        f"{url}/v1/leads/score", content=nan, headers={**auth(), "content-type": "application/json"}
    )
    assert (
        reply.status_code == 422 and reply.json()["error"]["details"][0]["field"] == "leads.0.lead.employees"
    )
    times = {
        "leads": [
            {
                "lead": one["leads"][0]["lead"],
                "activities": [
                    {"activity_id": "a", "occurred_at": "last tuesday", "type": "web_visit"},
                    {"activity_id": "b", "occurred_at": "2025-01-01T00:00:00Z", "type": "web_visit"},
                ],
            }
        ]
    }
    reply = httpx.post(f"{url}/v1/leads/score", json=times, headers=auth())
    (detail,) = reply.json()["error"]["details"]
    assert reply.status_code == 422 and detail["field"] == "leads.0.activities.0.occurred_at"
    assert "ISO 8601" in detail["message"] and "\\d" not in detail["message"]  # no regular expression
    both = {"leads": [{**times["leads"][0], "lead": {**one["leads"][0]["lead"], "source": ""}}]}
    reply = httpx.post(f"{url}/v1/leads/score", json=both, headers=auth())  # every problem at once
    assert reply.status_code == 422 and {d["field"] for d in reply.json()["error"]["details"]} == {
        "leads.0.lead.source",
        "leads.0.activities.0.occurred_at",
    }
    times["leads"][0]["activities"][0]["occurred_at"] = "2025-02-30T10:00:00Z"  # the right shape, no such day
    reply = httpx.post(f"{url}/v1/leads/score", json=times, headers=auth())
    assert reply.status_code == 422
    assert [d["field"] for d in reply.json()["error"]["details"]] == ["leads.0.activities.0.occurred_at"]
    garbage = httpx.post(
        f"{url}/v1/leads/score", content=b"{not json", headers={**auth(), "content-type": "application/json"}
    )
    assert garbage.status_code == 422 and "error" in garbage.json()
    unknown_stage = {
        "opportunities": [
            {
                "opportunity": {
                    "opportunity_id": "o",
                    "account_id": "a",
                    "owner": "w",
                    "pipeline": "default",
                    "product": "p",
                    "amount": 1,
                    "currency": "CNY",
                    "created_at": "2025-01-01T00:00:00Z",
                },
                "stage_history": [{"stage": "nope", "entered_at": "2025-01-01T00:00:00Z"}],
            }
        ]
    }
    reply = httpx.post(f"{url}/v1/opportunities/score", json=unknown_stage, headers=auth())
    assert reply.status_code == 422
    assert reply.json()["error"]["details"][0]["field"] == "opportunities.0.stage_history.0.stage"
    assert httpx.get(f"{url}/nowhere").json()["error"]["code"] == "not_found"
    log = server["log"].read_text(encoding="utf-8")
    assert "Traceback" not in log and SCORING_KEY not in log and ADMIN_KEY not in log


def test_models_health_metrics(server):
    url = server["url"]
    models = httpx.get(f"{url}/v1/models", headers=auth()).json()
    kinds = {m["kind"]: m for m in models["models"]}
    assert set(kinds) == {"lead", "opportunity"} and kinds["lead"]["alias"] == "champion"
    assert kinds["lead"]["test_metrics"]["converted"]["roc_auc"] > 0.7
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").status_code == 200
    metrics = httpx.get(f"{url}/metrics").text
    assert 'funnelcast_requests_total{method="POST",route="/v1/leads/score",status="200"}' in metrics
    assert "funnelcast_request_seconds_bucket" in metrics and "funnelcast_records_scored_total" in metrics
    assert 'funnelcast_model_info{feature_set="lead_v1"' in metrics


LEAD_BODY = {
    "leads": [
        {
            "lead": {
                "lead_id": "x",
                "created_at": "2025-01-01T00:00:00Z",
                "source": "web",
                "contact_title": "CEO",
            }
        }
    ]
}
DEAL_BODY = {
    "opportunities": [
        {
            "opportunity": {
                "opportunity_id": "o",
                "account_id": "a",
                "owner": "w",
                "pipeline": "default",
                "product": "p",
                "amount": 1,
                "currency": "CNY",
                "created_at": "2025-01-01T00:00:00Z",
            },
            "stage_history": [{"stage": "待沟通", "entered_at": "2025-01-01T00:00:00Z"}],
        }
    ]
}


@pytest.mark.parametrize("rules_only", [False, True])
def test_not_ready_without_models(tmp_path, rules_only):
    """Without a model nothing is scored as if it were (503 not_ready), unless rules-only mode is set:
    then leads get the transparent BANT rule grade, said so, and deals still wait for their model."""
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty.db'}",
        "FUNNELCAST_MODELS_DIR": str(tmp_path / "none"),
        "FUNNELCAST_RULES_ONLY": "true" if rules_only else "false",
    }
    proc, url, _ = start_server(env, tmp_path)
    try:
        if rules_only:
            wait_ready(url)  # ready once the (absent) models were looked for
        else:
            time.sleep(1.0)
        ready = httpx.get(f"{url}/readyz")
        deal = httpx.post(f"{url}/v1/opportunities/score", json=DEAL_BODY)
        lead = httpx.post(f"{url}/v1/leads/score", json=LEAD_BODY)
        assert deal.status_code == 503 and deal.json()["error"]["code"] == "not_ready"
        if rules_only:
            assert ready.status_code == 200
            assert lead.status_code == 200 and lead.json()["model"]["name"] == "bant-rule-grade"
            assert lead.json()["results"][0]["probability"] is None
        else:
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
            assert lead.status_code == 503 and lead.json()["error"]["code"] == "not_ready"
    finally:
        stop(proc)


def test_hot_reload_under_load_and_broken_model_refused(server, store, lead_outcome, d20_data, config):
    """While a client scores continuously, champion moves to a new version and back; every request
    succeeds and names exactly one version. Then a truncated model is refused and the old one serves."""
    url, name = server["url"], REGISTERED["lead"]
    first = alias_version(name, "champion")
    data, report = d20_data
    second = register(lead_outcome, data, report.files, config).version
    payload = {
        "as_of": AS_OF,
        "leads": [
            {
                "lead": {
                    "lead_id": "L",
                    "created_at": "2025-08-01T00:00:00Z",
                    "source": "referral",
                    "contact_title": "CEO",
                }
            }
        ],
    }
    seen, failures, stop_flag = [], [], threading.Event()

    def hammer():
        with httpx.Client(timeout=30) as c:
            while not stop_flag.is_set():
                r = c.post(f"{url}/v1/leads/score", json=payload, headers=auth())
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    seen.append(r.json()["model"]["version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        for version in (second, first):
            time.sleep(0.5)
            client().set_registered_model_alias(name, "champion", version)
            reply = httpx.post(f"{url}/v1/admin/reload", headers=auth(ADMIN_KEY), timeout=60).json()
            lead = next(r for r in reply["results"] if r["kind"] == "lead")
            assert lead["result"] == "swapped" and lead["version"] == version
        time.sleep(0.5)
    finally:
        stop_flag.set()
        worker.join()
    assert not failures and len(seen) > 5
    assert set(seen) == {first, second} and all(v in (first, second) for v in seen)

    # a truncated model file: the version exists, its artefact is broken
    broken = register(lead_outcome, data, report.files, config).version
    model_id = client().get_model_version(name, broken).source.rsplit("/", 1)[-1]  # MLflow 3: models:/m-<id>
    stored = next((store["root"] / "mlartifacts").rglob(f"{model_id}/artifacts/artifacts/bundle.joblib"))
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 3])
    client().set_registered_model_alias(name, "champion", broken)
    reply = httpx.post(f"{url}/v1/admin/reload", headers=auth(ADMIN_KEY), timeout=60).json()
    lead = next(r for r in reply["results"] if r["kind"] == "lead")
    assert lead["result"] == "refused" and lead["version"] == first
    still = httpx.post(f"{url}/v1/leads/score", json=payload, headers=auth()).json()
    assert still["model"]["version"] == first
    assert 'funnelcast_reloads_total{kind="lead",result="refused"}' in httpx.get(f"{url}/metrics").text
    client().set_registered_model_alias(name, "champion", first)
    assert joblib  # the bundle format is joblib: truncation breaks it at load time


def test_bulk_scoring_matches_the_api(store, server, d20, d20_data, tmp_path):
    """`funnelcast score` uses the same features and model as the API: same probabilities."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": store["uri"],
        "FUNNELCAST_MODEL_SOURCE": "registry",
    }
    out = tmp_path / "scored.csv"
    done = subprocess.run(
        [str(BIN / "funnelcast"), "score", "leads", "--data", str(d20), "--out", str(out), "--as-of", AS_OF],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert table["probability"].is_monotonic_decreasing
    assert table["lead_id"].is_unique and set(table["grade"]) <= {"Hot", "Warm", "Cold"}
    leads = d20_data[0].leads
    as_of = pd.Timestamp(AS_OF)
    open_ = (
        (leads["created_at"] <= as_of)
        & ~(leads["converted_at"] <= as_of)
        & ~(leads["disqualified_at"] <= as_of)
    )
    assert len(table) == int(open_.sum())
    sample = table.head(5)
    items = []
    for lead_id in sample["lead_id"]:
        row = leads[leads["lead_id"] == lead_id].iloc[0]
        acts = d20_data[0].activities
        mine = acts[
            (acts["entity_type"] == "lead") & (acts["entity_id"] == lead_id) & (acts["occurred_at"] <= as_of)
        ]
        lead = {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in row.items()
            if k not in ("converted_at", "disqualified_at", "disqualify_reason") and pd.notna(v)
        }
        items.append(
            {
                "lead": lead,
                "activities": [
                    {
                        "activity_id": a.activity_id,
                        "occurred_at": a.occurred_at.isoformat(),
                        "type": a.type,
                        **({"value": a.value} if pd.notna(a.value) else {}),
                    }
                    for a in mine.itertuples()
                ],
            }
        )
        account = d20_data[0].accounts[d20_data[0].accounts["account_id"] == row["account_id"]]
        if len(account):
            items[-1]["account"] = {k: v for k, v in account.iloc[0].items() if pd.notna(v)}
            visits = acts[
                (acts["entity_type"] == "account")
                & (acts["entity_id"] == row["account_id"])
                & (acts["occurred_at"] <= as_of)
            ]
            items[-1]["account_activities"] = [
                {
                    "activity_id": a.activity_id,
                    "occurred_at": a.occurred_at.isoformat(),
                    "type": a.type,
                    **({"value": a.value} if pd.notna(a.value) else {}),
                }
                for a in visits.itertuples()
            ]
    reply = httpx.post(
        f"{server['url']}/v1/leads/score", json={"as_of": AS_OF, "leads": items}, headers=auth(), timeout=60
    ).json()
    api = {r["lead_id"]: r for r in reply["results"]}
    for rec in sample.itertuples():
        said = api[rec.lead_id]
        assert said["probability"] == pytest.approx(rec.probability, abs=2e-6)
        # the same reasons in the same plain words (issue 17: the CSV no longer reads like code)
        for column, side in (("reasons_up", "positive"), ("reasons_down", "negative")):
            texts = "; ".join(r["text"] for r in said["reasons"][side])
            assert (getattr(rec, column) if isinstance(getattr(rec, column), str) else "") == texts
            assert "(+" not in texts and "bant_rule_points" not in texts
