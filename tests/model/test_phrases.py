"""Reasons in plain words, in English and Chinese, for every feature of both feature sets."""

from __future__ import annotations

import re

import pytest

from funnelcast.core.numbers import amount, money
from funnelcast.features.sets import feature_set
from funnelcast.model.phrases import Phrasebook
from funnelcast.model.reasons import meanings

SAMPLES = (0.0, 1.0, 3.0, -4.0, 12.5, None)


@pytest.mark.parametrize("fset", ["lead_v1", "opportunity_v1"])
@pytest.mark.parametrize("locale", ["en", "zh"])
def test_every_feature_reads_in_plain_words(config, fset, locale):
    specs = feature_set(fset, config).specs
    book = Phrasebook(config.reasons, meanings(specs), config.leads.base_currency, locale)
    for spec in specs:
        phrase, _ = book._phrase(spec.name)
        assert phrase is not None, f"{spec.name} has no phrase in configs/reasons.yaml"
        values = ("education", None) if spec.unit == "category" else SAMPLES
        for value in values:
            text = book.say(spec.name, value)
            assert text and not re.search(r"[{}\[\]|]", text), (spec.name, value, text)
            if locale == "en" and value is not None and spec.unit != "category":
                assert not re.search(r"(?<![\d.,])1 (days|times|[a-z]+ visits|touches)\b", text), text
            assert "_" not in text and "log(" not in text and "as_of" not in text, (spec.name, text)
            if locale == "zh":
                assert re.search(r"[\u4e00-\u9fff]", text), (spec.name, text)


def test_one_reads_singular_and_more_plural(config):
    specs = feature_set("lead_v1", config).specs + feature_set("opportunity_v1", config).specs
    say = Phrasebook(config.reasons, meanings(specs), config.leads.base_currency, "en").say
    assert say("days_since_last_touch", 1.0) == "last touch 1 day ago"
    assert say("days_since_last_touch", 2.0) == "last touch 2 days ago"
    assert say("n_web_visit_7d", 1.0) == "1 website visit in the last 7 days"
    assert say("n_web_visit_7d", 12.0) == "12 website visits in the last 7 days"
    assert say("days_to_expected_close", -1.0) == "1 day past the expected close date"
    assert say("touches_30d", 1.0) == "1 touch in the last 30 days"
    zh = Phrasebook(config.reasons, meanings(specs), config.leads.base_currency, "zh").say
    assert zh("n_web_visit_7d", 1.0) == "最近7天访问网站1次"


def test_amounts_never_read_like_1e7():
    assert amount(12_345_678, "en") == "12,345,678"
    assert amount(12_345_678, "zh") == "1,234.6万" and amount(234_000_000, "zh") == "2.34亿"
    assert money(1_200_000, "CNY", "en") == "¥1,200,000" and money(1_200_000, "CNY", "zh") == "120.0万元"
    assert money(5_000, "SEK", "en") == "5,000 SEK"


def test_a_locale_setting_and_the_environment_choose_the_language(monkeypatch):
    from funnelcast.core.config import load_config

    monkeypatch.setenv("FUNNELCAST_LOCALE", "zh")
    assert load_config().reasons.locale == "zh"
    monkeypatch.setenv("FUNNELCAST_LOCALE", "fr")
    from funnelcast.core.errors import ConfigError

    with pytest.raises(ConfigError, match="locale"):
        load_config()
