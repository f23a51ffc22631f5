"""EventIndex against a naive per-row oracle (Feast's find_latest_record, in plain Python)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcast.features.events import EventIndex

rows = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 200), st.integers(0, 9)), max_size=40)
queries = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 220)), min_size=1, max_size=15)


def _arrays(rows):
    a = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2].astype(float)


@settings(max_examples=200, deadline=None)
@given(rows, queries, st.integers(1, 100))
def test_counts_sums_and_latest_match_the_oracle(rows, queries, window):
    codes, seconds, values = _arrays(rows)
    idx = EventIndex(codes, seconds, values)
    q = np.array(queries, dtype=np.int64)
    qc, qs = q[:, 0], q[:, 1]
    for i, (c, s) in enumerate(queries):
        mine = [(t, v) for (e, t, v) in rows if e == c and t <= s]
        recent = [(t, v) for (t, v) in mine if t > s - window]
        assert idx.count(qc, qs)[i] == len(mine)
        assert idx.count(qc, qs, window)[i] == len(recent)
        assert idx.total(qc, qs, window)[i] == sum(v for _, v in recent)
        assert idx.last_seconds(qc, qs)[i] == (max(t for t, _ in mine) if mine else -1)
        assert idx.first_seconds(qc, qs)[i] == (min(t for t, _ in mine) if mine else -1)
        expected = sum(v * 2 ** (-(s - t) / 10) for t, v in recent)
        assert np.isclose(idx.decayed_total(qc, qs, window, 10)[i], expected)


@settings(max_examples=100, deadline=None)
@given(rows, queries, st.randoms(use_true_random=False))
def test_input_order_changes_nothing(rows, queries, rnd):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    q = np.array(queries, dtype=np.int64)
    a, b = EventIndex(*_arrays(rows)), EventIndex(*_arrays(shuffled))
    for method in ("count", "total", "last_seconds"):
        assert np.array_equal(getattr(a, method)(q[:, 0], q[:, 1]), getattr(b, method)(q[:, 0], q[:, 1]))
