"""Which language a customer's emails go out in, as the customer page says it: the
locale `resolve_locale` picks from their preferences and the account's default, named
in its own language ("Français"), with the preferences Relance has no catalog for."""

from __future__ import annotations

from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from relance.rendering.i18n import SOURCE_LOCALE, resolve_locale


@dataclass(frozen=True)
class SendingLanguage:
    locale: str
    name: str
    unsupported: list[str]  # the customer's preferences, when none of them is supported

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


def _native_name(locale: str) -> str:
    try:
        name = Locale.parse(locale).get_display_name(locale) or locale
    except (ValueError, UnknownLocaleError):
        return locale
    return name[:1].upper() + name[1:]


def _supported(tag: str) -> bool:
    # resolve_locale answers the source language for a tag it cannot match, so a tag that
    # asks for the source language itself is told apart by its language subtag.
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return resolve_locale([tag]) != SOURCE_LOCALE or language == SOURCE_LOCALE.split("_")[0]


def sending_language(preferred: list[str], default_locale: str) -> SendingLanguage:
    tags = [t for t in preferred if t and t.strip()]
    locale = resolve_locale(tags, default_locale)
    unsupported = tags if tags and not any(_supported(t) for t in tags) else []
    return SendingLanguage(locale=locale, name=_native_name(locale), unsupported=unsupported)
