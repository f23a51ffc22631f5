"""The workspace's funnel and forecast kept in the book: stored and read back exactly, equal to what
the analytics compute from the book directly, served at once when current or when the background keeps
them, computed again when cheap or not kept, and due for the background when the book or the model
moved on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from funnelcast.analytics.forecast import Forecast, fan_table, run_rate
from funnelcast.analytics.forecast import forecast as make_forecast
from funnelcast.analytics.funnel import funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs, period_logit_sd
from funnelcast.book import tables as t
from funnelcast.serving.workspace import snapshots
from funnelcast.serving.workspace.pages import book_as_of, crm_data


def _same(a, b) -> None:
    """Two views are equal: every table, time, number, list and array."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b)
        for field in dataclasses.fields(a):
            _same(getattr(a, field.name), getattr(b, field.name))
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b or (a != a and b != b), (a, b)  # NaN equals NaN here


def _move_clock(engine, days: float) -> pd.Timestamp:
    with engine.begin() as conn:
        moved = book_as_of(conn) + pd.Timedelta(days=days)
        conn.execute(update(t.clock).values(as_of=moved.strftime("%Y-%m-%dT%H:%M:%SZ")))
    return moved


def _age(engine, view: str, *, minutes: float = 0.0, seconds: float | None = None, version=None) -> None:
    """Make a stored view look older, slower to compute or made with another model."""
    s = t.analytics_snapshots.c
    values: dict = {"computed_at": (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=minutes)).isoformat()}
    values["computed_at"] = values["computed_at"].replace("+00:00", "Z")
    if seconds is not None:
        values["seconds"] = seconds
    if version is not None:
        values["model_version"] = version
    with engine.begin() as conn:
        conn.execute(update(t.analytics_snapshots).where(s.view == snapshots._key(view)).values(**values))


@pytest.mark.parametrize("book_url", ["sqlite", "postgresql"], indirect=True)
def test_views_are_stored_and_read_back_exactly(loaded_book, config, deal_model):
    engine = loaded_book["engine"]
    with engine.connect() as conn:
        made = snapshots.compute(
            conn, config, deal_model, funnels=snapshots.FUNNEL_GROUPS, horizons=[snapshots.DEFAULT_DAYS]
        )
    assert [m.view for m in made] == list(snapshots.DEFAULT_VIEWS)
    with engine.begin() as conn:
        snapshots.store(conn, made)
    with engine.connect() as conn:
        for m in made:
            back = snapshots.read(conn, m.view)
            assert (back.as_of, back.model_version, back.seconds) == (m.as_of, m.model_version, m.seconds)
            assert abs(back.computed_at - m.computed_at) < pd.Timedelta(milliseconds=1)
            _same(m.value, back.value)
    forecast, fan = made[-1].value
    assert isinstance(forecast, Forecast) and len(forecast.deals) > 10 and len(forecast.draws) == 10_000
    assert fan is not None and len(fan) > 1  # the fan needs the model's probabilities: it had them
    assert made[-1].model_version == "funnelcast-win-probability:test" and made[0].model_version is None
    with pytest.raises(TypeError, match="cannot hold a set"):
        snapshots.encode({"x": {1, 2}})


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_the_background_views_equal_what_the_analytics_compute_from_the_book(loaded_book, config, deal_model):
    engine = loaded_book["engine"]
    with engine.connect() as conn:
        made = {s.view: s.value for s in snapshots.refresh(conn, engine.begin, config, deal_model, 15.0)}
        as_of = book_as_of(conn)
        funnel_data = crm_data(conn, config, activities="none")
        deal_data = crm_data(conn, config, activities="open deals", as_of=as_of)
    for by in snapshots.FUNNEL_GROUPS:  # one read with the open deals' activities serves the funnel too
        _same(made[snapshots.funnel_view(by)], funnel_report(funnel_data, config, as_of, by=by))
    stored, _ = made[snapshots.forecast_view(snapshots.DEFAULT_DAYS)]
    end = as_of + pd.Timedelta(days=snapshots.DEFAULT_DAYS)
    deals = deal_inputs(deal_data, as_of, end, config, deal_model.bundle.predict, deal_model.rates)
    spread = period_logit_sd(deal_model.bundle.metadata, float(snapshots.DEFAULT_DAYS))
    target = float(stored.quantiles["p50"])
    rate = run_rate(deal_data, as_of, end, config)
    direct = make_forecast(deals, as_of, end, target=target, group="owner", logit_sd=spread, run_rate=rate)
    asked = stored.with_target(target)
    assert asked.p_target == direct.p_target and 0 < asked.p_target < 1  # answered from the stored draws
    assert asked.expected == direct.expected and asked.quantiles == direct.quantiles
    pd.testing.assert_frame_equal(asked.by_group, direct.by_group)
    assert stored.p_target is None
    with engine.connect() as conn:  # another horizon, made from the stored inputs
        month, fan = snapshots.serve(conn, engine.begin, config, deal_model, "forecast:30d", 15.0).value
    end = as_of + pd.Timedelta(days=30)
    deals = deal_inputs(deal_data, as_of, end, config, deal_model.bundle.predict, deal_model.rates)
    spread = period_logit_sd(deal_model.bundle.metadata, 30.0)
    direct = make_forecast(
        deals, as_of, end, group="owner", logit_sd=spread, run_rate=run_rate(deal_data, as_of, end, config)
    )
    _same(month, direct)
    _same(fan, fan_table(deals, as_of, end, logit_sd=spread))
    assert month.run_rate is not None and month.expected != stored.expected  # 30 days is not 90


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_a_page_serves_a_current_or_kept_view_and_computes_the_others(loaded_book, config, deal_model):
    engine = loaded_book["engine"]

    def serve(view, minutes=15.0):
        with engine.connect() as conn:
            return snapshots.serve(conn, engine.begin, config, deal_model, view, minutes)

    first = serve("funnel:owner")  # nothing stored: computed and stored
    assert serve("funnel:owner").computed_at == first.computed_at  # current: served as stored
    moved = _move_clock(engine, 1)
    _age(engine, "funnel:owner", seconds=0.5)  # as a small book's view (whatever this machine took)
    again = serve("funnel:owner")  # the book moved on and it is cheap: computed again
    assert again.as_of == moved and again.computed_at > first.computed_at
    _age(engine, "funnel:owner", seconds=90.0)  # as a large book's view: the background keeps it
    _move_clock(engine, 1)
    kept = serve("funnel:owner")
    assert kept.as_of == moved and kept.seconds == 90.0  # the stored one, behind the book
    assert serve("funnel:owner", minutes=0).as_of > moved  # nobody refreshes it in the background

    month = serve("forecast:30d")  # another horizon: computed when opened, kept for refresh_minutes
    _age(engine, "forecast:30d", minutes=5, seconds=90.0)
    clock = _move_clock(engine, 1)
    assert serve("forecast:30d").as_of == month.as_of
    _age(engine, "forecast:30d", minutes=20, seconds=90.0)
    _age(engine, snapshots.INPUTS_VIEW, seconds=0.5)  # cheap inputs behind the book: not used
    assert serve("forecast:30d").as_of == clock  # too old to keep: computed again from the book
    stored, _ = serve("forecast:30d").value
    assert stored.period_end == clock + pd.Timedelta(days=30)
    _age(engine, snapshots.INPUTS_VIEW, seconds=90.0)  # the inputs, as a large book's: kept, not read again
    _move_clock(engine, 1)
    year = serve("forecast:365d")  # made from the stored inputs, as old as they are
    with engine.connect() as conn:
        inputs = snapshots.read(conn, snapshots.INPUTS_VIEW, payload=False)
    assert (year.as_of, year.computed_at) == (clock, inputs.computed_at)
    assert year.value[0].period_end == clock + pd.Timedelta(days=365)


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_the_background_is_due_when_a_view_is_missing_old_or_of_another_model(
    loaded_book, config, deal_model
):
    engine = loaded_book["engine"]

    def due(minutes=15.0):
        with engine.connect() as conn:
            return snapshots.due(conn, deal_model, minutes)

    assert due()  # nothing stored yet
    with engine.connect() as conn:
        snapshots.refresh(conn, engine.begin, config, deal_model, 15.0)
    assert not due()
    assert not due(minutes=0)  # 0: the background keeps nothing
    _move_clock(engine, 1)
    assert not due()  # the book moved, but the views are younger than refresh_minutes
    view = snapshots.funnel_view("source")
    _age(engine, view, minutes=16)
    assert due()
    with engine.connect() as conn:
        snapshots.refresh(conn, engine.begin, config, deal_model, 15.0)
    assert not due()
    _age(engine, snapshots.forecast_view(snapshots.DEFAULT_DAYS), version="funnelcast-win-probability:old")
    assert due()  # a new win model: at once
    for view, minutes in (("forecast:30d", 5), ("forecast:60d", 20)):  # opened on pages, not kept
        with engine.connect() as conn:
            snapshots.serve(conn, engine.begin, config, deal_model, view, 15.0)
        _age(engine, view, minutes=minutes)
    old = snapshots._key("funnel").replace(snapshots.CODE, "0" * len(snapshots.CODE))
    with engine.begin() as conn:  # as stored by other code (before an upgrade): not read, then forgotten
        conn.execute(
            update(t.analytics_snapshots)
            .where(t.analytics_snapshots.c.view == snapshots._key("funnel"))
            .values(view=old, computed_at="2020-01-01T00:00:00Z")
        )
    with engine.connect() as conn:
        assert snapshots.read(conn, "funnel") is None and snapshots.due(conn, deal_model, 15.0)
        snapshots.refresh(conn, engine.begin, config, deal_model, 15.0)
        kept = set(conn.execute(select(t.analytics_snapshots.c.view)).scalars())
    # one older than refresh_minutes forgotten, and the one of other code
    assert kept == {snapshots._key(v) for v in (*snapshots.DEFAULT_VIEWS, "forecast:30d")}
