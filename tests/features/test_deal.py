"""Deal features on a small hand-made deal whose answers are known."""

import pandas as pd
import pytest

from funnelcast.features.frames import build_opportunity_features
from funnelcast.features.records import frames_from_records


@pytest.fixture()
def deal():
    return frames_from_records(
        {
            "accounts": [{"account_id": "A1", "name": "星辰", "employees": 120}],
            "opportunities": [
                {
                    "opportunity_id": "O1",
                    "account_id": "A1",
                    "owner": "王芳",
                    "pipeline": "default",
                    "product": "crm_suite",
                    "amount": 90000,
                    "currency": "CNY",
                    "created_at": "2024-01-01",
                    "outcome": "open",
                }
            ],
            "stage_history": [
                {"opportunity_id": "O1", "stage": "待沟通", "entered_at": "2024-01-01"},
                {"opportunity_id": "O1", "stage": "明确需求", "entered_at": "2024-01-11"},  # skips 发现机会
                {"opportunity_id": "O1", "stage": "发现机会", "entered_at": "2024-01-21"},  # regression
                {"opportunity_id": "O1", "stage": "购买决策", "entered_at": "2024-02-01"},  # skips 明确需求
            ],
            "close_date_history": [
                {"opportunity_id": "O1", "changed_at": "2024-01-01", "expected_close_date": "2024-02-01"},
                {
                    "opportunity_id": "O1",
                    "changed_at": "2024-01-25",
                    "expected_close_date": "2024-02-20",
                },  # +19 d
                {
                    "opportunity_id": "O1",
                    "changed_at": "2024-02-10",
                    "expected_close_date": "2024-02-15",
                },  # pulled in
            ],
            "amount_history": [
                {"opportunity_id": "O1", "changed_at": "2024-01-01", "amount": 100000},
                {"opportunity_id": "O1", "changed_at": "2024-01-30", "amount": 90000},
            ],
            "activities": [
                {
                    "activity_id": "E1",
                    "entity_type": "opportunity",
                    "entity_id": "O1",
                    "occurred_at": "2024-01-05",
                    "type": "call",
                    "contact_id": "c1",
                    "contact_role": "champion",
                },
                {
                    "activity_id": "E2",
                    "entity_type": "opportunity",
                    "entity_id": "O1",
                    "occurred_at": "2024-01-28",
                    "type": "meeting",
                    "contact_id": "c2",
                    "contact_role": "decision_maker",
                },
                {
                    "activity_id": "E3",
                    "entity_type": "opportunity",
                    "entity_id": "O1",
                    "occurred_at": "2024-02-02",
                    "type": "call",
                    "contact_id": "c1",
                    "contact_role": "champion",
                },
            ],
        }
    )


def _at(deal, config, when):
    snaps = pd.DataFrame({"opportunity_id": ["O1"], "as_of": [pd.Timestamp(when, tz="UTC")]})
    return build_opportunity_features(deal, snaps, config).iloc[0]


def test_path_signals_as_of_two_dates(deal, config):
    early = _at(deal, config, "2024-01-15")
    assert early["stage"] == "明确需求" and early["stage_index"] == 2 and early["stage_weight"] == 0.5
    assert early["days_in_stage"] == 4 and early["stage_changes"] == 1
    assert (
        early["skipped_stages"] == 1 and early["regressions"] == 0 and early["jumped_from_first_stage"] == 1
    )
    assert early["close_date_slips"] == 0 and early["days_to_expected_close"] == 17
    assert early["engaged_contacts"] == 1 and early["decision_maker_engaged"] == 0
    late = _at(deal, config, "2024-02-16")
    assert late["stage"] == "购买决策" and late["days_in_stage"] == 15
    assert late["stage_changes"] == 3 and late["regressions"] == 1 and late["skipped_stages"] == 2
    assert late["close_date_slips"] == 1 and late["close_slip_days"] == 19
    assert late["days_to_expected_close"] == -1 and late["days_overdue"] == 1
    assert late["amount_change_ratio"] == 0.9 and late["amount_changes"] == 1
    assert late["engaged_contacts"] == 2 and late["decision_maker_engaged"] == 1
    assert late["activities_30d"] == 2 and late["calls_30d"] == 1
    assert late["days_since_last_activity"] == 14
    assert late["deal_age_days"] == 46
