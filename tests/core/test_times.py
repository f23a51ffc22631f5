"""The one time module: texts and timestamps to UTC seconds, the same on every path, every bad time named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcast.core.errors import InvalidInput
from funnelcast.core.times import EARLIEST, LATEST, datetime_seconds, parse_instants, to_seconds

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30))
offsets = st.sampled_from([None, 0, 8 * 60, -5 * 60 - 30, 14 * 60])


def _text(moment: datetime, offset: int | None, shape: int) -> str:
    if offset is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    if shape == 0:
        return moment.isoformat()
    if shape == 1:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if offset is None else moment.strftime("%z"))


def _expected(text: str) -> int:
    return datetime_seconds(datetime.fromisoformat(text))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(moments, offsets, st.integers(0, 2)), min_size=1, max_size=80))
def test_few_and_many_texts_convert_alike_and_as_the_standard_library(items):
    texts = [_text(*item) for item in items]
    few = parse_instants(texts[:10])
    many = parse_instants(texts * (64 // len(texts) + 1))  # the vectorised path
    expected = [_expected(t) for t in texts]
    assert few.tolist() == expected[:10]
    assert many[: len(texts)].tolist() == expected


@pytest.mark.parametrize("n", [1, 100])
def test_every_bad_text_is_named_with_its_reason(n):
    bad = ["2025-02-30T00:00:00Z", "yesterday", "1969-12-31", "2100-01-01", "２０２５-01-01"]
    texts = ["2025-05-20T09:30:00Z"] * n + bad
    with pytest.raises(InvalidInput) as err:
        parse_instants(texts, lambda i: f"acts.{i}")
    messages = {d["field"]: d["message"] for d in err.value.details}
    assert set(messages) == {f"acts.{n + k}" for k in range(len(bad))}
    assert "not a real date-time" in messages[f"acts.{n}"]
    assert "not an ISO 8601 date-time" in messages[f"acts.{n + 1}"]
    assert "outside the supported range" in messages[f"acts.{n + 2}"]
    assert "outside the supported range" in messages[f"acts.{n + 3}"]
    assert "not an ISO 8601 date-time" in messages[f"acts.{n + 4}"]  # full-width digits are not digits


def test_timestamps_floor_to_the_second_naive_is_utc_missing_is_minus_one():
    stamps = pd.Series(["2025-01-01T00:00:00.999", None, "2025-01-01T08:00:00+08:00"], dtype=object)
    aware = pd.to_datetime(stamps, utc=True, format="ISO8601")
    expected = int(pd.Timestamp("2025-01-01", tz="UTC").timestamp())
    assert to_seconds(aware).tolist() == [expected, -1, expected]
    naive = pd.Series(pd.to_datetime(["2025-01-01T00:00:00"]))
    assert to_seconds(naive).tolist() == [expected]


def test_datetime_seconds_are_exact_far_from_1970():
    late = datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert datetime_seconds(late) == int(LATEST.timestamp()) - 1
    assert datetime_seconds(EARLIEST.to_pydatetime()) == 0
    assert datetime_seconds(None) == -1
    assert datetime_seconds(datetime(2025, 1, 1)) == datetime_seconds(datetime(2025, 1, 1, tzinfo=UTC))


def test_a_large_batch_of_one_export_format_converts():
    texts = [f"2025-05-{1 + k % 28:02d}T09:30:00Z" for k in range(5000)]
    out = parse_instants(texts)
    assert out.dtype == np.int64 and len(np.unique(out)) == 28
