"""The workspace's funnel and forecast as last computed from the whole book, kept in the book
(`analytics_snapshots`), so that a page opens at once and says how old its figures are.

Computing them reads every lead, account and deal: ~40 s on a book of 1M leads, and the book's clock
moves with every scored batch. So the server's leader keeps the default views (the funnel as a whole
and compared by owner, source and segment; the forecast 90 days ahead) fresh in the background: a view
is computed again once the book has moved on and it is older than `analytics_refresh_minutes`, or at
once when the win model changed. With them it keeps the forecast's inputs (`ForecastInputs`: the open
deals' amounts, rates and win probabilities, the won history), from which a page makes any other
horizon in a fraction of a second. A page serves what is stored, except that a view which took less
than `ON_DEMAND_SECONDS` (a small book) is computed again when opened after the book moved. A target
asked of a forecast is answered from the stored draws (`Forecast.with_target`).

Stored as JSON with each table as Parquet (types kept: text, numbers, UTC times), never pickled."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select

from funnelcast.analytics.forecast import Forecast, fan_table, run_rate_of, won_history
from funnelcast.analytics.forecast import forecast as make_forecast
from funnelcast.analytics.funnel import FunnelReport, funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs, for_period, period_logit_sd
from funnelcast.book import reads
from funnelcast.book import tables as t
from funnelcast.core.config import AppConfig
from funnelcast.features.io import CRMData
from funnelcast.serving.workspace.pages import book_as_of, crm_data

FUNNEL_GROUPS = (None, "owner", "source", "segment")
DEFAULT_DAYS = 90
ON_DEMAND_SECONDS = 2.0  # a view computed faster than this is computed again when opened, not served old


def funnel_view(by: str | None) -> str:
    return "funnel" if by is None else f"funnel:{by}"


def forecast_view(days: int) -> str:
    return f"forecast:{days}d"


INPUTS_VIEW = "forecast-inputs"  # what a forecast of any horizon reads of the book (ForecastInputs)
DEFAULT_VIEWS = (
    *(funnel_view(b) for b in FUNNEL_GROUPS),
    INPUTS_VIEW,
    forecast_view(DEFAULT_DAYS),
)


@dataclass
class ForecastInputs:
    """What a forecast of any horizon reads of the book at `as_of`: the open deals' inputs
    (`deal_inputs`: base amounts, stages, weights, historical rates, the win model's probabilities) and
    the deals won so far (`won_history`, for the run rate). A horizon is then a fraction of a second."""

    as_of: pd.Timestamp
    deals: pd.DataFrame
    won: pd.DataFrame
    first_created: pd.Timestamp


@dataclass(frozen=True)
class Snapshot:
    view: str
    as_of: pd.Timestamp  # the book's clock when it was computed
    computed_at: pd.Timestamp
    model_version: str | None  # the win model a forecast used
    seconds: float  # how long computing it took (the book's read included)
    value: Any  # a FunnelReport, or (Forecast, fan table or None)

    def age_minutes(self, now: pd.Timestamp | None = None) -> float:
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        return (now - self.computed_at) / pd.Timedelta(minutes=1)


# ------------------------------------------------------------------------------ encoding
TYPES = {"FunnelReport": FunnelReport, "Forecast": Forecast, "ForecastInputs": ForecastInputs}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _plain(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        buffer = io.BytesIO()
        value.to_parquet(buffer)
        return {"$frame": _b64(buffer.getvalue())}
    if value is pd.NaT:
        return {"$time": None}
    if isinstance(value, pd.Timestamp):
        return {"$time": value.isoformat()}
    if isinstance(value, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {"$array": _b64(buffer.getvalue())}
    if dataclasses.is_dataclass(value) and type(value).__name__ in TYPES:
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, "fields": fields}
    if isinstance(value, tuple):
        return {"$tuple": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": {str(k): _plain(v) for k, v in value.items()}}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a snapshot cannot hold a {type(value).__name__}")


def _typed(value: Any) -> Any:
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$frame" in value:
        return pd.read_parquet(io.BytesIO(base64.b64decode(value["$frame"])))
    if "$time" in value:
        return pd.NaT if value["$time"] is None else pd.Timestamp(value["$time"])
    if "$array" in value:
        return np.load(io.BytesIO(base64.b64decode(value["$array"])), allow_pickle=False)
    if "$type" in value:
        return TYPES[value["$type"]](**{k: _typed(v) for k, v in value["fields"].items()})
    if "$tuple" in value:
        return tuple(_typed(v) for v in value["$tuple"])
    return {k: _typed(v) for k, v in value["$dict"].items()}


def encode(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False)


def decode(text: str) -> Any:
    return _typed(json.loads(text))


# ------------------------------------------------------------------------------ the book's copy
def _code_digest() -> str:
    """A digest of the code that computes and encodes the views: a view is stored under its name and
    this, so one made by other code (an upgrade) is not read, but computed anew and the old forgotten."""
    from funnelcast.analytics import forecast, funnel, pipeline_inputs

    digest = hashlib.sha256()
    for module in (funnel, forecast, pipeline_inputs, sys.modules[__name__]):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:10]


CODE = _code_digest()


def _key(view: str) -> str:
    return f"{view}@{CODE}"


def read(conn: Connection, view: str, payload: bool = True) -> Snapshot | None:
    """The stored view (without its value when `payload` is False), or None."""
    s = t.analytics_snapshots.c
    columns = [s.as_of, s.computed_at, s.model_version, s.seconds] + ([s.payload] if payload else [])
    row = conn.execute(select(*columns).where(s.view == _key(view))).first()
    if row is None:
        return None
    value = decode(row.payload) if payload else None
    at, computed = pd.Timestamp(row.as_of), pd.Timestamp(row.computed_at)
    return Snapshot(view, at, computed, row.model_version, row.seconds, value)


def store(conn: Connection, snapshots: Iterable[Snapshot]) -> None:
    """Replace these views in the book (`conn`: a write transaction)."""
    snapshots = list(snapshots)
    table = t.analytics_snapshots
    conn.execute(delete(table).where(table.c.view.in_([_key(s.view) for s in snapshots])))
    conn.execute(
        insert(table),
        [
            {
                "view": _key(s.view),
                "as_of": s.as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "computed_at": s.computed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "model_version": s.model_version,
                "seconds": s.seconds,
                "payload": encode(s.value),
            }
            for s in snapshots
        ],
    )


# ------------------------------------------------------------------------------ computing
def model_version(model) -> str | None:
    return f"{model.name}:{model.version}" if model is not None else None


def forecast_inputs(data: CRMData, config: AppConfig, model, as_of: pd.Timestamp) -> ForecastInputs:
    predict, rates = (model.bundle.predict, model.rates) if model else (None, None)
    deals = deal_inputs(data, as_of, as_of + pd.Timedelta(days=DEFAULT_DAYS), config, predict, rates)
    won, first_created = won_history(data, as_of, config)
    return ForecastInputs(as_of, deals, won, first_created)


def forecast_from(inputs: ForecastInputs, model, days: int) -> tuple[Forecast, pd.DataFrame | None]:
    """The forecast of won revenue `days` ahead by owner (no target: ask `with_target`), and its fan."""
    as_of = inputs.as_of
    period_end = as_of + pd.Timedelta(days=days)
    deals = for_period(inputs.deals, as_of, period_end)
    spread = period_logit_sd(model.bundle.metadata if model else None, float(days))
    result = make_forecast(
        deals,
        as_of,
        period_end,
        group="owner",
        run_rate=run_rate_of(inputs.won, inputs.first_created, as_of, period_end),
        logit_sd=spread,
    )
    return result, fan_table(deals, as_of, period_end, logit_sd=spread)


def compute(
    conn: Connection,
    config: AppConfig,
    model,
    *,
    funnels: Iterable[str | None] = (),
    horizons: Iterable[int] = (),
) -> list[Snapshot]:
    """These views, from one read of the book (activities only when a forecast needs them: those of
    the open deals; the funnel reads none); with any horizon, the forecast inputs too."""
    funnels, horizons = list(funnels), list(horizons)
    started = time.perf_counter()
    as_of = book_as_of(conn)
    data = crm_data(conn, config, activities="open deals" if horizons else "none", as_of=as_of)
    values = {funnel_view(by): funnel_report(data, config, as_of, by=by) for by in funnels}
    if horizons:
        inputs = values[INPUTS_VIEW] = forecast_inputs(data, config, model, as_of)
        values |= {forecast_view(d): forecast_from(inputs, model, d) for d in horizons}
    seconds = time.perf_counter() - started
    now = pd.Timestamp.now(tz="UTC")
    version = model_version(model)
    return [
        Snapshot(view, as_of, now, version if view.startswith("forecast") else None, seconds, value)
        for view, value in values.items()
    ]


# ------------------------------------------------------------------------------ what is served
def _current(snapshot: Snapshot, clock: pd.Timestamp, version: str | None) -> bool:
    forecast = snapshot.view.startswith("forecast")
    return snapshot.as_of == clock and (not forecast or snapshot.model_version == version)


def serve(
    conn: Connection,
    writing: Callable[[], AbstractContextManager[Connection]],
    config: AppConfig,
    model,
    view: str,
    refresh_minutes: float,
) -> Snapshot:
    """The view to show: the stored one when it is current, or when computing it again would take long
    and the background keeps it (a default view) or it is younger than `refresh_minutes`; else computed
    now and stored (`writing`: opens the book's write transaction)."""
    clock, version = book_as_of(conn), model_version(model)
    found = read(conn, view)
    if found is not None and _current(found, clock, version):
        return found
    if view.startswith("forecast:"):
        inputs = read(conn, INPUTS_VIEW, payload=False)
        usable = (
            inputs is not None
            and inputs.model_version == version
            and (inputs.as_of == clock or _kept_by_background(inputs, refresh_minutes))
        )
        if usable and found is not None and found.computed_at >= inputs.computed_at:
            return found  # made from the latest inputs
        if usable:  # another horizon of the stored inputs: a fraction of a second
            inputs = read(conn, INPUTS_VIEW)
            value = forecast_from(inputs.value, model, _days(view))
            made = Snapshot(view, inputs.as_of, inputs.computed_at, version, inputs.seconds, value)
            with writing() as wconn:
                store(wconn, [made])
            return made
    if found is not None:
        kept = view in DEFAULT_VIEWS or found.age_minutes() < refresh_minutes
        if kept and _kept_by_background(found, refresh_minutes):
            return found
    if view.startswith("forecast:"):
        made = compute(conn, config, model, horizons=[_days(view)])
    else:
        made = compute(conn, config, model, funnels=[None if view == "funnel" else view.split(":", 1)[1]])
    with writing() as wconn:
        store(wconn, made)
    return next(m for m in made if m.view == view)


def _days(view: str) -> int:
    return int(view.removeprefix("forecast:").removesuffix("d"))


def _kept_by_background(snapshot: Snapshot, refresh_minutes: float) -> bool:
    """Whether a view behind the book is served rather than computed again: when computing it again
    would take long and the background keeps views fresh."""
    return snapshot.seconds >= ON_DEMAND_SECONDS and refresh_minutes > 0


def due(conn: Connection, model, refresh_minutes: float) -> bool:
    """Whether the background should compute the default views again: one is missing, a forecast was
    made with another win model, or the book moved on and a view is `refresh_minutes` old."""
    if reads.clock(conn) is None or refresh_minutes <= 0:  # nothing scored yet, or kept by nobody
        return False
    clock, version = book_as_of(conn), model_version(model)
    for view in DEFAULT_VIEWS:
        found = read(conn, view, payload=False)
        if found is None:
            return True
        if view.startswith("forecast") and found.model_version != version:
            return True
        if found.as_of != clock and found.age_minutes() >= refresh_minutes:
            return True
    return False


def refresh(
    conn: Connection,
    writing: Callable[[], AbstractContextManager[Connection]],
    config: AppConfig,
    model,
    refresh_minutes: float,
) -> list[Snapshot]:
    """Compute the default views again from one read of the book and store them; forget the other
    views older than `refresh_minutes` (a page would compute them again anyway)."""
    made = compute(conn, config, model, funnels=FUNNEL_GROUPS, horizons=[DEFAULT_DAYS])
    s = t.analytics_snapshots.c
    before = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=refresh_minutes)
    with writing() as wconn:
        store(wconn, made)
        wconn.execute(
            delete(t.analytics_snapshots).where(
                s.view.not_in([_key(v) for v in DEFAULT_VIEWS]),
                s.computed_at < before.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            )
        )
    return made


def refresh_book(url: str, config: AppConfig, model, refresh_minutes: float) -> None:
    """`refresh` on the book at `url`, with an engine and a writer's turn of its own: the server runs
    it in a child process (`funnelcast.serving.book_tasks.analytics`), so that a minute of pandas on a
    large book neither holds a serving worker's GIL nor leaves its memory behind."""
    from funnelcast.book.db import engine_for
    from funnelcast.book.turns import Turns, write_transaction

    engine = engine_for(url)
    turns = Turns(engine)
    try:
        with engine.connect() as conn:
            refresh(conn, lambda: write_transaction(engine, turns), config, model, refresh_minutes)
    finally:
        engine.dispose()
