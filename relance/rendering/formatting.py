"""Money and dates for humans, per locale, with Babel.

Amounts arrive as integers in the currency's minor unit (Stripe's convention), so they
are scaled exactly with Decimal by the currency's own number of digits (JPY has none,
KWD three) and never pass through float.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.numbers import format_currency, get_currency_precision


def babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
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


def format_date(value: datetime | date | None, locale: str, tz: str = "UTC", fmt: str = "long") -> str:
    """The calendar date a customer in `tz` sees, e.g. `15 mars 2026`."""
    if value is None:
        return ""
    local = _localize(value, tz)
    day = local.date() if isinstance(local, datetime) else local
    return _babel_format_date(day, format=fmt, locale=babel_locale(locale))


def format_datetime(value: datetime | None, locale: str, tz: str = "UTC", fmt: str = "medium") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _babel_format_datetime(value, format=fmt, tzinfo=ZoneInfo(tz), locale=babel_locale(locale))
