"""Re-grading outside the write transaction (serving/regrade.py): a score is computed from a read of
the book and saved later, so the save keeps only what is still current. Interleavings played out
step by step in process on the loaded book."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from funnelcast.book import tables as t
from funnelcast.book import writes
from funnelcast.serving import schemas as s
from funnelcast.serving.ingestion import rows_of
from funnelcast.serving.regrade import now_text


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_a_score_read_before_a_later_write_is_never_saved_over_it(loaded_book, config):
    scorer, engine = loaded_book["scorer"], loaded_book["engine"]
    as_of = loaded_book["day_d"].strftime("%Y-%m-%dT%H:%M:%SZ")
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(t.lead_scores.c.lead_id)).scalars())[:6]
    model = scorer.registry.scoring_model("lead")
    stages = {p.key: set(p.stage_keys) for p in config.funnel.pipelines}

    def write(tag: str, kind: str) -> str:
        """One batch (an activity on each lead) and its queue entries; returns their `since`."""
        body = s.ActivityBatch.model_validate(
            {
                "activities": [
                    {"activity_id": f"{tag}-{i}", "entity_type": "lead", "entity_id": i}
                    | {"occurred_at": as_of, "type": kind}
                    for i in ids
                ]
            }
        )
        now = now_text()
        with scorer.writing() as conn:
            writes.write_batch(
                conn,
                "activities",
                rows_of("activities", body.activities),
                now=now,
                as_of=as_of,
                stages=stages,
            )
        return now

    def read(conn_ids=ids):
        with engine.connect() as conn:
            return scorer.compute(conn, model, "lead", conn_ids, as_of)

    # an ingestion reads, a later batch on the same leads is written and scored, then the first saves
    first = write("A", "demo_request")
    first_read_at = now_text()
    stale = read()
    second = write("B", "meeting")
    assert scorer.score("lead", ids, as_of, "event", {}, tickets=dict.fromkeys(ids, second)) == len(ids)
    with scorer.writing() as conn:
        assert writes.current(conn, "lead", ids, dict.fromkeys(ids, first), first_read_at) == set()
        assert (
            writes.current(conn, "lead", ids, dict.fromkeys(ids, second), first_read_at) == set()
        )  # answered
    fresh = read()
    assert [r["probability"] for r in stale.results] != [r["probability"] for r in fresh.results]

    # a clock pass that read before a batch was written (and scored) keeps nothing; one after, all
    clock_read_at = now_text()
    third = write("C", "call")
    with scorer.writing() as conn:
        assert writes.current(conn, "lead", ids, None, clock_read_at) == set()  # queued meanwhile
    scorer.score("lead", ids, as_of, "event", {}, tickets=dict.fromkeys(ids, third))
    with scorer.writing() as conn:
        assert writes.current(conn, "lead", ids, None, clock_read_at) == set()  # scored meanwhile
        assert writes.current(conn, "lead", ids, None, now_text()) == set(ids)

    # what is stored is the score of everything written
    final = read()
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(t.lead_scores.c.lead_id, t.lead_scores.c.result).where(
                    t.lead_scores.c.lead_id.in_(ids)
                )
            ).all()
        )
        assert not conn.execute(select(t.pending.c.entity_id).where(t.pending.c.entity_id.in_(ids))).all()
    for want in final.results:
        assert stored[want["lead_id"]]["probability"] == want["probability"]
        assert stored[want["lead_id"]]["reasons"] == want["reasons"]
