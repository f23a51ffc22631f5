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
