"""Reasons in plain words: a feature's value as a sentence a sales rep reads ("visited the website 12
times in the last 7 days", "最近7天访问网站12次"), from the phrases of configs/reasons.yaml in the
configured locale. A feature without a phrase reads "<meaning>: <value>"."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from funnelcast.core.config import AppConfig, Phrase, ReasonsConfig
from funnelcast.core.numbers import amount, money

UNKNOWN = {"en": "{meaning}: unknown", "zh": "{meaning}：未知"}


class Phrasebook:
    """`say(feature, value)` in one locale. Built once per configuration and feature set."""

    def __init__(
        self, reasons: ReasonsConfig, meanings: Mapping[str, str], currency: str, locale: str | None = None
    ):
        self.locale = locale or reasons.locale
        self.reasons, self.meanings, self.currency = reasons, dict(meanings), currency
        self.families = [(re.compile(f.match), f) for f in reasons.families]
        self._cache: dict[str, tuple[Phrase | None, dict]] = {}
        self._meanings: dict[str, str] = {}

    def _phrase(self, feature: str) -> tuple[Phrase | None, dict]:
        found = self._cache.get(feature)
        if found is None:
            found = (self.reasons.phrases.get(feature), {})
            if found[0] is None:
                for pattern, family in self.families:
                    m = pattern.match(feature)
                    if m:
                        groups = m.groupdict()
                        if "type" in groups:
                            label = self.reasons.activity_types.get(groups["type"])
                            groups["type"] = (
                                getattr(label, self.locale) if label else groups["type"].replace("_", " ")
                            )
                        found = (family, groups)
                        break
            self._cache[feature] = found
        return found

    def _said(self, said) -> str:
        return getattr(said, self.locale)

    def say(self, feature: str, value) -> str:
        phrase, groups = self._phrase(feature)
        meaning = self._meanings.get(feature)
        if meaning is None:  # without its window
            meaning = self._meanings[feature] = re.sub(
                r" \([^)]*\)$", "", self.meanings.get(feature, feature)
            )
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if phrase is None:
            shown = "未知" if self.locale == "zh" and missing else ("unknown" if missing else value)
            return f"{meaning}：{shown}" if self.locale == "zh" else f"{meaning}: {shown}"
        template = getattr(phrase, self.locale)
        if missing:
            if phrase.unknown:
                return self._said(phrase.unknown)
            if template:  # the sentence with a question mark for the value it lacks
                return _number(re.sub(r"\{(?!type\}|w\})[a-z]+\}", "?", template).format(**groups), False)
            return UNKNOWN[self.locale].format(meaning=meaning)
        kind = phrase.kind
        if kind == "category":
            return template.format(v=value, **groups)
        x = float(value)
        if kind == "flag":
            return self._said(phrase.is_1 if x >= 0.5 else phrase.is_0)
        if kind == "levels":
            levels = phrase.levels
            return self._said(levels[min(max(int(round(x)) - 1, 0), len(levels) - 1)])
        if kind == "signed":
            return self._said(phrase.up if x > 0.05 else phrase.down if x < -0.05 else phrase.flat)
        if kind == "until":
            days = int(round(abs(x)))
            return _number(self._said(phrase.ahead if x >= 0 else phrase.past).format(d=days), days == 1)
        if kind == "days":
            days = int(round(x))
            if days == 0 and phrase.zero:
                return self._said(phrase.zero)
            return _number(template.format(d=days, **groups), days == 1)
        if kind == "count":
            n = f"{x + phrase.offset:,.0f}"
            return _number(template.format(n=n, **groups), n == "1")
        if kind == "count_log":
            n = amount(math.expm1(x), self.locale)
            return _number(template.format(n=n, **groups), n == "1")
        if kind == "money_log":
            return template.format(money=money(math.expm1(x), self.currency, self.locale), **groups)
        if kind == "minutes":
            n = f"{x / 60:,.0f}"
            return _number(template.format(n=n, **groups), n == "1")
        if kind == "percent":
            return template.format(p=f"{x:.0%}", **groups)
        return template.format(x=f"{x:,.1f}", **groups)  # ratio


_CHOICE = re.compile(r"\[([^|\]]*)\|([^\]]*)\]")


def _number(text: str, one: bool) -> str:
    """`[singular|plural]` in a sentence, chosen by whether its number is one ("last touch 1 day
    ago", "3 website visits")."""
    if "[" not in text:
        return text
    return _CHOICE.sub(lambda m: m.group(1) if one else m.group(2), text)


def phrasebook(
    config: AppConfig, meanings: Mapping[str, str], locale: str | None = None
) -> Callable[[str, object], str]:
    """`say(feature, value)` for this configuration (its locale unless one is given)."""
    return Phrasebook(config.reasons, meanings, config.leads.base_currency, locale).say
