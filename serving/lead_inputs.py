"""A lead scoring request as feature inputs: times converted (and checked) once for the whole
request, then lead_v1 feature rows. A few leads go one by one through the single-lead path; larger
requests through the batch behaviour definition over all their activities together. Both equal the batch pipeline on the same records (tests/features/test_lead_row.py)."""

from __future__ import annotations

from operator import attrgetter

import numpy as np
import pandas as pd

from features.lead_row import Activity, ActivityArrays, LeadRowFeatures
from serving.instants import activity_seconds
from serving.lead_body import LeadRequest

NAN = float("nan")
OCCURRED_AT = attrgetter("occurred_at")
BATCH_LEADS = 16  # from this many leads the behaviour features take the array path


class LeadInputs:
    """Everything the lead features need from one request, as of one time."""

    def __init__(self, request: LeadRequest, features: LeadRowFeatures, as_of: pd.Timestamp):
        self.features = features
        self.as_of_s = int(as_of.timestamp())
        items = self.items = request.leads
        self.act_seconds, self.act_owner = activity_seconds([item.activities for item in items],
                                                            "leads.{i}.activities.{j}.occurred_at", OCCURRED_AT)
        self.act_start = np.searchsorted(self.act_owner, np.arange(len(items) + 1))
        visit_seconds, visit_item = activity_seconds([item.account_activities for item in items],
                                                     "leads.{i}.account_activities.{j}.occurred_at", OCCURRED_AT)
        #: per lead, its activities dated after as_of (ignored; reported as a warning)
        self.future = np.bincount(self.act_owner[self.act_seconds > self.as_of_s], minlength=len(items))
        # shallow copies of the validated models' field values (their only nested value, `custom`, is
        # read, never changed); copying __dict__ is ~10x cheaper than iterating the model
        accounts = {item.account.account_id: dict(item.account.__dict__) for item in items if item.account is not None}
        self.leads = [dict(item.lead.__dict__) for item in items]
        self.accounts = [accounts.get(lead["account_id"]) if lead["account_id"] is not None else None
                         for lead in self.leads]
        # anonymous visits belong to the item's account (or the account its lead names); a lead
        # counts them when its account is in the request
        owners = [(item.account.account_id if item.account else item.lead.account_id) or "" for item in items]
        code = {name: i for i, name in enumerate(sorted(set(owners)))}
        self.visits = ActivityArrays(np.array([code[owners[i]] for i in visit_item], dtype=np.int64), visit_seconds,
                                     np.zeros(0), np.zeros(0))
        self.lead_account = np.array([code.get(lead["account_id"], -1) if account is not None else -1
                                      for lead, account in zip(self.leads, self.accounts, strict=True)],
                                     dtype=np.int64)

    def rows(self) -> list[dict]:
        """lead_v1 features of every lead, one dict each, in request order."""
        flat = [a for item in self.items for a in item.activities]
        if len(self.items) >= BATCH_LEADS:
            values = np.fromiter((NAN if (v := a.value) is None else v for a in flat), np.float64, len(flat))
            types = np.array([a.type for a in flat], dtype=object)
            activities = ActivityArrays(self.act_owner, self.act_seconds, types, values)
            return self.features.rows(self.leads, self.accounts, activities, self.visits, self.lead_account,
                                      self.as_of_s)
        out = []
        for i, (lo, hi) in enumerate(zip(self.act_start[:-1].tolist(), self.act_start[1:].tolist(), strict=True)):
            own = [Activity(s, a.type, a.value)
                   for s, a in zip(self.act_seconds[lo:hi].tolist(), flat[lo:hi], strict=True)]
            code = self.lead_account[i]
            visits = self.visits.seconds[self.visits.codes == code].tolist() if code >= 0 else []
            out.append(self.features.row(self.leads[i], self.accounts[i], own, visits, self.as_of_s))
        return out
