"""Re-grading the book: the leads and deals an ingestion touched (the queue), and every open one when
the clock or a new model moves grades. Records are read from the book, put into the API's request
types and scored by the API's own functions (`score_leads`, `score_opportunities`): the book holds
exactly what `POST /v1/leads/score` answers for the same records and as_of."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import pandas as pd
from sqlalchemy import Connection, Engine

from funnelcast.book import records as rec
from funnelcast.book import writes
from funnelcast.book.scores import (
    Prepared,
    close_scores,
    prepare_deal_scores,
    prepare_lead_scores,
    previous,
    store,
)
from funnelcast.book.turns import Turns, write_transaction
from funnelcast.core.config import AppConfig
from funnelcast.core.errors import NotReady
from funnelcast.serving import schemas
from funnelcast.serving.registry import ModelRegistry
from funnelcast.serving.scoring.body import (
    Activity,
    AmountChange,
    CloseDateChange,
    DealRequest,
    DealRequestItem,
    LeadRequest,
    LeadRequestItem,
    StageEntry,
)
from funnelcast.serving.scoring.deals import score_opportunities
from funnelcast.serving.scoring.leads import score_leads

logger = logging.getLogger(__name__)
LEAD_FIELDS = [f for f in schemas.Lead.model_fields if f != "custom"]
DEAL_FIELDS = [f for f in schemas.Opportunity.model_fields if f != "custom"]
ACCOUNT_FIELDS = [f for f in schemas.Account.model_fields if f != "custom"]
BATCH = 1000  # leads (deals) scored per request-sized batch


def now_text() -> str:
    """Now, in the book's full form (microseconds: a queue entry is told from a newer one by it)."""
    return pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(row: dict, fields: list[str]) -> SimpleNamespace:
    """A record as the scoring functions read it (attributes of the API's model, as validated when it
    entered the book): a plain namespace, as pydantic's model_construct costs 50 us per record."""
    return SimpleNamespace(**{f: row[f] for f in fields}, custom=row["custom"] or {})


def _account(row: dict | None) -> SimpleNamespace | None:
    return None if row is None else _record(row, ACCOUNT_FIELDS)


def _activity(row: tuple) -> Activity:
    """An activity of the book (`records.ACTIVITY_COLUMNS`, the Activity's own field order)."""
    return Activity(row[0], row[1], row[2], row[3], row[4], row[5])


def lead_request(records: rec.LeadRecords, leads: list[dict]) -> LeadRequest:
    """The API's lead request for these book rows (each with its account and activities)."""
    items = []
    for row in leads:
        account = records.accounts.get(row["account_id"]) if row["account_id"] else None
        items.append(
            LeadRequestItem(
                _record(row, LEAD_FIELDS),
                _account(account),
                [_activity(a) for a in records.activities.get(row["lead_id"], [])],
                [_activity(a) for a in records.account_activities.get(row["account_id"], [])]
                if account
                else [],
            )
        )
    return LeadRequest(None, items)


def deal_request(records: rec.DealRecords, deals: list[dict]) -> DealRequest:
    """The API's deal request for these book rows (each with its histories, account and activities)."""
    items = []
    for row in deals:
        oid = row["opportunity_id"]
        account = records.accounts.get(row["account_id"])
        items.append(
            DealRequestItem(
                _record(row, DEAL_FIELDS),
                _account(account),
                [
                    StageEntry(stage=s["stage"], entered_at=s["entered_at"])
                    for s in records.stages.get(oid, [])
                ],
                [
                    CloseDateChange(changed_at=c["changed_at"], expected_close_date=c["expected_close_date"])
                    for c in records.close_dates.get(oid, [])
                ],
                [
                    AmountChange(changed_at=a["changed_at"], amount=a["amount"])
                    for a in records.amounts.get(oid, [])
                ],
                [_activity(a) for a in records.activities.get(oid, [])],
                [_activity(a) for a in records.account_activities.get(row["account_id"], [])]
                if account
                else [],
            )
        )
    return DealRequest(None, items)


def _before(value: str | None, as_of: pd.Timestamp) -> bool:
    return value is not None and pd.Timestamp(value) <= as_of


@dataclass
class Computed:
    """Scores computed from a read of the book, not yet saved."""

    kind: str
    as_of: str
    closed: dict[str, str]  # id -> converted / disqualified / won / lost
    results: list[dict]  # the API's answers (plain JSON types)
    who: dict[str, dict]  # id -> owner, source (pipeline, amount) for the list columns
    live: int
    before: dict[str, dict]  # the stored scores they are compared with, read with the records


class BookScorer:
    """Scores what the book holds with the registry's serving models, and keeps the scores."""

    def __init__(
        self,
        engine: Engine,
        registry: ModelRegistry,
        config: AppConfig,
        min_change: float = 1.0,
        cooldown: float | None = None,
    ):
        self.engine, self.registry, self.config, self.min_change = engine, registry, config, min_change
        self.cooldown = cooldown  # seconds; None: no alerts (a CLI pass, a load)
        self.turns = Turns(engine)  # one writer at a time, woken as soon as the last one commits
        self.counts: dict[tuple[str, str], int] = {}  # (kind, trigger) -> records scored
        # told how long each write waited for its turn and then held it ("wait" / "hold", seconds)
        self.observe_write: Callable[[str, float], None] | None = None

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction of the book's one writer at a time (threads and a server's processes
        wait their turn, `funnelcast.book.turns`; any other writer waits on the database: SQLite's
        write lock taken at the start, a transaction-level advisory lock on PostgreSQL), so what it
        reads before writing stays true until it commits."""
        asked = time.perf_counter()
        with write_transaction(self.engine, self.turns) as conn:
            got = time.perf_counter()
            yield conn
        if self.observe_write is not None:  # committed
            self.observe_write("wait", got - asked)
            self.observe_write("hold", time.perf_counter() - got)

    # ------------------------------------------------------------------ one batch
    def score(
        self,
        kind: str,
        ids: list[str],
        as_of: str | None,
        trigger: str,
        causes: dict[str, str],
        tickets: dict[str, str] | None = None,
    ) -> int:
        """Score these leads (deals) as of `as_of` (None: now) and store the results. The records are
        read and scored outside any write transaction (other batches are written meanwhile); one
        short transaction then saves the scores that are still current (`writes.current`: with
        `tickets`, id -> the queue entry each answers, which it removes). Returns how many were
        scored. Raises NotReady without a model."""
        model = self.registry.scoring_model(kind)
        read_at = now_text()
        with self.engine.connect() as conn:
            computed = self.compute(conn, model, kind, ids, as_of)
        prepared = (
            self.prepare(computed, computed.results, model, trigger, causes) if computed.results else None
        )
        with self.writing() as conn:
            keep = writes.current(conn, kind, ids, tickets, read_at)
            self.save(conn, computed, keep, model, trigger, causes, prepared)
            if tickets is not None:
                writes.done(conn, kind, {i: tickets[i] for i in keep})
        self.counts[(kind, trigger)] = self.counts.get((kind, trigger), 0) + computed.live
        return computed.live + len(computed.closed)

    def compute(self, conn, model, kind: str, ids: list[str], as_of: str | None) -> Computed:
        """Read these leads (deals) and score them: closed ones leave the lists, ones not created yet are
        skipped."""
        when = pd.Timestamp(as_of) if as_of else pd.Timestamp.now(tz="UTC").floor("s")
        key = "lead_id" if kind == "lead" else "opportunity_id"
        if kind == "lead":
            records = rec.lead_records(conn, ids)
            rows = records.leads
            closed = {
                r["lead_id"]: "converted" if _before(r["converted_at"], when) else "disqualified"
                for r in rows
                if _before(r["converted_at"], when) or _before(r["disqualified_at"], when)
            }
        else:
            records = rec.deal_records(conn, ids)
            rows = records.deals
            closed = {
                r["opportunity_id"]: r["outcome"]
                for r in rows
                if r["outcome"] != "open" and _before(r["closed_at"], when)
            }
        live = [r for r in rows if r[key] not in closed and pd.Timestamp(r["created_at"]) <= when]
        results, who = [], {}
        if live and kind == "lead":
            results = score_leads(lead_request(records, live), model, self.config, when).results
            who = {r["lead_id"]: {"owner": r["owner"], "source": r["source"]} for r in live}
        elif live:
            results = score_opportunities(deal_request(records, live), model, self.config, when).results
            rates = self.config.leads.currency_rates
            who = {
                r["opportunity_id"]: {
                    "owner": r["owner"],
                    "pipeline": r["pipeline"],
                    "amount": r["amount"] * rates[r["currency"].upper()]
                    if r["currency"] and r["currency"].upper() in rates
                    else None,
                }
                for r in live
            }
        before = previous(conn, kind, [r[key] for r in live])
        return Computed(kind, when.strftime("%Y-%m-%dT%H:%M:%SZ"), closed, results, who, len(live), before)

    def prepare(
        self, computed: Computed, results: list[dict], model, trigger: str, causes: dict[str, str]
    ) -> Prepared:
        """What saving these of the computed scores writes, made before the writer's turn."""
        prepare = prepare_lead_scores if computed.kind == "lead" else prepare_deal_scores
        return prepare(
            self.engine,
            results,  # plain dicts of JSON types (what the API serialises)
            computed.who,
            as_of=computed.as_of,
            now=now_text(),
            trigger=trigger,
            causes=causes,
            model_version=f"{model.name}:{model.version}" if model is not None else "bant-rule-grade",
            min_change=self.min_change,
            cooldown=self.cooldown if trigger in ("event", "clock") else None,
            before=computed.before,  # still true when saved: a save since the read makes it not current
        )

    def save(
        self,
        conn,
        computed: Computed,
        keep: set[str],
        model,
        trigger: str,
        causes: dict[str, str],
        prepared: Prepared | None,
    ) -> int:
        """Store the kept scores in the caller's transaction (`prepared`: made for every computed
        result, None when there is none; used when all are kept, as they are unless a concurrent batch
        touched the same ones). Returns how many history rows it wrote."""
        kind = computed.kind
        key = "lead_id" if kind == "lead" else "opportunity_id"
        closed = {i: how for i, how in computed.closed.items() if i in keep}
        results = [r for r in computed.results if r[key] in keep]
        stored = close_scores(conn, kind, closed, as_of=computed.as_of, cause=causes) if closed else 0
        if results:
            if len(results) < len(computed.results):
                prepared = self.prepare(computed, results, model, trigger, causes)
            stored += store(conn, prepared)
        return stored

    # ------------------------------------------------------------------ the queue
    def work_queue(
        self,
        kind: str,
        ids: list[str] | None = None,
        limit: int = 100_000,
        queued_before: str | None = None,
    ) -> int:
        """Score queued leads (deals): those of `ids`, or the oldest queued (before `queued_before`).
        Returns how many were scored; leaves the queue as it is when no model is ready (a later pass
        takes them)."""
        done = 0
        parts = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)] if ids is not None else None
        while done < limit:
            wanted = None
            if parts is not None:
                if not parts:
                    break
                wanted = parts.pop(0)
            with self.engine.connect() as conn:
                items = writes.pending_rows(conn, kind, BATCH, wanted, queued_before)
            if not items:
                if wanted is None:
                    break
                continue
            by_as_of: dict[str | None, list[dict]] = {}
            for item in items:
                by_as_of.setdefault(item["as_of"], []).append(item)
            for as_of, group in by_as_of.items():
                try:
                    self.score(
                        kind,
                        [i["entity_id"] for i in group],
                        as_of,
                        "event",
                        {i["entity_id"]: i["cause"] for i in group},
                        tickets={i["entity_id"]: i["since"] for i in group},
                    )
                except NotReady:
                    return done
                done += len(group)
        return done

    def queue_lag(self) -> tuple[int, float]:
        """How many leads and deals wait for a score, and for how long the oldest has waited (s)."""
        from sqlalchemy import func, select

        from funnelcast.book import tables as t

        with self.engine.connect() as conn:
            n, oldest = conn.execute(select(func.count(), func.min(t.pending.c.since))).one()
        if not n:
            return 0, 0.0
        return int(n), max(0.0, (pd.Timestamp.now(tz="UTC") - pd.Timestamp(oldest)).total_seconds())

    # ------------------------------------------------------------------ whole-book passes
    def rescore_all(self, kind: str, trigger: str, cause: str, as_of: str | None = None) -> int:
        """Score every open lead (deal) as of `as_of` (None: now), page by page: the clock moving
        grades (decay, staleness, stalls) or a new model. Returns how many were scored."""
        after, total, started = None, 0, time.perf_counter()
        while True:
            with self.engine.connect() as conn:
                ids = rec.open_ids(conn, kind, as_of, after, BATCH)
            if not ids:
                break
            self.score(kind, ids, as_of, trigger, dict.fromkeys(ids, cause))
            total += len(ids)
            after = ids[-1]
        logger.info(
            "re-scored %s %s(s) (%s) in %.1f s", f"{total:,}", kind, trigger, time.perf_counter() - started
        )
        return total
