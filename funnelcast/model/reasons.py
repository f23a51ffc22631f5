"""Reasons: the features that pushed each score up and down most, from the model's own per-row
contributions (LightGBM's TreeSHAP values, or the logistic terms). A feature whose contribution is
zero is never a reason. The API, bulk scoring, the book and the pyfunc all read reasons from here."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

TOP = 3
MIN_CONTRIBUTION = 0.005  # shown rounded to two decimals: a smaller push would read as +0.00


def top_contributions(contrib: np.ndarray, top: int = TOP) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per row, the `top` features that pushed the score up most and down most: for each side
    (up, down) their column positions and contributions, strongest first, (n, top) each. Entries
    on the wrong side of zero are left in; callers drop them (a row may have fewer than `top`)."""
    k = min(top, contrib.shape[1])
    rows = np.arange(contrib.shape[0])[:, None]
    sides = []
    for sign in (1, -1):
        signed = contrib * sign
        # the k largest of each row without sorting whole rows, then those k in order
        picked = (
            np.argpartition(-signed, k - 1, axis=1)[:, :k]
            if k < contrib.shape[1]
            else np.tile(np.arange(k), (contrib.shape[0], 1))
        )
        picked = np.take_along_axis(picked, np.argsort(-signed[rows, picked], axis=1, kind="stable"), axis=1)
        sides.append((picked, contrib[rows, picked]))
    return tuple(sides)


def shown_value(value):
    """A feature value as a person reads it: text as is, numbers rounded, missing as None."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return None if number != number else round(number, 4)


def reasons(
    contrib: np.ndarray,
    values: Mapping[str, np.ndarray],
    columns: list[str],
    describe: Callable[[str, object], str],
    top: int = TOP,
) -> list[dict]:
    """Per row, up to `top` reasons each way: {"positive": [...], "negative": [...]}, each reason
    {"feature", "value", "contribution", "text"}. `values` holds each feature's values by name (one per
    row); `describe(name, value)` gives the sentence a person reads."""
    n = contrib.shape[0]
    said: dict = {}  # (feature, shown value) -> its sentence, made once per request

    def text(feature: str, value) -> str:
        sentence = said.get((feature, value))
        if sentence is None:
            sentence = said[(feature, value)] = describe(feature, value)
        return sentence

    sides = []
    for (picked, raw), sign in zip(top_contributions(contrib, top), (1, -1), strict=True):
        shown = np.empty(picked.shape, dtype=object)  # each picked feature's value, as shown
        for j in np.unique(picked):
            where = picked == j
            rows = np.nonzero(where)[0]
            column = values.get(columns[j])
            shown[where] = [None] * len(rows) if column is None else [shown_value(column[i]) for i in rows]
        keep = (raw * sign >= MIN_CONTRIBUTION).tolist()
        rounded = np.round(raw, 4).tolist()
        names = [[columns[j] for j in row] for row in picked.tolist()]
        shown_rows = shown.tolist()
        sides.append(
            [
                [
                    {"feature": f, "value": v, "contribution": c, "text": text(f, v)}
                    for f, v, c, k in zip(names[i], shown_rows[i], rounded[i], keep[i], strict=True)
                    if k
                ]
                for i in range(n)
            ]
        )
    return [{"positive": up, "negative": down} for up, down in zip(*sides, strict=True)]


def _shown_many(values: np.ndarray) -> list:
    """`shown_value` of many values of one feature at once (numbers rounded in one numpy call)."""
    if values.dtype.kind in "fiub":
        rounded = np.round(values.astype(np.float64), 4).tolist()
        return [None if v != v else v for v in rounded]
    return [shown_value(v) for v in values.tolist()]


def reason_texts(
    contrib: np.ndarray,
    values: Mapping[str, np.ndarray],
    columns: list[str],
    describe: Callable[[str, object], str],
    top: int = TOP,
) -> tuple[list[str], list[str]]:
    """Per row, the top reasons up and down in plain words joined by "; " (bulk output): the same
    texts, in the same order, as the API's reasons for that row. A sentence is made once per feature and
    shown value, and only for the pushes large enough to be reasons."""
    out = []
    for (picked, raw), sign in zip(top_contributions(contrib, top), (1, -1), strict=True):
        keep = raw * sign >= MIN_CONTRIBUTION
        texts = np.full(picked.shape, None, dtype=object)
        for j in np.unique(picked[keep]):
            where = (picked == j) & keep
            rows = np.nonzero(where)[0]
            name, column = columns[j], values.get(columns[j])
            shown = [None] * len(rows) if column is None else _shown_many(np.asarray(column)[rows])
            said: dict = {}
            cells = []
            for value in shown:
                text = said.get(value)
                if text is None:
                    text = said[value] = describe(name, value)
                cells.append(text)
            texts[where] = cells
        out.append(["; ".join(t for t in row if t is not None) for row in texts.tolist()])
    return out[0], out[1]


def meanings(specs) -> Mapping[str, str]:
    """The plain meaning of each feature of a feature set, with its window where it has one."""
    return {
        s.name: f"{s.meaning} ({s.window})" if s.window not in ("as captured",) else s.meaning for s in specs
    }
