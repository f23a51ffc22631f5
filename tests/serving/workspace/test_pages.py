"""The workspace's analytics pages read only what they use from the book: the funnel no activities,
the forecast only those of the deals open at its as_of and of their accounts. Same answers as a
whole-book read, on the generated book."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from funnelcast.analytics.funnel import funnel_report
from funnelcast.analytics.pipeline_inputs import deal_inputs
from funnelcast.serving.workspace.pages import book_as_of, crm_data


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_a_partial_read_answers_as_the_whole_book_does(loaded_book, config, opportunity_outcome):
    with loaded_book["engine"].connect() as conn:
        as_of = book_as_of(conn)
        whole = crm_data(conn, config)
        funnel_data = crm_data(conn, config, activities="none")
        deal_data = crm_data(conn, config, activities="open deals", as_of=as_of)
    assert len(funnel_data.activities) == 0 < len(deal_data.activities) < len(whole.activities)
    for frame in ("opportunities", "leads", "accounts", "stage_history"):
        assert len(getattr(deal_data, frame)) == len(getattr(whole, frame))
    by_whole, by_part = funnel_report(whole, config, as_of), funnel_report(funnel_data, config, as_of)
    for field in dataclasses.fields(by_whole):
        if isinstance(getattr(by_whole, field.name), pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(by_whole, field.name), getattr(by_part, field.name))
    period_end = as_of + pd.Timedelta(days=90)
    bundle = opportunity_outcome.bundle
    both = [deal_inputs(d, as_of, period_end, config, bundle.predict) for d in (whole, deal_data)]
    assert len(both[0]) > 10
    pd.testing.assert_frame_equal(both[0], both[1])


@pytest.mark.parametrize("book_url", ["sqlite"], indirect=True)
def test_short_reads_read_what_one_read_does(loaded_book, config, opportunity_outcome, monkeypatch):
    """On SQLite the book is read in short statements (the log can start over between them): with 97
    rows a statement, the same records, and the same funnel and deal inputs, as one statement each."""
    from funnelcast.serving.workspace import pages

    with loaded_book["engine"].connect() as conn:
        as_of = book_as_of(conn)
        monkeypatch.setattr(pages, "READ_ROWS", 10**9)
        one = crm_data(conn, config), crm_data(conn, config, activities="open deals", as_of=as_of)
        monkeypatch.setattr(pages, "READ_ROWS", 97)
        short = crm_data(conn, config), crm_data(conn, config, activities="open deals", as_of=as_of)
    for a, b in zip(one, short, strict=True):
        for name in ("accounts", "leads", "activities", "opportunities", "stage_history"):
            x, y = getattr(a, name), getattr(b, name)
            assert len(x) == len(y) > 97
            ordered = [c for c in x.columns if x[c].notna().all()]
            pd.testing.assert_frame_equal(
                x.sort_values(ordered).reset_index(drop=True), y.sort_values(ordered).reset_index(drop=True)
            )
    got, want = (funnel_report(d, config, as_of) for d in (short[0], one[0]))
    for field in dataclasses.fields(want):
        if isinstance(getattr(want, field.name), pd.DataFrame):
            pd.testing.assert_frame_equal(getattr(got, field.name), getattr(want, field.name))
    period_end = as_of + pd.Timedelta(days=90)
    predict = opportunity_outcome.bundle.predict
    got, want = (deal_inputs(d, as_of, period_end, config, predict) for d in (short[1], one[1]))
    pd.testing.assert_frame_equal(got, want)
