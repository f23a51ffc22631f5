"""Keeping scores: the latest score of each lead and deal (the API's answer, with the columns lists
filter and sort on) and a history row whenever a grade (health band) changes or the score moves by at
least `min_change` points, naming what moved it: an event, the clock or a new model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, case, select

from funnelcast.book import alerts
from funnelcast.book import tables as t
from funnelcast.book.sql import Many, among, chunks, plain_rows, prepare_many, run_many
from funnelcast.book.sql import upsert_statement as _insert

TRIGGERS = ("event", "clock", "model", "load")


def _previous(conn: Connection, table, key: str, cols: Sequence[str], ids: Sequence[str]) -> dict[str, dict]:
    out = {}
    for part in chunks(sorted(set(ids))):
        q = select(table.c[key], *[table.c[c] for c in cols]).where(among(conn, table.c[key], part))
        names, rows = plain_rows(conn, q)
        out.update({r[0]: dict(zip(names, r, strict=True)) for r in rows})
    return out


PREVIOUS = {
    "lead": (t.lead_scores, "lead_id", ["grade", "score", "grade_since", "model_version", "stale"]),
    "opportunity": (
        t.deal_scores,
        "opportunity_id",
        ["health", "health_score", "health_since", "model_version", "result"],
    ),
}


def previous(conn: Connection, kind: str, ids: Sequence[str]) -> dict[str, dict]:
    """The stored scores of these leads (deals) that a new score is compared with (`before` of the
    prepare functions, read with the records; the scorer saves only while no other save came
    between)."""
    table, key, cols = PREVIOUS[kind]
    return _previous(conn, table, key, cols, ids)


def _upsert(bind, table, key: str, rows: list[dict]) -> Many:
    if not rows:
        return Many(None, [])
    stmt = _insert(bind, table)  # one statement, executed for many rows
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in rows[0] if c != key}
    )
    return prepare_many(bind, stmt, rows)


def _moved(kind: str, entity_id: str, at: str, was: tuple, now: tuple, **why) -> dict:
    """A score_history row: (grade, score) before and after, and what moved it (trigger, cause,
    model_version, reasons)."""
    return {
        "kind": kind,
        "entity_id": entity_id,
        "at": at,
        "from_grade": was[0],
        "to_grade": now[0],
        "from_score": was[1],
        "to_score": now[1],
        **why,
    }


def _advance_clock(conn: Connection, as_of: str) -> None:
    """The book's clock moves to `as_of` if that is later (`funnelcast.book.reads.clock`)."""
    c = t.clock.c
    stmt = _insert(conn, t.clock).values(name="scores", as_of=as_of)
    later = case((stmt.excluded.as_of > c.as_of, stmt.excluded.as_of), else_=c.as_of)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"as_of": later}))


def _history(bind, rows: list[dict]) -> Many:
    return prepare_many(bind, t.score_history.insert(), rows)


@dataclass
class Prepared:
    """Scores ready to store (`store`): the score rows and history rows with their parameters made,
    and the alerts they raise and clear. Made before the writer's turn from the stored scores read with
    the records (`before`), so the turn only writes."""

    scores: Many
    history: Many
    n_history: int
    as_of: str
    now: str
    raised: list = field(default_factory=list)
    cleared: list = field(default_factory=list)
    cooldown: float | None = None


def store(conn: Connection, prepared: Prepared) -> int:
    """Write prepared scores in the caller's transaction. Returns how many history rows it wrote."""
    run_many(conn, prepared.scores)
    if prepared.scores.rows:
        _advance_clock(conn, prepared.as_of)
    run_many(conn, prepared.history)
    if prepared.cooldown is not None:
        alerts.record(
            conn, prepared.raised, prepared.cleared, now=prepared.now, cooldown_seconds=prepared.cooldown
        )
    return prepared.n_history


def prepare_lead_scores(
    bind,
    results: list[dict],
    who: dict[str, dict],
    *,
    as_of: str,
    now: str,
    trigger: str,
    causes: dict[str, str],
    model_version: str | None,
    min_change: float,
    cooldown: float | None = None,
    before: dict[str, dict],
) -> Prepared:
    """What storing these LeadScore results (as of `as_of`) writes, for `store`: `who` holds each lead's
    owner and source; a history row where the grade changed or the score moved by `min_change`
    against the stored score `before` (id -> `previous`); with a `cooldown` (seconds), the alerts
    raised and cleared. `bind` is the connection or engine whose dialect the parameters are made for."""
    rows, history, raised, cleared = [], [], [], []
    for r in results:
        lid, grade, score = r["lead_id"], r["grade"], r["score"]
        prev = before.get(lid)
        moved = prev is None or prev["grade"] != grade
        if prev is not None and not moved and score is not None and prev["score"] is not None:
            moved = abs(score - prev["score"]) >= min_change
        probability = r["probability"]
        rows.append(
            {
                "lead_id": lid,
                "probability": probability,
                "score": score,
                "priority": probability if probability is not None else r["rule_points"] / 100.0,
                "grade": grade,
                "stale": bool(r["stale"]),
                "owner": who.get(lid, {}).get("owner"),
                "source": who.get(lid, {}).get("source"),
                "grade_since": as_of if prev is None or prev["grade"] != grade else prev["grade_since"],
                "as_of": as_of,
                "scored_at": now,
                "model_version": model_version,
                "result": r,
            }
        )
        if cooldown is not None:
            up, down = alerts.lead_changes(prev, r, as_of)
            raised += up
            cleared += down
        if moved:
            was = (prev["grade"], prev["score"]) if prev else (None, None)
            history.append(
                _moved(
                    "lead",
                    lid,
                    as_of,
                    was,
                    (grade, score),
                    trigger=trigger,
                    cause=causes.get(lid),
                    model_version=model_version,
                    reasons=r["reasons"],
                )
            )
    return Prepared(
        _upsert(bind, t.lead_scores, "lead_id", rows),
        _history(bind, history),
        len(history),
        as_of,
        now,
        raised,
        cleared,
        cooldown,
    )


def prepare_deal_scores(
    bind,
    results: list[dict],
    who: dict[str, dict],
    *,
    as_of: str,
    now: str,
    trigger: str,
    causes: dict[str, str],
    model_version: str | None,
    min_change: float,
    cooldown: float | None = None,
    before: dict[str, dict],
) -> Prepared:
    """What storing these OpportunityScore results writes, for `store` (as `prepare_lead_scores`):
    `who` holds each deal's owner, pipeline and amount (in the base currency, None when unknown); the
    list order is risk x amount: (100 - health) / 100 x amount."""
    rows, history, raised, cleared = [], [], [], []
    for r in results:
        oid, band, score = r["opportunity_id"], r["health"], r["health_score"]
        prev = before.get(oid)
        moved = prev is None or prev["health"] != band or abs(score - prev["health_score"]) >= min_change
        info = who.get(oid, {})
        amount = info.get("amount")
        if cooldown is not None:
            up, down = alerts.deal_changes(prev["result"] if prev else None, r, as_of)
            raised += up
            cleared += down
        rows.append(
            {
                "opportunity_id": oid,
                "p_won": r["p_won"],
                "health_score": score,
                "health": band,
                "priority": (100.0 - score) / 100.0 * (amount or 0.0),
                "n_flags": len(r["risk_flags"]),
                "owner": info.get("owner"),
                "pipeline": info.get("pipeline"),
                "stage": r["stage"],
                "amount": amount,
                "health_since": as_of if prev is None or prev["health"] != band else prev["health_since"],
                "as_of": as_of,
                "scored_at": now,
                "model_version": model_version,
                "result": r,
            }
        )
        if moved:
            was = (prev["health"], prev["health_score"]) if prev else (None, None)
            history.append(
                _moved(
                    "opportunity",
                    oid,
                    as_of,
                    was,
                    (band, score),
                    trigger=trigger,
                    cause=causes.get(oid),
                    model_version=model_version,
                    reasons=r["reasons"],
                )
            )
    return Prepared(
        _upsert(bind, t.deal_scores, "opportunity_id", rows),
        _history(bind, history),
        len(history),
        as_of,
        now,
        raised,
        cleared,
        cooldown,
    )


def close_scores(
    conn: Connection, kind: str, closed: dict[str, str], *, as_of: str, cause: dict[str, str]
) -> int:
    """Leads converted or disqualified (deals won or lost) by as_of leave the lists: their score row goes
    and a history row says how they ended (`closed` maps id -> converted / disqualified / won / lost)."""
    table, key, grade_col, score_col = (
        (t.lead_scores, "lead_id", "grade", "score")
        if kind == "lead"
        else (t.deal_scores, "opportunity_id", "health", "health_score")
    )
    before = _previous(conn, table, key, [grade_col, score_col], list(closed))
    history = [
        _moved(
            kind,
            i,
            as_of,
            (prev[grade_col], prev[score_col]),
            (closed[i], None),
            trigger="event",
            cause=cause.get(i),
            model_version=None,
            reasons=None,
        )
        for i, prev in before.items()
    ]
    for part in chunks(sorted(before)):
        conn.execute(table.delete().where(among(conn, table.c[key], part)))
    run_many(conn, _history(conn, history))
    return len(history)
