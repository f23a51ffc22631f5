"""/v1/funnel and /v1/forecast over HTTP on the real test server: same numbers as the analytics code
run in process on the same records; errors are clear 4xx, never 500."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import auth

from funnelcast.analytics.forecast import forecast
from funnelcast.analytics.funnel import funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
from funnelcast.features.history import Rates
from funnelcast.features.io import CRMData
from funnelcast.features.known import known_at

AS_OF = pd.Timestamp("2025-09-01T00:00:00Z")
END = pd.Timestamp("2025-11-30T23:59:59Z")


def _iso(t) -> str | None:
    return None if pd.isna(t) else pd.Timestamp(t).isoformat()


def _deal_items(data: CRMData, ids: list[str], closed: bool) -> list[dict]:
    opps = data.opportunities.set_index("opportunity_id")
    accounts = data.accounts.set_index("account_id")
    items = []
    for oid in ids:
        o = opps.loc[oid]
        opportunity = {
            "opportunity_id": oid,
            "account_id": o["account_id"],
            "owner": o["owner"],
            "pipeline": o["pipeline"],
            "product": o["product"],
            "amount": float(o["amount"]),
            "currency": o["currency"],
            "created_at": _iso(o["created_at"]),
            "expected_close_date": _iso(o["expected_close_date"]),
        }
        if not pd.isna(o["lead_id"]):
            opportunity["lead_id"] = o["lead_id"]
        stages = data.stage_history[data.stage_history["opportunity_id"] == oid]
        item = {
            "opportunity": opportunity,
            "stage_history": [
                {"stage": s, "entered_at": _iso(t)}
                for s, t in zip(stages["stage"], stages["entered_at"], strict=True)
            ],
        }
        a = accounts.loc[o["account_id"]]
        item["account"] = {
            "account_id": o["account_id"],
            "name": a["name"],
            **{k: a[k] for k in ("industry", "region") if not pd.isna(a[k])},
            **{k: float(a[k]) for k in ("employees", "annual_revenue") if not pd.isna(a[k])},
        }
        if closed:
            item.update(
                {
                    "outcome": o["outcome"],
                    "closed_at": _iso(o["closed_at"]),
                    "loss_reason": None if pd.isna(o["loss_reason"]) else o["loss_reason"],
                }
            )
        else:
            acts = data.activities[
                (data.activities["entity_type"] == "opportunity") & (data.activities["entity_id"] == oid)
            ]
            item["activities"] = [
                {
                    "activity_id": r.activity_id,
                    "occurred_at": _iso(r.occurred_at),
                    "type": r.type,
                    **({"value": float(r.value)} if not pd.isna(r.value) else {}),
                    **({"contact_id": r.contact_id} if not pd.isna(r.contact_id) else {}),
                    **({"contact_role": r.contact_role} if not pd.isna(r.contact_role) else {}),
                }
                for r in acts.itertuples()
            ]
            for name, col in (("close_date_history", "expected_close_date"), ("amount_history", "amount")):
                hist = getattr(data, name)
                hist = hist[hist["opportunity_id"] == oid]
                item[name] = [
                    {"changed_at": _iso(t), col: (float(v) if col == "amount" else _iso(v))}
                    for t, v in zip(hist["changed_at"], hist[col], strict=True)
                ]
        items.append(item)
    return items


@pytest.fixture(scope="module")
def known(d20_data):
    return known_at(d20_data[0], AS_OF)


def test_funnel_over_http_equals_the_in_process_report(server, known, config):  # noqa: F811
    ids = known.opportunities["opportunity_id"].head(400).tolist()
    body = {
        "as_of": AS_OF.isoformat(),
        "by": "pipeline",
        "opportunities": _deal_items(known, ids, closed=True),
    }
    reply = httpx.post(f"{server['url']}/v1/funnel", json=body, headers=auth(), timeout=60)
    assert reply.status_code == 200, reply.text
    got = reply.json()
    subset = CRMData(
        known.accounts,
        known.leads.iloc[:0],
        known.activities.iloc[:0],
        known.opportunities[known.opportunities["opportunity_id"].isin(ids)],
        known.stage_history[known.stage_history["opportunity_id"].isin(ids)],
        known.close_date_history.iloc[:0],
        known.amount_history.iloc[:0],
    )
    expected = funnel_report(subset, config, AS_OF, by="pipeline")
    api = pd.DataFrame(got["stages"])
    for col in ("entered", "progressed", "dropped", "open_now", "closed"):
        assert api[col].tolist() == expected.stages[col].tolist(), col
    np.testing.assert_allclose(
        api["cohort_conversion"].astype(float), expected.stages["cohort_conversion"], atol=1e-6
    )
    assert {d["opportunity_id"] for d in got["hidden_deals"]} == set(expected.hidden["opportunity_id"])
    assert any(s["stage"] == "明确需求" for s in got["stages"])


def test_forecast_over_http_equals_the_in_process_forecast(server, known, config, opportunity_outcome):  # noqa: F811
    open_ids = (
        known.opportunities.loc[known.opportunities["outcome"] == "open", "opportunity_id"].head(150).tolist()
    )
    body = {
        "as_of": AS_OF.isoformat(),
        "period_end": END.isoformat(),
        "target": 1e7,
        "by": "owner",
        "seed": 5,
        "opportunities": _deal_items(known, open_ids, closed=False),
    }
    reply = httpx.post(f"{server['url']}/v1/forecast", json=body, headers=auth(), timeout=60)
    assert reply.status_code == 200, reply.text
    got = reply.json()
    keep = known.opportunities["opportunity_id"].isin(open_ids)
    acts = known.activities
    subset = CRMData(
        known.accounts,
        known.leads.iloc[:0],
        acts[(acts["entity_type"] == "opportunity") & acts["entity_id"].isin(open_ids)],
        known.opportunities[keep],
        known.stage_history[known.stage_history["opportunity_id"].isin(open_ids)],
        known.close_date_history[known.close_date_history["opportunity_id"].isin(open_ids)],
        known.amount_history[known.amount_history["opportunity_id"].isin(open_ids)],
    )
    bundle = opportunity_outcome.bundle
    deals = deal_inputs(subset, AS_OF, END, config, bundle.predict, Rates.from_dict(bundle.rates))
    expected = forecast(
        deals,
        AS_OF,
        END,
        target=1e7,
        seed=5,
        group="owner",
        logit_sd=period_logit_sd(bundle.metadata, (END - AS_OF) / pd.Timedelta(days=1)),
    )
    assert got["open_deals"] == 150 and got["model"]["name"] == "funnelcast-win-probability"
    for method, value in expected.expected.items():
        assert got["expected"][method] == pytest.approx(value, rel=1e-6), method
    assert got["distribution"]["p50"] == pytest.approx(expected.quantiles["p50"], rel=1e-6)
    assert got["p_reaching_target"] == pytest.approx(expected.p_target)
    assert sum(g["open_deals"] for g in got["by_group"]) == 150


def test_forecast_and_funnel_errors_are_clear(server):  # noqa: F811
    url = server["url"]
    deal = {
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
    early = httpx.post(
        f"{url}/v1/forecast",
        json={"as_of": "2025-06-01T00:00:00Z", "period_end": "2025-05-01", "opportunities": [deal]},
        headers=auth(),
    )
    assert early.status_code == 422 and early.json()["error"]["details"][0]["field"] == "period_end"
    few = httpx.post(
        f"{url}/v1/forecast",
        json={"period_end": "2030-01-01", "draws": 10, "opportunities": [deal]},
        headers=auth(),
    )
    assert few.status_code == 422 and few.json()["error"]["details"][0]["field"] == "draws"
    closed = {**deal, "outcome": "won"}
    reply = httpx.post(f"{url}/v1/funnel", json={"opportunities": [closed]}, headers=auth())
    assert (
        reply.status_code == 422
        and reply.json()["error"]["details"][0]["field"] == "opportunities.0.closed_at"
    )
    assert httpx.post(f"{url}/v1/funnel", json={"opportunities": [closed]}).status_code == 401
