"""Alerts (预警): what changed in a score that a rep must act on, raised once per entity and kind until
the condition clears (and not again within a cool-down after it last went out), and put in the outbox
of every webhook that wants that kind, in the transaction that changed the score."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, select

from funnelcast.book import tables as t
from funnelcast.book.sql import among, chunks
from funnelcast.book.sql import upsert_statement as _insert

KINDS = {
    "lead_hot": "a lead became Hot",
    "lead_stale": "a lead became stale (older than its source's usual time to convert)",
    "duplicate_lead": "a lead matches an open lead or an account of the same customer (撞单)",
    "deal_at_risk": "a deal's health fell to at_risk",
    "deal_critical": "a deal's health fell to critical",
    "deal_stalled": "a deal stalled beyond its stage's usual dwell or its SLA",
    "close_date_pushed": "a deal's expected close date was pushed again",
}
_PUSHES = re.compile(r"pushed (\d+) times")


@dataclass
class Alert:
    kind: str
    entity: str  # lead / opportunity
    entity_id: str
    payload: dict


def _flags(result: dict | None) -> dict[str, str]:
    return {f["code"]: f["message"] for f in (result or {}).get("risk_flags", [])}


def lead_changes(prev: dict | None, new: dict, at: str) -> tuple[list[Alert], list[tuple[str, str, str]]]:
    """Alerts raised and conditions cleared by a lead's new score (`prev`: its last stored score)."""
    raised, cleared = [], []
    lid = new["lead_id"]
    base = {"lead_id": lid, "at": at, "probability": new["probability"], "grade": new["grade"]}
    if new["grade"] == "Hot":
        if prev is None or prev.get("grade") != "Hot":
            why = [r["text"] for r in new["reasons"]["positive"][:3]]
            raised.append(
                Alert("lead_hot", "lead", lid, {**base, "from_grade": prev and prev.get("grade"), "why": why})
            )
    else:
        cleared.append(("lead_hot", "lead", lid))
    if new["stale"]:
        if prev is None or not prev.get("stale"):
            raised.append(Alert("lead_stale", "lead", lid, {**base, "stale_reason": new["stale_reason"]}))
    else:
        cleared.append(("lead_stale", "lead", lid))
    return raised, cleared


def deal_changes(prev: dict | None, new: dict, at: str) -> tuple[list[Alert], list[tuple[str, str, str]]]:
    """Alerts raised and conditions cleared by a deal's new score (`prev`: its last stored result)."""
    raised, cleared = [], []
    oid = new["opportunity_id"]
    before, now = _flags(prev), _flags(new)
    base = {
        "opportunity_id": oid,
        "at": at,
        "p_won": new["p_won"],
        "health": new["health"],
        "health_score": new["health_score"],
        "stage": new["stage"],
    }
    old_band = prev.get("health") if prev else None
    for band, kind in (("at_risk", "deal_at_risk"), ("critical", "deal_critical")):
        if new["health"] == band:
            if old_band != band:
                raised.append(
                    Alert(
                        kind,
                        "opportunity",
                        oid,
                        {**base, "from_health": old_band, "flags": list(now.values())},
                    )
                )
        else:
            cleared.append((kind, "opportunity", oid))
    if "stalled" in now or "over_sla" in now:
        if prev is None or not ("stalled" in before or "over_sla" in before):
            said = now.get("stalled") or now.get("over_sla")
            raised.append(Alert("deal_stalled", "opportunity", oid, {**base, "flag": said}))
    else:
        cleared.append(("deal_stalled", "opportunity", oid))
    pushes = _PUSHES.search(now.get("close_date_pushed", ""))
    pushed_before = _PUSHES.search(before.get("close_date_pushed", ""))
    if pushes and (pushed_before is None or int(pushes.group(1)) > int(pushed_before.group(1))):
        raised.append(
            Alert("close_date_pushed", "opportunity", oid, {**base, "flag": now["close_date_pushed"]})
        )
    cleared.append(("close_date_pushed", "opportunity", oid))  # each new push is news again
    return raised, cleared


def subscribers(conn: Connection) -> dict[str, list[str]]:
    """Alert kind -> ids of the webhooks that want it."""
    out: dict[str, list[str]] = {}
    for hook_id, kinds in conn.execute(select(t.webhooks.c.id, t.webhooks.c.kinds)):
        for kind in kinds:
            out.setdefault(kind, []).append(hook_id)
    return out


def record(
    conn: Connection,
    raised: list[Alert],
    cleared: list[tuple[str, str, str]],
    *,
    now: str,
    cooldown_seconds: float,
) -> int:
    """Put each raised alert in the outbox of its subscribers, unless the same alert is still active
    or last went out within the cool-down; mark cleared conditions. Returns deliveries queued."""
    hooks = subscribers(conn)
    if not hooks:
        return 0
    wanted = [a for a in raised if a.kind in hooks]
    keys = [(a.kind, a.entity, a.entity_id) for a in wanted] + [c for c in cleared if c[0] in hooks]
    state: dict[tuple, dict] = {}
    a = t.alert_state.c
    wanted_keys = set(keys)
    # by entity id (the primary key's last column has no index of its own; a row-value IN would scan)
    for part in chunks(sorted({key[2] for key in wanted_keys})):
        q = select(a.kind, a.entity, a.entity_id, a.active, a.last_sent_at).where(
            among(conn, a.entity_id, part)
        )
        for r in conn.execute(q):
            if (r.kind, r.entity, r.entity_id) in wanted_keys:
                state[(r.kind, r.entity, r.entity_id)] = {"active": r.active, "last_sent_at": r.last_sent_at}
    from datetime import datetime

    now_dt = datetime.fromisoformat(now.replace("Z", "+00:00"))
    rows, states = [], []
    for alert in wanted:
        key = (alert.kind, alert.entity, alert.entity_id)
        seen = state.get(key)
        if seen and seen["active"]:
            continue
        recent = (
            seen is not None
            and seen["last_sent_at"] is not None
            and (now_dt - datetime.fromisoformat(seen["last_sent_at"].replace("Z", "+00:00"))).total_seconds()
            < cooldown_seconds
        )
        states.append(
            {
                "kind": alert.kind,
                "entity": alert.entity,
                "entity_id": alert.entity_id,
                "active": True,
                "last_sent_at": seen["last_sent_at"] if recent else now,
            }
        )
        if recent:
            continue
        for hook in hooks[alert.kind]:
            rows.append(
                {
                    "webhook_id": hook,
                    "kind": alert.kind,
                    "entity": alert.entity,
                    "entity_id": alert.entity_id,
                    "payload": {"kind": alert.kind, "description": KINDS[alert.kind], **alert.payload},
                    "created_at": now,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
    raised_keys = {(a.kind, a.entity, a.entity_id) for a in wanted}
    for key in cleared:
        if key in state and state[key]["active"] and key not in raised_keys:
            states.append(
                {
                    "kind": key[0],
                    "entity": key[1],
                    "entity_id": key[2],
                    "active": False,
                    "last_sent_at": state[key]["last_sent_at"],
                }
            )
    if states:
        stmt = _insert(conn, t.alert_state)
        stmt = stmt.on_conflict_do_update(
            index_elements=["kind", "entity", "entity_id"],
            set_={"active": stmt.excluded.active, "last_sent_at": stmt.excluded.last_sent_at},
        )
        conn.execute(stmt, list({(s["kind"], s["entity"], s["entity_id"]): s for s in states}.values()))
    if rows:
        conn.execute(t.deliveries.insert(), rows)
    return len(rows)
