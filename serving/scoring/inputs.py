"""API requests as the feature functions' inputs: the same `LeadInputs` / `DealInputs` the training and
bulk paths build from frames (funnelcast.features.frames), built here straight from the validated
request models. Times are converted, and checked against the supported range, once per request;
every bad time is a 422 naming its field."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from funnelcast.core.times import MISSING, parse_instants
from funnelcast.features.behaviour import Events
from funnelcast.features.deal import Changes, DealActivities, DealInputs
from funnelcast.features.lead import LeadInputs
from funnelcast.serving.scoring.body import DealRequestItem, LeadRequest

HISTORIES = {
    "stage_history": "entered_at",
    "close_date_history": "changed_at",
    "amount_history": "changed_at",
}
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
    """Every time text of a request, converted in one pass once all are known: each bad one is named,
    all at once. `add` returns a getter of that part's seconds (-1 where the text is None)."""

    def __init__(self):
        self._texts: list[str] = []
        self._parts: list[tuple[int, Callable[[int], str], list[int] | None]] = []  # start, name, present
        self._seconds = np.zeros(0, dtype=np.int64)

    def add(self, texts: Sequence[str | None], name: Callable[[int], str]) -> Callable[[], np.ndarray]:
        present = [i for i, text in enumerate(texts) if text is not None] if None in texts else None
        start, n = len(self._texts), len(texts)
        self._texts += texts if present is None else [texts[i] for i in present]
        self._parts.append((start, name, present))
        count = len(self._texts) - start

        def seconds() -> np.ndarray:
            if present is None:
                return self._seconds[start : start + count]
            out = np.full(n, MISSING, dtype=np.int64)
            out[present] = self._seconds[start : start + count]
            return out

        return seconds

    def _name(self, k: int) -> str:
        start, name, present = self._parts[bisect.bisect_right([p[0] for p in self._parts], k) - 1]
        return name(k - start if present is None else present[k - start])

    def add_groups(
        self, groups: Sequence[Sequence], path: str
    ) -> tuple[Callable[[], np.ndarray], np.ndarray]:
        """The times of every activity of every group (flattened), and each one's group position; `path`
        is formatted with the group and activity positions to name a bad one."""
        counts = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
        owners = np.repeat(np.arange(len(groups)), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(groups) else counts

        def name(k: int) -> str:
            return path.format(i=int(owners[k]), j=int(k - starts[owners[k]]))

        return self.add([a.occurred_at for g in groups for a in g], name), owners

    def resolve(self) -> None:
        """Convert every time added; a 422 naming each bad one."""
        self._seconds = parse_instants(self._texts, self._name)


def activity_times(groups: Sequence[Sequence], path: str) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of every activity of every group (flattened) and each one's group position; a bad time
    is a 422 naming its field (`path` formatted with the group and activity positions)."""
    times = _Times()
    seconds, owners = times.add_groups(groups, path)
    times.resolve()
    return seconds(), owners


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
    leads = [item.lead for item in items]
    accounts = [item.account for item in items]
    times = _Times()
    created = times.add(_attr(leads, "created_at"), "leads.{}.lead.created_at".format)
    timeline = times.add(_attr(leads, "timeline_date"), "leads.{}.lead.timeline_date".format)
    acts, owners = times.add_groups(
        [item.activities for item in items], "leads.{i}.activities.{j}.occurred_at"
    )
    visits_at, visit_item = times.add_groups(
        [item.account_activities for item in items], "leads.{i}.account_activities.{j}.occurred_at"
    )
    times.resolve()
    columns = {name: _text(_attr(leads, name)) for name in LEAD_TEXT}
    columns["employees"] = _numbers(_attr(leads, "employees"))
    columns["budget_amount"] = _numbers(_attr(leads, "budget_amount"))
    columns["account_industry"] = _text(_attr(accounts, "industry"))
    columns["account_region"] = _text(_attr(accounts, "region"))
    columns["account_employees"] = _numbers(_attr(accounts, "employees"))
    columns["created_s"], columns["timeline_s"] = created(), timeline()
    seconds, visit_seconds = acts(), visits_at()
    activities = _events(owners, seconds, [a for item in items for a in item.activities])
    # anonymous visits belong to the item's account (or the account its lead names)
    keys = [
        (item.account.account_id if item.account is not None else item.lead.account_id) or None
        for item in items
    ]
    code = {key: k for k, key in enumerate(sorted({k for k in keys if k is not None}))}
    account = np.array([code.get(key, -1) if key is not None else -1 for key in keys], dtype=np.int64)
    visits = _events(
        account[visit_item], visit_seconds, [a for item in items for a in item.account_activities]
    )
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
            account_custom={
                name: [a.custom.get(name) if a is not None else None for a in accounts] for name in names
            },
        ),
        future,
    )


def _events(codes: np.ndarray, seconds: np.ndarray, activities: list) -> Events:
    return Events(
        codes,
        seconds,
        np.array([a.type for a in activities], dtype=object),
        np.fromiter(
            (np.nan if a.value is None else a.value for a in activities), np.float64, len(activities)
        ),
    )


def deal_inputs(
    items: Sequence[DealRequestItem], as_of_s: int, declarations: Sequence[dict]
) -> RequestInputs:
    """Inputs of open deals as the API receives them, with their histories and activities."""
    n = len(items)
    opps = [item.opportunity for item in items]
    times = _Times()
    created = times.add(_attr(opps, "created_at"), "opportunities.{}.opportunity.created_at".format)
    closing = times.add(
        _attr(opps, "expected_close_date"), "opportunities.{}.opportunity.expected_close_date".format
    )
    rows, at = {}, {}
    for name, time_field in HISTORIES.items():
        rows[name] = [
            (i, j, row) for i, item in enumerate(items) for j, row in enumerate(getattr(item, name))
        ]
        at[name] = times.add(
            [getattr(r, time_field) for _, _, r in rows[name]],
            lambda k, name=name, field=time_field: (
                f"opportunities.{rows[name][k][0]}.{name}.{rows[name][k][1]}.{field}"
            ),
        )
    new_close = times.add(
        [r.expected_close_date for _, _, r in rows["close_date_history"]],
        lambda k: "opportunities.{}.close_date_history.{}.expected_close_date".format(
            *rows["close_date_history"][k][:2]
        ),
    )
    acts, owners = times.add_groups(
        [item.activities for item in items], "opportunities.{i}.activities.{j}.occurred_at"
    )
    visits_at, visit_item = times.add_groups(
        [item.account_activities for item in items], "opportunities.{i}.account_activities.{j}.occurred_at"
    )
    times.resolve()
    deals = {name: _text(_attr(opps, name)) for name in ("pipeline", "product", "owner", "currency")}
    deals["amount"] = _numbers(_attr(opps, "amount"))
    deals["created_s"], deals["expected_close_s"] = created(), closing()
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
    codes = {name: np.array([i for i, _, _ in rows[name]], dtype=np.int64) for name in HISTORIES}
    seconds = {name: at[name]() for name in HISTORIES}
    new_dates = new_close()
    stages = Changes(
        codes["stage_history"],
        seconds["stage_history"],
        np.array([r.stage for _, _, r in rows["stage_history"]], dtype=object),
    )
    close_dates = Changes(
        codes["close_date_history"],
        seconds["close_date_history"],
        np.where(new_dates == MISSING, np.nan, new_dates.astype(np.float64)),
    )
    amounts = Changes(
        codes["amount_history"],
        seconds["amount_history"],
        _numbers([r.amount for _, _, r in rows["amount_history"]]),
    )
    act_seconds, visit_seconds = acts(), visits_at()
    flat = [a for item in items for a in item.activities]
    activities = DealActivities(
        owners,
        act_seconds,
        np.array([a.type for a in flat], dtype=object),
        _text([a.contact_id for a in flat]),
        _text([a.contact_role for a in flat]),
    )
    keys = [o.account_id for o in opps]
    code = {key: k for k, key in enumerate(sorted(set(keys)))}
    account = np.array([code[key] for key in keys], dtype=np.int64)
    late = [owners[act_seconds > as_of_s], visit_item[visit_seconds > as_of_s]]
    late += [codes[name][seconds[name] > as_of_s] for name in HISTORIES]
    future = sum(np.bincount(rows_, minlength=n) for rows_ in late)
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
            account_custom={
                name: [a.custom.get(name) if a is not None else None for a in accounts] for name in names
            },
        ),
        future,
    )
