"""Request times: the per-value and vectorised conversions agree, and impossible dates are 422s that
name every bad field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.errors import InvalidInput
from serving.instants import _PARTS, _SHAPE, INVALID, VECTOR_MIN, _bulk, _from_digits, _one, to_seconds
from serving.schemas import ISO_INSTANT


@st.composite
def iso_texts(draw) -> tuple[str, int]:
    """An ISO 8601 text in one of the accepted shapes, and its UTC seconds (floored)."""
    moment = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)))
    shape = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    offset_min = draw(st.sampled_from([None, 0, 480, -300, 330]))
    zone = "" if offset_min is None else draw(st.sampled_from(["Z"] if offset_min == 0 else ["colon", "plain"]))
    if shape == "date":
        moment, zone, offset_min = moment.replace(hour=0, minute=0, second=0, microsecond=0), "", None
        text = moment.strftime("%Y-%m-%d")
    else:
        sep = draw(st.sampled_from(["T", " "]))
        text = moment.strftime(f"%Y-%m-%d{sep}%H:%M")
        if shape == "minutes":
            moment = moment.replace(second=0, microsecond=0)
        else:
            text += moment.strftime(":%S")
            if shape == "fraction":
                text += "." + f"{moment.microsecond:06d}"
            else:
                moment = moment.replace(microsecond=0)
    if offset_min is not None and zone != "Z":
        sign = "+" if offset_min >= 0 else "-"
        h, m = divmod(abs(offset_min), 60)
        text += f"{sign}{h:02d}:{m:02d}" if zone == "colon" else f"{sign}{h:02d}{m:02d}"
    elif zone == "Z":
        text += "Z"
    tz = UTC if offset_min is None else timezone(timedelta(minutes=offset_min))
    expected = int((moment.replace(tzinfo=tz) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1))
    return text, expected


@settings(max_examples=200, deadline=None)
@given(st.lists(iso_texts(), min_size=1, max_size=5))
def test_both_conversions_give_the_utc_seconds(pairs):
    import re

    texts = [t for t, _ in pairs]
    assert all(re.match(ISO_INSTANT, t) for t in texts)  # the request schema lets them through
    expected = [s for _, s in pairs]
    assert [_one(t) for t in texts] == expected
    assert _bulk(texts).tolist() == expected
    assert to_seconds(texts * VECTOR_MIN).tolist() == expected * VECTOR_MIN  # the vectorised path


@pytest.mark.parametrize("n, last", [(2, "2025-13-01"), (VECTOR_MIN + 1, "2025-13-01"),
                                     (VECTOR_MIN + 1, "2025-13-01T00:00:00Z")])  # per value, pandas, numpy ("Z")
def test_impossible_dates_name_every_bad_field(n, last):
    texts = ["2025-05-20T09:30:00Z"] * n
    texts[0], texts[-1] = "2025-02-30T00:00:00Z", last
    with pytest.raises(InvalidInput) as err:
        to_seconds(texts, lambda i: f"leads.0.activities.{i}.occurred_at")
    fields = [d["field"] for d in err.value.details]
    assert fields == ["leads.0.activities.0.occurred_at", f"leads.0.activities.{n - 1}.occurred_at"]
    assert "2025-02-30" in err.value.details[0]["message"]


near_iso = st.one_of(
    st.text(alphabet="0123456789-:TZ +.d", max_size=26),
    st.sampled_from(["2025-05-20T09:30:00Z", "2025-05-20T09:30:00Z\n", "2025-05-20T09:30:00Z\x00", "٢٠٢٥-05-20",
                     "2025-05-20t09:30:00z", "2025-05-20T09:30:00.1234567890Z", "", "2025-13-01", "星辰",
                     "dddd-dd-dd"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(near_iso, min_size=1, max_size=6), st.lists(st.integers(0, 5), min_size=VECTOR_MIN, max_size=VECTOR_MIN))
def test_vectorised_and_per_value_paths_refuse_the_same_texts(texts, picks):
    """Large lists check shapes vectorised (few distinct shapes matched once), small ones match each
    text: both refuse exactly the texts the schema's pattern refuses, naming each, with the same words."""
    import re

    def refused(values):
        try:
            to_seconds(values)
        except InvalidInput as exc:
            return [(d["field"], d["message"]) for d in exc.details]
        return []

    many = [texts[p % len(texts)] for p in picks]
    small, large = refused(texts), refused(many)
    assert {m for _, m in large} == {m for f, m in small if int(f[1:-1]) in {p % len(texts) for p in picks}}
    not_iso = [f"[{i}]" for i, t in enumerate(many) if not re.fullmatch(ISO_INSTANT, t)]
    assert [f for f, m in large if "ISO 8601 date-time" in m] == not_iso


def test_one_export_shape_and_mixed_shapes_convert_alike():
    texts = ["2025-05-20T09:30:00Z", "2025-05-20T09:30:00.999Z", "2025-05-20 09:30+08:00", "2025-05-20"] * VECTOR_MIN
    assert to_seconds(texts).tolist() == [_one(t) for t in texts]
    uniform = ["2025-05-20T09:30:00.750Z"] * VECTOR_MIN
    assert to_seconds(uniform).tolist() == [_one(uniform[0])] * VECTOR_MIN


shape_texts = st.builds("".join, st.lists(st.sampled_from(["d", "d", "d", "-", ":", "T", " ", "Z", "+", "."]),
                                          max_size=26))


@settings(max_examples=300, deadline=None)
@given(st.one_of(shape_texts, st.sampled_from(["dddd-dd-dd", "dddd-dd-ddTdd:dd", "dddd-dd-dd dd:dd:dd.dddZ",
                                               "dddd-dd-ddTdd:dd:dd+dd:dd", "dddd-dd-ddTdd:dd:dd-dddd",
                                               "dddd-dd-ddTdd:dd:dd.dddddddddZ", "dddd-dd-ddTdd:dd-dd"])))
def test_the_named_shape_pattern_is_the_shape_pattern(shape):
    assert (_PARTS.fullmatch(shape) is None) == (_SHAPE.fullmatch(shape) is None)


@st.composite
def same_shape_texts(draw) -> tuple[str, list[str]]:
    """Texts of one ISO shape with arbitrary digits: real and impossible dates, times and offsets."""
    shape = draw(st.sampled_from(["dddd-dd-dd", "dddd-dd-ddTdd:dd", "dddd-dd-dd dd:dd:ddZ", "dddd-dd-ddTdd:dd:dd.dddZ",
                                  "dddd-dd-ddTdd:dd:dd+dd:dd", "dddd-dd-ddTdd:dd:dd-dddd", "dddd-dd-ddTdd:dd+dd",
                                  "dddd-dd-ddTdd:dd:dd.dddddddddZ"]))
    plausible = st.sampled_from("0123456789")
    texts = []
    for _ in range(draw(st.integers(1, 8))):
        # mostly real dates (digits drawn near real ones), some not
        when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
        real = when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond:06d}" + draw(
            st.sampled_from(["0000", "0530", "2359", "1200", "2400", "0060"])) + "000000"
        digits = iter(real if draw(st.booleans()) else "".join(draw(plausible) for _ in range(30)))
        texts.append("".join(next(digits) if c == "d" else c for c in shape))
    return shape, texts


@settings(max_examples=300, deadline=None)
@given(same_shape_texts())
def test_digit_arithmetic_gives_what_the_standard_library_gives(case):
    shape, texts = case
    chars = np.array(texts, dtype=str)
    chars = chars.view(np.uint32).reshape(len(texts), -1)
    expected = [INVALID if (s := _one(t)) is None else s for t in texts]
    assert _from_digits(chars, shape).tolist() == expected
