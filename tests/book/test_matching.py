"""Duplicate leads (撞单): the keys, and the detection measured on generated data with planted pairs
(the same company written differently, the same email domain, the same phone in another format)."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from funnelcast.book import tables as t
from funnelcast.book.db import engine_for, migrate
from funnelcast.book.load import bulk_insert
from funnelcast.book.matching import company_key, email_domain, phone_key
from funnelcast.features.io import load_crm_data


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("星辰科技有限公司", "星辰科技（中国）有限公司"),
        ("星辰科技有限公司", "星辰科技集团"),
        ("Acme Analytics Ltd", "ＡＣＭＥ  analytics Co., Ltd."),
        ("Globex数据股份有限公司", " GLOBEX数据 Inc "),
        ("Initech GmbH", "initech"),
    ],
)
def test_one_company_however_it_is_written(one, other):
    assert company_key(one) == company_key(other) is not None


def test_different_companies_stay_apart():
    assert company_key("星辰科技有限公司") != company_key("星辰数据有限公司")
    assert company_key("有限公司") is None  # a legal form alone names no company


def test_free_mail_says_nothing_and_phones_lose_their_country_code():
    assert email_domain("Li.Na@XingChen.com.cn") == "xingchen.com.cn"
    assert email_domain("li.na@qq.com") is None and email_domain("no-at-sign") is None
    assert {phone_key(p) for p in ("+86 138-1234-5678", "(0086) 138 1234 5678", "86-13812345678")} == {
        "13812345678"
    }


def test_planted_duplicates_are_found_with_few_false_matches(data_dir, synthetic, config, tmp_path):
    """Acceptance (issue 16): >= 95 % of the planted pairs found, < 2 % of the flagged lead pairs
    between different companies."""
    data, _ = load_crm_data(data_dir, config.funnel)
    engine = engine_for(f"sqlite:///{tmp_path / 'book.db'}")
    migrate(engine)
    bulk_insert(engine, data)
    with engine.connect() as conn:
        found = pd.DataFrame(conn.execute(select(t.duplicates)).mappings().all())
    truth = synthetic.ground_truth["duplicates"]
    company = synthetic.ground_truth["lead_companies"].set_index("lead_id")["company_id"]
    leads = data.leads.set_index("lead_id")
    open_ = leads["converted_at"].isna() & leads["disqualified_at"].isna()
    planted = truth[truth["lead_id"].map(open_) & truth["duplicate_of"].map(open_)]
    pairs = set(zip(found["lead_id"], found["other_id"], strict=True))
    recall = sum((a, b) in pairs for a, b in zip(planted["lead_id"], planted["duplicate_of"], strict=True))
    assert len(planted) > 100
    assert recall / len(planted) >= 0.95, recall / len(planted)
    lead_pairs = found[found["other_entity"] == "lead"]
    wrong = (lead_pairs["lead_id"].map(company) != lead_pairs["other_id"].map(company)).mean()
    assert wrong < 0.02, wrong
    accounts = found[found["other_entity"] == "account"]
    assert len(accounts) and (accounts["lead_id"].map(company) == accounts["other_id"]).mean() > 0.98
