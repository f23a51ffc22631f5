import numpy as np
import pandas as pd
import pytest

from funnelcast.features.bant import authority_level, rule_grade, rule_points


@pytest.mark.parametrize(
    "title, level",
    [
        ("CEO", 5),
        ("董事长", 5),
        ("总经理", 5),
        ("Managing Director", 5),
        ("Founder & CTO", 5),
        ("副总经理", 4),
        ("副总裁", 4),
        ("VP Sales", 4),
        ("Vice President, Operations", 4),
        ("IT Director", 3),
        ("Director of Finance", 3),
        ("采购总监", 3),
        ("技术总监", 3),
        ("Head of Marketing", 3),
        ("经理", 2),
        ("Sales Manager", 2),
        ("项目主管", 2),
        ("IT主管", 2),
        ("工程师", 1),
        ("Software Engineer", 1),
        ("Analyst", 1),
        ("市场助理", 1),
        ("Assistant Manager", 1),
    ],
)
def test_titles_map_to_authority_levels(config, title, level):
    got = authority_level(np.array([title], dtype=object), np.array([None], dtype=object), config.leads)
    assert got[0] == level


def test_unknown_title_stays_missing_but_decision_maker_role_counts(config):
    got = authority_level(
        np.array(["Astronaut", None], dtype=object),
        np.array([None, "decision_maker"], dtype=object),
        config.leads,
    )
    assert np.isnan(got[0]) and got[1] == 3


def test_rule_points_never_drop_when_bant_improves(config):
    weak = pd.DataFrame(
        {
            "budget_known": [0.0],
            "budget_fits": [np.nan],
            "authority_level": [1.0],
            "need_known": [0.0],
            "need_matches": [np.nan],
            "timeline_days": [400.0],
        }
    )
    strong = pd.DataFrame(
        {
            "budget_known": [1.0],
            "budget_fits": [1.0],
            "authority_level": [5.0],
            "need_known": [1.0],
            "need_matches": [1.0],
            "timeline_days": [20.0],
        }
    )
    pts = config.leads.rule_grade
    assert rule_points(strong, pts)[0] > rule_points(weak, pts)[0]
    assert rule_grade(rule_points(strong, pts), pts)[0] == "Hot"
    assert rule_grade(rule_points(weak, pts), pts)[0] == "Cold"
