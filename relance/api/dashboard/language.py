"""Which language a customer's emails go out in, as the customer page says it: the
catalog `email_locale` picks from their preferences and the account's default (the same
call the sender makes), named in its own language ("Français"), with the preferences
Relance has no catalog for."""

from __future__ import annotations

from dataclasses import dataclass

from relance.rendering.i18n import email_locale
from relance.rendering.locale_names import native_name


@dataclass(frozen=True)
class SendingLanguage:
    locale: str
    name: str
    unsupported: list[str]  # the customer's preferences, when none of them is supported
    preferences: list[tuple[str, str]]  # the customer's tags, each with its native name

    @property
    def note(self) -> str:
        """Why it is not the customer's language: "ja is not supported"; empty otherwise."""
        if not self.unsupported:
            return ""
        verb = "is" if len(self.unsupported) == 1 else "are"
        return f"{', '.join(self.unsupported)} {verb} not supported"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.note})" if self.note else self.name


def sending_language(preferred: list[str], default_locale: str) -> SendingLanguage:
    tags = [t for t in preferred if t and t.strip()]
    locale, matched = email_locale(tags, default_locale)
    unsupported = tags if tags and not matched else []
    return SendingLanguage(
        locale=locale,
        name=native_name(locale),
        unsupported=unsupported,
        preferences=[(t, native_name(t)) for t in tags],
    )
