"""API requests as the feature functions' inputs: the same `LeadInputs` / `DealInputs` the training and
bulk paths build from frames (funnelcast.features.frames), built here straight from the validated
request models. Times are converted, and checked against the supported range, once per request;
every bad time is a 422 naming its field."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter

import numpy as np

from funnelcast.core.errors import InvalidInput
from funnelcast.core.times import MISSING, check_datetimes, datetime_seconds, parse_instants
from funnelcast.features.behaviour import Events
from funnelcast.features.deal import Changes, DealActivities, DealInputs
from funnelcast.features.lead import LeadInputs
from funnelcast.serving.scoring.body import LeadRequest

LEAD_TEXT = (
    "industry",
    "region",
    "source",
    "product_interest",
    "contact_title",
    "contact_role",
    "need",
    "budget_currency",
    "budget_band",
    "timeline_horizon",
)


def _text(values: Sequence) -> np.ndarray:
    """Text values as the loader types them: empty text is missing (None)."""
    return np.array([None if v is None or v == "" else v for v in values], dtype=object)


def _numbers(values: Sequence) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _attr(objs: Sequence, name: str) -> list:
    return [None if o is None else getattr(o, name) for o in objs]


class _Times:
    """Converts a request's times, collecting every bad one, so that all are reported at once."""

    def __init__(self):
        self.problems: list[dict] = []

    def datetimes(self, values: Sequence, fields: Sequence[str]) -> np.ndarray:
        """UTC seconds of datetimes (None: -1); one outside the supported range is a problem."""
        self.problems += check_datetimes(list(zip(fields, values, strict=True)))
        return np.array([datetime_seconds(v) for v in values], dtype=np.int64)

    def texts(self, groups: Sequence[Sequence], path: str, get) -> tuple[np.ndarray, np.ndarray]:
        try:
            return activity_times(groups, path, get)
        except InvalidInput as exc:
            self.problems += exc.details
            owners = np.repeat(np.arange(len(groups)), [len(g) for g in groups]).astype(np.int64)
            return np.full(len(owners), MISSING, dtype=np.int64), owners

    def check(self) -> None:
        if self.problems:
            raise InvalidInput(f"{len(self.problems)} invalid time(s)", self.problems)


def activity_times(groups: Sequence[Sequence], path: str, get=attrgetter("occurred_at")
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of every activity of every group (flattened; `get(activity)` is its time text) and each
    one's group position; a bad time is a 422 naming its field (`path` formatted with the group and
    activity positions)."""
    counts = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    owners = np.repeat(np.arange(len(groups)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(groups) else counts

    def field(k: int) -> str:
        return path.format(i=int(owners[k]), j=int(k - starts[owners[k]]))

    return parse_instants([get(a) for g in groups for a in g], field), owners


_struct_time = attrgetter("occurred_at")  # a msgspec struct's (lead requests)
_dict_time = itemgetter("occurred_at")  # a typed dict's (deal requests)


@dataclass(frozen=True)
class RequestInputs:
    """Feature inputs of a request, and per record how many of its rows are dated after as_of (they
    are ignored, and said so)."""

    inputs: LeadInputs | DealInputs
    future: np.ndarray


def lead_inputs(request: LeadRequest, as_of_s: int, declarations: Sequence[dict]) -> RequestInputs:
    """Inputs of the leads of a scoring request, in request order."""
    items = request.leads
    n = len(items)
    times = _Times()
    leads = [item.lead for item in items]
    accounts = [item.account for item in items]
    columns = {name: _text(_attr(leads, name)) for name in LEAD_TEXT}
    columns["employees"] = _numbers(_attr(leads, "employees"))
    columns["budget_amount"] = _numbers(_attr(leads, "budget_amount"))
    columns["account_industry"] = _text(_attr(accounts, "industry"))
    columns["account_region"] = _text(_attr(accounts, "region"))
    columns["account_employees"] = _numbers(_attr(accounts, "employees"))
    columns["created_s"] = times.datetimes(
        _attr(leads, "created_at"), [f"leads.{i}.lead.created_at" for i in range(n)]
    )
    columns["timeline_s"] = times.datetimes(
        _attr(leads, "timeline_date"), [f"leads.{i}.lead.timeline_date" for i in range(n)]
    )
    seconds, owners = times.texts(
        [item.activities for item in items], "leads.{i}.activities.{j}.occurred_at", _struct_time
    )
    visit_seconds, visit_item = times.texts(
        [item.account_activities for item in items], "leads.{i}.account_activities.{j}.occurred_at", _struct_time
    )
    times.check()
    activities = _events(owners, seconds, [a for item in items for a in item.activities])
    # anonymous visits belong to the item's account (or the account its lead names)
    keys = [
        (item.account.account_id if item.account is not None else item.lead.account_id) or None
        for item in items
    ]
    code = {key: k for k, key in enumerate(sorted({k for k in keys if k is not None}))}
    account = np.array([code.get(key, -1) if key is not None else -1 for key in keys], dtype=np.int64)
    visits = _events(account[visit_item], visit_seconds, [a for item in items for a in item.account_activities])
    future = np.bincount(owners[seconds > as_of_s], minlength=n) + np.bincount(
        visit_item[visit_seconds > as_of_s], minlength=n
    )
    names = [d["name"] for d in declarations]
    return RequestInputs(
        LeadInputs(
            columns=columns,
            as_of_s=np.full(n, as_of_s, dtype=np.int64),
            entity=np.arange(n),
            activities=activities,
            account=account,
            account_visits=visits,
            declarations=list(declarations),
            custom={name: [lead.custom.get(name) for lead in leads] for name in names},
            account_custom={name: [a.custom.get(name) if a is not None else None for a in accounts] for name in names},
        ),
        future,
    )


def _events(codes: np.ndarray, seconds: np.ndarray, activities: list) -> Events:
    return Events(
        codes,
        seconds,
        np.array([a.type for a in activities], dtype=object),
        np.fromiter((np.nan if a.value is None else a.value for a in activities), np.float64, len(activities)),
    )


def deal_inputs(items: Sequence, as_of_s: int, declarations: Sequence[dict]) -> RequestInputs:
    """Inputs of open deals as the API receives them (`schemas.OpportunityItem`s, with their histories)."""
    n = len(items)
    times = _Times()
    opps = [item.opportunity for item in items]
    deals = {name: _text(_attr(opps, name)) for name in ("pipeline", "product", "owner", "currency")}
    deals["amount"] = _numbers(_attr(opps, "amount"))
    deals["created_s"] = times.datetimes(
        _attr(opps, "created_at"), [f"opportunities.{i}.opportunity.created_at" for i in range(n)]
    )
    deals["expected_close_s"] = times.datetimes(
        _attr(opps, "expected_close_date"),
        [f"opportunities.{i}.opportunity.expected_close_date" for i in range(n)],
    )
    # the deal's account: the item's own, else another item's with that id
    by_id = {item.account.account_id: item.account for item in items if item.account is not None}
    accounts = [
        item.account
        if item.account is not None and item.account.account_id == o.account_id
        else by_id.get(o.account_id)
        for item, o in zip(items, opps, strict=True)
    ]
    deals["industry"] = _text(_attr(accounts, "industry"))
    deals["employees"] = _numbers(_attr(accounts, "employees"))

    def history(name: str, time_field: str, value_field: str) -> tuple[Changes, np.ndarray]:
        rows = [(i, j, row) for i, item in enumerate(items) for j, row in enumerate(getattr(item, name))]
        codes = np.array([i for i, _, _ in rows], dtype=np.int64)
        seconds = times.datetimes(
            [getattr(r, time_field) for _, _, r in rows],
            [f"opportunities.{i}.{name}.{j}.{time_field}" for i, j, _ in rows],
        )
        raw = [getattr(r, value_field) for _, _, r in rows]
        if name == "stage_history":
            values = np.array(raw, dtype=object)
        elif name == "close_date_history":  # a date: its seconds
            dates = times.datetimes(raw, [f"opportunities.{i}.{name}.{j}.{value_field}" for i, j, _ in rows])
            values = np.where(dates == MISSING, np.nan, dates.astype(np.float64))
        else:
            values = _numbers(raw)
        return Changes(codes, seconds, values), codes[seconds > as_of_s]

    stages, late_stages = history("stage_history", "entered_at", "stage")
    close_dates, late_closes = history("close_date_history", "changed_at", "expected_close_date")
    amounts, late_amounts = history("amount_history", "changed_at", "amount")
    seconds, owners = times.texts(
        [item.activities for item in items], "opportunities.{i}.activities.{j}.occurred_at", _dict_time
    )
    visit_seconds, visit_item = times.texts(
        [item.account_activities for item in items],
        "opportunities.{i}.account_activities.{j}.occurred_at",
        _dict_time,
    )
    times.check()
    flat = [a for item in items for a in item.activities]
    activities = DealActivities(
        owners,
        seconds,
        np.array([a["type"] for a in flat], dtype=object),
        _text([a.get("contact_id") for a in flat]),
        _text([a.get("contact_role") for a in flat]),
    )
    keys = [o.account_id for o in opps]
    code = {key: k for k, key in enumerate(sorted(set(keys)))}
    account = np.array([code[key] for key in keys], dtype=np.int64)
    late = (owners[seconds > as_of_s], late_stages, late_closes, late_amounts, visit_item[visit_seconds > as_of_s])
    future = sum(np.bincount(rows, minlength=n) for rows in late)
    names = [d["name"] for d in declarations]
    return RequestInputs(
        DealInputs(
            deals=deals,
            entity=np.arange(n),
            as_of_s=np.full(n, as_of_s, dtype=np.int64),
            stages=stages,
            close_dates=close_dates,
            amounts=amounts,
            activities=activities,
            account=account,
            account_activities=Changes(account[visit_item], visit_seconds, np.zeros(len(visit_item))),
            declarations=list(declarations),
            custom={name: [o.custom.get(name) for o in opps] for name in names},
            account_custom={name: [a.custom.get(name) if a is not None else None for a in accounts] for name in names},
        ),
        future,
    )
