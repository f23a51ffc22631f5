"""The MLflow pyfunc: the API's records in, the API's fields out, so `mlflow models serve`,
`mlflow.pyfunc.load_model` and `mlflow.pyfunc.spark_udf` score like the Funnelcast API.

Input: one row per lead (deal), with the columns of one item of `POST /v1/leads/score`
(`POST /v1/opportunities/score`): `lead` (`opportunity`) an object, `activities`, `account`,
`account_activities` (and for deals `stage_history`, `close_date_history`, `amount_history`) as objects
and lists of objects, or as JSON text of them; and an optional `as_of` (ISO 8601; default: now).
Output: the columns bulk scoring writes (probability, score, grade, BANT rule grade, stale, reasons
in words for leads; P(won) per horizon, stage weight and rate, health for deals) plus `reasons`, the
API's reasons as JSON text, and `problems`: empty when the row was scored, else every problem of that
row's records (file, row, field, rule), in which case its scores are empty. A bad row never stops the
others, and nothing raises a stack trace at the caller.
"""

from __future__ import annotations

import json

import mlflow.pyfunc
import numpy as np
import pandas as pd

from funnelcast.features.errors import DataValidationError

ITEM = {  # item column -> (entity, how its rows attach to the item's main record)
    "lead": {
        "lead": ("leads", None),
        "activities": ("activities", "lead"),
        "account": ("accounts", None),
        "account_activities": ("activities", "account"),
    },
    "opportunity": {
        "opportunity": ("opportunities", None),
        "stage_history": ("stage_history", "deal"),
        "close_date_history": ("close_date_history", "deal"),
        "amount_history": ("amount_history", "deal"),
        "activities": ("activities", "opportunity"),
        "account": ("accounts", None),
        "account_activities": ("activities", "account"),
    },
}
MAIN = {"lead": ("lead", "lead_id"), "opportunity": ("opportunity", "opportunity_id")}
ITEM_NAME = {"leads": "lead", "opportunities": "opportunity", "accounts": "account"}  # in problems
ID_OF = {"activities": "activity_id", "stage_history": "stage", "close_date_history": "changed_at"}


def input_columns(kind: str) -> list[str]:
    return [*ITEM[kind], "as_of"]


def _plain(value):
    """A cell as Python objects: JSON text parsed; numpy arrays (Spark arrays) as lists; Spark rows as
    dicts; null fields left out (a struct of nulls, as a Spark left join gives, is no object)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        return json.loads(value)
    if hasattr(value, "asDict"):  # a Spark Row (a struct read back by Spark)
        value = value.asDict()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):  # fields left out or null are the same; an object of nulls is none
        fields = {
            k: _plain(v) if isinstance(v, dict | list | np.ndarray) or hasattr(v, "asDict") else _scalar(v)
            for k, v in value.items()
        }
        fields = {k: v for k, v in fields.items() if v is not None}
        return fields or None
    return _scalar(value)


def _scalar(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _records(
    rows: pd.DataFrame, kind: str
) -> tuple[dict[str, list[dict]], dict[str, list[int]], list[list[str]]]:
    """Records by entity from item rows, which item each record came from, and problems found while
    reading the cells (a cell that is not JSON, a main record that is not an object)."""
    main_col, key = MAIN[kind]
    records: dict[str, list[dict]] = {}
    owner: dict[str, list[int]] = {}
    seen: dict[str, set] = {"accounts": set(), "activities": set()}  # rows of a batch may share them
    problems: list[list[str]] = [[] for _ in range(len(rows))]
    for i in range(len(rows)):
        cells = {}
        for col in ITEM[kind]:
            try:
                cells[col] = _plain(rows[col].iat[i]) if col in rows.columns else None
            except ValueError as exc:
                problems[i].append(f"{col}: not JSON ({exc})")
        main = cells.get(main_col)
        if not isinstance(main, dict):
            problems[i].append(f"{main_col}: an object is required")
            continue
        if problems[i]:
            continue
        main = {k: v for k, v in main.items() if v is not None}
        account = cells.get("account") if isinstance(cells.get("account"), dict) else None
        if account is not None and not main.get("account_id"):
            main["account_id"] = account.get("account_id")
        if kind == "opportunity":  # a deal being scored is open, whatever the caller sent
            main.update(outcome="open", closed_at=None, loss_reason=None)
        ident, account_id = main.get(key), main.get("account_id")
        attach = {
            None: {},
            "lead": {"entity_type": "lead", "entity_id": ident},
            "opportunity": {"entity_type": "opportunity", "entity_id": ident},
            "account": {"entity_type": "account", "entity_id": account_id},
            "deal": {"opportunity_id": ident},
        }
        for col, (entity, how) in ITEM[kind].items():
            value = main if col == main_col else cells.get(col)
            items = value if isinstance(value, list) else [] if value is None else [value]
            for item in items:
                if not isinstance(item, dict):
                    problems[i].append(f"{col}: each entry must be an object")
                    continue
                shared = {"accounts": "account_id", "activities": "activity_id"}.get(entity)
                if shared and item.get(shared) is not None:
                    if item[shared] in seen[entity]:
                        continue
                    seen[entity].add(item[shared])
                records.setdefault(entity, []).append({**item, **attach[how]})
                owner.setdefault(entity, []).append(i)
    return records, owner, problems


def _read(rows: pd.DataFrame, kind: str):
    """Typed CRM frames of the rows that are readable, and every problem of the others, per row."""
    from funnelcast.features.records import frames_from_records

    records, owner, problems = _records(rows, kind)
    good = [not p for p in problems]
    keep = {e: [r for r, i in zip(rs, owner[e], strict=True) if good[i]] for e, rs in records.items()}
    try:
        return frames_from_records(keep, source="input"), problems
    except DataValidationError as exc:
        index = {e: [i for i in owner[e] if good[i]] for e in keep}
        for p in exc.problems:
            entity = p.file.removeprefix("input.")
            where = ITEM_NAME.get(entity, entity)
            record = (
                keep.get(entity, [])[p.row] if p.row is not None and p.row < len(keep.get(entity, [])) else {}
            )
            named = ID_OF.get(entity)
            if named and record.get(named) is not None:
                where += f" {named} {record[named]}"
            text = f"{where}{', ' + p.column if p.column else ''}: {p.message} [{p.rule}]"
            hit = (
                [index[p.file.removeprefix("input.")][p.row]]
                if p.row is not None and p.file.removeprefix("input.") in index
                else [i for i, g in enumerate(good) if g]
            )
            for i in hit:
                problems[i].append(text)
    good = [not p for p in problems]
    keep = {e: [r for r, i in zip(rs, owner[e], strict=True) if good[i]] for e, rs in records.items()}
    return frames_from_records(keep, source="input"), problems


def score_rows(bundle, rows: pd.DataFrame, config) -> pd.DataFrame:
    """Score pyfunc input rows with a ModelBundle: one output row per input row, in order."""
    from funnelcast.features.frames import build_lead_features, build_opportunity_features
    from funnelcast.features.history import Rates
    from funnelcast.model.table import score_table

    rows = rows.reset_index(drop=True)
    data, problems = _read(rows, bundle.kind)
    main_col, key = MAIN[bundle.kind]
    now = pd.Timestamp.now(tz="UTC").floor("s")
    raw_as_of = rows["as_of"] if "as_of" in rows.columns else pd.Series([None] * len(rows))
    as_of = pd.to_datetime(
        raw_as_of.astype(object).where(raw_as_of.notna(), None), utc=True, errors="coerce", format="ISO8601"
    )
    for i in np.flatnonzero(raw_as_of.notna().to_numpy() & as_of.isna().to_numpy()):
        problems[i].append(f"as_of: unparseable timestamp {raw_as_of.iat[i]!r} (expected ISO 8601)")
    ok = np.array([not p for p in problems])
    ids = [(_plain(rows[main_col].iat[i]) or {}).get(key) if ok[i] else None for i in range(len(rows))]
    picked = np.flatnonzero(ok)
    snaps = pd.DataFrame(
        {key: [ids[i] for i in picked], "as_of": as_of.fillna(now).iloc[picked].reset_index(drop=True)}
    )
    columns = output_columns(bundle)
    out = pd.DataFrame({c: pd.Series([None] * len(rows), dtype=object) for c in columns})
    if len(snaps):
        if bundle.kind == "lead":
            feats = build_lead_features(data, snaps, config)
        else:
            feats = build_opportunity_features(data, snaps, config, rates=Rates.from_dict(bundle.rates))
        scored = score_table(bundle, bundle.kind, config, snaps, feats, structured=True)
        out = scored.reindex(columns=columns).iloc[np.cumsum(ok) - 1].reset_index(drop=True)
        if not ok.all():  # a row that could not be scored has empty scores (null in JSON, not NaN)
            out = out.astype(object)
            out.loc[~ok, [c for c in columns if c != key]] = None
    given = rows[main_col] if main_col in rows.columns else pd.Series([None] * len(rows))
    out[key] = [ids[i] if ok[i] else _id_of(given.iat[i], key) for i in range(len(rows))]
    out["problems"] = ["; ".join(p) for p in problems]
    return out


def output_columns(bundle) -> list[str]:
    """The pyfunc's columns (before `problems`), the same for every batch, whatever it holds."""
    from funnelcast.model.table import table_columns

    return [c for c in table_columns(bundle.kind, bundle) if c != "model_version"] + ["reasons"]


def _id_of(cell, key: str):
    try:
        value = _plain(cell)
    except ValueError:
        return None
    return value.get(key) if isinstance(value, dict) else None


class FunnelcastPyfunc(mlflow.pyfunc.PythonModel):
    """Loads the bundle and the configuration shipped beside it (docs/training.md: what is pickled)."""

    def load_context(self, context) -> None:
        import joblib

        from funnelcast.core.config import load_config

        self.bundle = joblib.load(context.artifacts["bundle"])
        self.config = load_config(context.artifacts["configs"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return score_rows(self.bundle, model_input, self.config)
