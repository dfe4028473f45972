"""Money and dates for humans, per locale, with Babel.

Amounts arrive as integers in the currency's minor unit (Stripe's convention), so they
are scaled exactly with Decimal by the currency's own number of digits (JPY has none,
KWD three) and never pass through float.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import get_date_format
from babel.numbers import format_currency, get_currency_precision
from babel.numbers import format_decimal as _babel_format_decimal
from babel.numbers import format_percent as _babel_format_percent
from babel.numbers import get_currency_name as _babel_currency_name


def babel_locale(locale: str) -> Locale:
    """Babel's locale for a tag, dropping subtags CLDR has no data for (`fr-US` formats
    as `fr`), English when the language itself is unknown."""
    parts = locale.strip().replace("-", "_").split("_")
    while parts:
        try:
            return Locale.parse("_".join(parts))
        except (UnknownLocaleError, ValueError):
            parts.pop()
    return Locale.parse("en")


def minor_to_decimal(amount: int, currency: str) -> Decimal:
    digits = get_currency_precision(currency.upper())
    return Decimal(amount).scaleb(-digits)


def format_money(amount: int, currency: str, locale: str) -> str:
    """`1234_50, "eur", "fr"` -> `1 234,50 €` (with the narrow no-break spaces Babel uses)."""
    code = currency.upper()
    return format_currency(minor_to_decimal(amount, code), code, locale=babel_locale(locale), currency_digits=True)


def _localize(value: datetime | date, tz: str) -> datetime | date:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(ZoneInfo(tz))
    return value


# The first day of a month is written as an ordinal where the language wants it:
# "1er avril 2027", "1º de abril de 2027", "1º aprile 2027". Babel's patterns write the
# cardinal, so the day field gets the suffix as a quoted literal.
FIRST_DAY_SUFFIX = {"fr": "er", "it": "º", "pt_BR": "º"}
# A pattern's quoted literals ('de') and its fields; only a lone "d" is the day number.
_PATTERN_PART = re.compile(r"('(?:[^']|'')*')")
_LONE_DAY = re.compile(r"(?<!d)d(?!d)")
# Babel's named formats that spell the month out (short is numeric: 01/04/2027).
_NAMED_FORMATS: dict[str, Literal["full", "long", "medium"]] = {"full": "full", "long": "long", "medium": "medium"}


def _first_day_pattern(pattern: str, suffix: str) -> str:
    parts = _PATTERN_PART.split(pattern)
    return "".join(part if i % 2 else _LONE_DAY.sub(f"d'{suffix}'", part) for i, part in enumerate(parts))


def format_date(value: datetime | date | None, locale: str, tz: str = "UTC", fmt: str = "long") -> str:
    """The calendar date a customer in `tz` sees, e.g. `15 mars 2026`, `1er avril 2027`."""
    if value is None:
        return ""
    local = _localize(value, tz)
    day = local.date() if isinstance(local, datetime) else local
    loc = babel_locale(locale)
    suffix = FIRST_DAY_SUFFIX.get(str(loc)) or FIRST_DAY_SUFFIX.get(loc.language)
    if day.day == 1 and suffix and fmt in _NAMED_FORMATS:
        pattern = _first_day_pattern(get_date_format(_NAMED_FORMATS[fmt], locale=loc).pattern, suffix)
        return _babel_format_date(day, format=pattern, locale=loc)
    return _babel_format_date(day, format=fmt, locale=loc)


def format_datetime(value: datetime | None, locale: str, tz: str = "UTC", fmt: str = "medium") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _babel_format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=babel_locale(locale))


def format_unit_money(amount: Decimal, currency: str, locale: str) -> str:
    """A unit price in minor units that may be finer than the currency's digits
    (Stripe's unit_amount_decimal "0.125" cents): at least the currency's digits, and
    every further digit it has, never rounded: `Decimal("1234.5"), "eur"` -> `12,345 €`."""
    code = currency.upper()
    value = amount.scaleb(-get_currency_precision(code))
    return format_currency(value, code, locale=babel_locale(locale), currency_digits=True, decimal_quantization=False)


def format_percent(value: Decimal, locale: str) -> str:
    """`Decimal("19.6")` -> `19,6 %` (fr), `19.6%` (en): CLDR's percent sign and spacing."""
    return _babel_format_percent(value / 100, locale=babel_locale(locale), decimal_quantization=False)


def format_quantity(value: Decimal | int, locale: str) -> str:
    return _babel_format_decimal(value, locale=babel_locale(locale), decimal_quantization=False)


def country_name(code: str | None, locale: str) -> str:
    """`"DE"` -> `Allemagne` (fr); an unknown code stays as given."""
    if not code:
        return ""
    return babel_locale(locale).territories.get(code.upper(), code)


def currency_name(code: str, locale: str) -> str:
    """`"eur"` -> `euro` (fr), `Euro` (de)."""
    return _babel_currency_name(code.upper(), locale=babel_locale(locale))
