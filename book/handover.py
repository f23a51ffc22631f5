"""Handing a leaving rep's pipeline over in order: the bottom of the funnel first (stages weighted 75 %
and more: meet them in person), then the middle (50 %: call them), then the top of the funnel and the
open leads (write, then call); within a tier by stage weight, amount and health (at risk first). With
a new owner, every open deal and lead moves to them, and each move is in the score history."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from funnelcast.book import tables as t

TIERS = (
    (0.75, 1, "in person"),
    (0.5, 2, "by phone"),
    (0.0, 3, "by email, then phone"),
)


def tier_of(weight: float | None) -> tuple[int, str]:
    for floor, tier, mode in TIERS:
        if (weight or 0.0) >= floor:
            return tier, mode
    return TIERS[-1][1], TIERS[-1][2]


def handover_list(conn: Connection, owner: str, weights: dict[tuple[str, str], float]) -> list[dict]:
    """The owner's open deals and leads in handover order, each with its tier and contact mode.
    `weights` maps (pipeline, stage) to the configured stage weight."""
    o, s, a = t.opportunities.c, t.deal_scores.c, t.accounts.c
    deals = conn.execute(
        select(
            o.opportunity_id,
            o.pipeline,
            o.amount,
            o.currency,
            s.stage,
            s.health,
            s.health_score,
            s.amount.label("amount_base"),
            s.p_won,
            a.name.label("account"),
        )
        .select_from(t.opportunities.outerjoin(t.deal_scores, s.opportunity_id == o.opportunity_id))
        .outerjoin(t.accounts, a.account_id == o.account_id)
        .where(o.owner == owner, o.outcome == "open")
    ).all()
    items = []
    for d in deals:
        weight = weights.get((d.pipeline, d.stage)) if d.stage else None
        tier, mode = tier_of(weight)
        items.append(
            {
                "kind": "opportunity",
                "id": d.opportunity_id,
                "name": d.account,
                "tier": tier,
                "contact": mode,
                "stage": d.stage,
                "stage_weight": weight,
                "amount": d.amount_base if d.amount_base is not None else d.amount,
                "health": d.health,
                "health_score": d.health_score,
                "grade": None,
                "probability": d.p_won,
            }
        )
    lead, ls = t.leads.c, t.lead_scores.c
    leads = conn.execute(
        select(lead.lead_id, lead.company, a.name.label("account"), ls.grade, ls.probability)
        .select_from(t.leads.outerjoin(t.lead_scores, ls.lead_id == lead.lead_id))
        .outerjoin(t.accounts, a.account_id == lead.account_id)
        .where(lead.owner == owner, lead.converted_at.is_(None), lead.disqualified_at.is_(None))
    ).all()
    for r in leads:
        items.append(
            {
                "kind": "lead",
                "id": r.lead_id,
                "name": r.company or r.account,
                "tier": TIERS[-1][1],
                "contact": TIERS[-1][2],
                "stage": None,
                "stage_weight": None,
                "amount": None,
                "health": None,
                "health_score": None,
                "grade": r.grade,
                "probability": r.probability,
            }
        )

    def order(item: dict) -> tuple:
        deal = item["kind"] == "opportunity"
        return (
            item["tier"],
            0 if deal else 1,
            -(item["stage_weight"] or 0.0),
            -(item["amount"] or 0.0),
            item["health_score"] if item["health_score"] is not None else 100.0,
            -(item["probability"] or 0.0),
            item["id"],
        )

    items.sort(key=order)
    for i, item in enumerate(items, 1):
        item["order"] = i
    return items


def reassign(conn: Connection, items: list[dict], owner: str, to: str, at: str) -> int:
    """Move these deals and leads from `owner` to `to`, in the book and its lists, with a history row
    each (trigger `handover`). Returns how many moved."""
    deal_ids = [i["id"] for i in items if i["kind"] == "opportunity"]
    lead_ids = [i["id"] for i in items if i["kind"] == "lead"]
    cause = f"handed over from {owner} to {to}"
    history = []
    if deal_ids:
        conn.execute(
            update(t.opportunities).where(t.opportunities.c.opportunity_id.in_(deal_ids)).values(owner=to)
        )
        conn.execute(
            update(t.deal_scores).where(t.deal_scores.c.opportunity_id.in_(deal_ids)).values(owner=to)
        )
    if lead_ids:
        conn.execute(update(t.leads).where(t.leads.c.lead_id.in_(lead_ids)).values(owner=to))
        conn.execute(update(t.lead_scores).where(t.lead_scores.c.lead_id.in_(lead_ids)).values(owner=to))
    for item in items:
        grade = item["health"] if item["kind"] == "opportunity" else item["grade"]
        score = (
            item["health_score"]
            if item["kind"] == "opportunity"
            else (None if item["probability"] is None else round(100 * item["probability"], 1))
        )
        history.append(
            {
                "kind": item["kind"],
                "entity_id": item["id"],
                "at": at,
                "from_grade": grade,
                "to_grade": grade or "unscored",
                "from_score": score,
                "to_score": score,
                "trigger": "handover",
                "cause": f"{cause} (tier {item['tier']}: {item['contact']})",
                "model_version": None,
                "reasons": None,
            }
        )
    if history:
        conn.execute(t.score_history.insert(), history)
    return len(items)
