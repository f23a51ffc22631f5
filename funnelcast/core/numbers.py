"""Numbers for people: thousands separators in English, 万 / 亿 in Chinese, never `1e7`. Used by
reasons, reports, charts and the workspace."""

from __future__ import annotations

import math

SYMBOLS = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


def amount(value: float, locale: str = "en") -> str:
    """A large number as people write it: 12,345,678 (en) or 1,234.6万 / 1.23亿 (zh)."""
    if value is None or not math.isfinite(value):
        return "–"
    if locale == "zh":
        size = abs(value)
        if size >= 1e8:
            return f"{value / 1e8:,.2f}亿"
        if size >= 1e4:
            return f"{value / 1e4:,.1f}万"
        return f"{value:,.0f}"
    return f"{value:,.0f}"


def money(value: float, currency: str = "CNY", locale: str = "en") -> str:
    """An amount with its currency: ¥1,200,000 (en) or 120.0万元 (zh, CNY)."""
    if value is None or not math.isfinite(value):
        return "–"
    if locale == "zh" and currency.upper() in ("CNY", "RMB"):
        return amount(value, locale) + "元"
    symbol = SYMBOLS.get(currency.upper())
    text = amount(value, locale)
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def axis_formatter(locale: str = "en", currency: str | None = None):
    """A matplotlib tick formatter for amounts (no scientific notation, no offset)."""
    from matplotlib.ticker import FuncFormatter

    if currency:
        return FuncFormatter(lambda v, _pos: money(v, currency, locale))
    return FuncFormatter(lambda v, _pos: amount(v, locale))
